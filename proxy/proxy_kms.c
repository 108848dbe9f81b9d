/* SPDX-License-Identifier: Apache-2.0 */
/* The key provider registry built from the S3SEAL_KMS_PROVIDER, S3SEAL_KEY_FILE and S3SEAL_PKCS11_* settings. */
#include "proxy/proxy_kms.h"

#include <stdbool.h>
#include <string.h>

#include "core/core_log.h"
#include "kms/kms_keyfile.h"
#include "kms/kms_pkcs11.h"
#include "kms/kms_registry.h"

static enum core_err add_keyfile(struct kms_provider *registry, const char *path, bool active, char *err,
                                 size_t err_cap)
{
    struct kms_provider *keyfile = NULL;

    CORE_TRY(kms_keyfile_load(path, &keyfile, err, err_cap));
    return kms_registry_add(registry, keyfile, active);
}

static enum core_err add_pkcs11(struct kms_provider *registry, const struct proxy_config *cfg, char *err,
                                size_t err_cap)
{
    const struct kms_pkcs11_settings settings = {
        .module_path = cfg->pkcs11_module,
        .token_label = cfg->pkcs11_token_label,
        .pin_file = cfg->pkcs11_pin_file,
        .pin = cfg->pkcs11_pin,
        .key_label = cfg->pkcs11_key_label,
        .mechanism = cfg->pkcs11_mechanism,
    };
    struct kms_provider *pkcs11 = NULL;

    CORE_TRY(kms_pkcs11_load(&settings, &pkcs11, err, err_cap));
    return kms_registry_add(registry, pkcs11, true);
}

/* Wraps a test key under every key the policy names, so a typo stops start-up instead of failing uploads. */
static enum core_err check_key_policy(const struct proxy_config *cfg, struct kms_provider *kms, char *err,
                                      size_t err_cap)
{
    static const uint8_t context[] = "s3seal key policy check";
    uint8_t dek[KMS_DEK_LEN] = {0};
    uint8_t wrapped[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    size_t wrapped_len = 0;

    for (size_t i = 0; i < cfg->key_rule_count; i++) {
        const struct proxy_key_rule *rule = &cfg->key_rules[i];
        enum core_err rc = kms_wrap_with(kms, rule->key_ref, dek, context, sizeof(context) - 1, wrapped,
                                         sizeof(wrapped), &wrapped_len, kms_id, sizeof(kms_id));

        if (rc != CORE_OK) {
            snprintf(err, err_cap,
                     "S3SEAL_KEY_POLICY: %s=%s cannot wrap data keys (%s); the provider must be configured "
                     "and have that key",
                     rule->prefix, rule->key_ref, core_err_str(rc));
            return CORE_CONFIG;
        }
    }
    return CORE_OK;
}

enum core_err proxy_kms_load(const struct proxy_config *cfg, struct kms_provider **out, char *err, size_t err_cap)
{
    struct kms_provider *registry = NULL;
    bool use_pkcs11 = cfg->kms_provider != NULL && strcmp(cfg->kms_provider, "pkcs11") == 0;
    const char *unwrap = "file";
    enum core_err rc;

    *out = NULL;
    rc = kms_registry_new(&registry);
    if (rc != CORE_OK) {
        snprintf(err, err_cap, "failed to set up the key provider registry: %s", core_err_str(rc));
        goto out;
    }

    if (cfg->key_file != NULL) {
        rc = add_keyfile(registry, cfg->key_file, !use_pkcs11, err, err_cap);
        if (rc != CORE_OK) {
            goto out;
        }
    }
    if (use_pkcs11) {
        rc = add_pkcs11(registry, cfg, err, err_cap);
        if (rc != CORE_OK) {
            goto out;
        }
    }
    if (cfg->key_file == NULL && !use_pkcs11) {
        snprintf(err, err_cap, "missing setting S3SEAL_KEY_FILE: the file key provider needs a key file made by "
                 "s3seal keygen");
        rc = CORE_CONFIG;
        goto out;
    }

    if (use_pkcs11 && cfg->key_file != NULL) {
        unwrap = "file,p11";
    } else if (use_pkcs11) {
        unwrap = "p11";
    }
    rc = check_key_policy(cfg, registry, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    core_log(CORE_LOG_NOTICE, "kms", "key providers ready wrap=%s unwrap=%s", use_pkcs11 ? "p11" : "file", unwrap);
    *out = registry;
    registry = NULL;

out:
    kms_provider_free(registry);
    return rc;
}
