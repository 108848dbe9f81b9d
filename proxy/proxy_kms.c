/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key provider registry built from the S3SEAL_KMS_PROVIDER, S3SEAL_KEY_FILE, S3SEAL_PKCS11_* and
 * S3SEAL_AWSKMS_* settings.
 */
#include "proxy/proxy_kms.h"

#include <stdbool.h>
#include <string.h>

#include "core/core_log.h"
#include "kms/kms_awskms.h"
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

static enum core_err add_awskms(struct kms_provider *registry, const struct proxy_config *cfg, char *err,
                                size_t err_cap)
{
    const struct kms_awskms_settings settings = {
        .endpoint = cfg->awskms_endpoint,
        .region = cfg->awskms_region,
        .key_id = cfg->awskms_key_id,
        .access_key_id = cfg->awskms_access_key_id,
        .secret_access_key = cfg->awskms_secret_access_key,
        .session_token = cfg->awskms_session_token,
        .ca_file = cfg->awskms_ca_file,
        .timeout_ms = cfg->awskms_timeout_ms,
    };
    struct kms_provider *awskms = NULL;

    CORE_TRY(kms_awskms_load(&settings, &awskms, err, err_cap));
    return kms_registry_add(registry, awskms, true);
}

/* Returns the kms_id prefix of the provider that S3SEAL_KMS_PROVIDER names, or NULL for the key file. */
static const char *network_provider(const struct proxy_config *cfg)
{
    if (cfg->kms_provider == NULL) {
        return NULL;
    }
    if (strcmp(cfg->kms_provider, "pkcs11") == 0) {
        return "p11";
    }
    if (strcmp(cfg->kms_provider, "awskms") == 0) {
        return "awskms";
    }
    return NULL;
}

enum core_err proxy_kms_load(const struct proxy_config *cfg, struct kms_provider **out, char *err, size_t err_cap)
{
    struct kms_provider *registry = NULL;
    const char *active = network_provider(cfg);
    char unwrap[64];
    enum core_err rc;

    *out = NULL;
    rc = kms_registry_new(&registry);
    if (rc != CORE_OK) {
        snprintf(err, err_cap, "failed to set up the key provider registry: %s", core_err_str(rc));
        goto out;
    }

    if (cfg->key_file != NULL) {
        rc = add_keyfile(registry, cfg->key_file, active == NULL, err, err_cap);
        if (rc != CORE_OK) {
            goto out;
        }
    }
    if (active != NULL && strcmp(active, "p11") == 0) {
        rc = add_pkcs11(registry, cfg, err, err_cap);
    } else if (active != NULL) {
        rc = add_awskms(registry, cfg, err, err_cap);
    }
    if (rc != CORE_OK) {
        goto out;
    }
    if (cfg->key_file == NULL && active == NULL) {
        snprintf(err, err_cap, "missing setting S3SEAL_KEY_FILE: the file key provider needs a key file made by "
                 "s3seal keygen");
        rc = CORE_CONFIG;
        goto out;
    }

    snprintf(unwrap, sizeof(unwrap), "%s%s%s", cfg->key_file != NULL ? "file" : "",
             cfg->key_file != NULL && active != NULL ? "," : "", active != NULL ? active : "");
    core_log(CORE_LOG_NOTICE, "kms", "key providers ready wrap=%s unwrap=%s", active != NULL ? active : "file",
             unwrap);
    *out = registry;
    registry = NULL;

out:
    kms_provider_free(registry);
    return rc;
}
