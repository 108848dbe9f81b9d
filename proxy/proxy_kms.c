/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key provider registry built from the S3SEAL_KMS_PROVIDER, S3SEAL_KEY_FILE, S3SEAL_PKCS11_*,
 * S3SEAL_VAULT_*, S3SEAL_AWSKMS_* and S3SEAL_KMIP_* settings.
 */
#include "proxy/proxy_kms.h"

#include <stdbool.h>
#include <string.h>

#include "core/core_log.h"
#include "kms/kms_awskms.h"
#include "kms/kms_keyfile.h"
#include "kms/kms_kmip.h"
#include "kms/kms_pkcs11.h"
#include "kms/kms_registry.h"
#include "kms/kms_vault.h"

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
enum core_err proxy_kms_check_policy(const struct proxy_config *cfg, struct kms_provider *kms, char *err,
                                      size_t err_cap)
{
    static const uint8_t context[] = "s3seal key policy check";
    uint8_t dek[KMS_DEK_LEN] = {0};
    uint8_t wrapped[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    size_t wrapped_len = 0;

    for (size_t i = 0; i < cfg->key_rule_count; i++) {
        const struct proxy_key_rule *rule = &cfg->key_rules[i];
        char ref[KMS_KEY_ID_MAX];
        enum core_err rc = CORE_TOO_LARGE;

        if (proxy_config_wrap_ref(cfg, rule->key_ref, ref, sizeof(ref))) {
            rc = kms_wrap_with(kms, ref, dek, context, sizeof(context) - 1, wrapped, sizeof(wrapped), &wrapped_len,
                               kms_id, sizeof(kms_id));
        }

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

static enum core_err add_vault(struct kms_provider *registry, const struct proxy_config *cfg, char *err,
                               size_t err_cap)
{
    const struct kms_vault_settings settings = {
        .addr = cfg->vault_addr,
        .mount = cfg->vault_mount,
        .key_name = cfg->vault_key_name,
        .token = cfg->vault_token,
        .token_file = cfg->vault_token_file,
        .role_id = cfg->vault_role_id,
        .secret_id = cfg->vault_secret_id,
        .secret_id_file = cfg->vault_secret_id_file,
        .namespace_name = cfg->vault_namespace,
        .ca_file = cfg->vault_ca_file,
        .timeout_ms = cfg->vault_timeout_ms,
    };
    struct kms_provider *vault = NULL;

    CORE_TRY(kms_vault_load(&settings, &vault, err, err_cap));
    return kms_registry_add(registry, vault, true);
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

static enum core_err add_kmip(struct kms_provider *registry, const struct proxy_config *cfg, char *err,
                              size_t err_cap)
{
    const struct kms_kmip_settings settings = {
        .host = cfg->kmip_host,
        .port = cfg->kmip_port,
        .ca_file = cfg->kmip_ca_file,
        .cert_file = cfg->kmip_cert_file,
        .key_file = cfg->kmip_key_file,
        .key_id = cfg->kmip_key_id,
        .timeout_ms = cfg->kmip_timeout_ms,
    };
    struct kms_provider *kmip = NULL;

    CORE_TRY(kms_kmip_load(&settings, &kmip, err, err_cap));
    return kms_registry_add(registry, kmip, true);
}

/* Adds the provider that S3SEAL_KMS_PROVIDER names when it is not the key file, and sets *name to its prefix. */
static enum core_err add_active(struct kms_provider *registry, const struct proxy_config *cfg, const char **name,
                                char *err, size_t err_cap)
{
    *name = "file";
    if (cfg->kms_provider == NULL || strcmp(cfg->kms_provider, "file") == 0) {
        return CORE_OK;
    }
    if (strcmp(cfg->kms_provider, "pkcs11") == 0) {
        *name = "p11";
        return add_pkcs11(registry, cfg, err, err_cap);
    }
    if (strcmp(cfg->kms_provider, "vault") == 0) {
        *name = "vault";
        return add_vault(registry, cfg, err, err_cap);
    }
    if (strcmp(cfg->kms_provider, "awskms") == 0) {
        *name = "awskms";
        return add_awskms(registry, cfg, err, err_cap);
    }
    if (strcmp(cfg->kms_provider, "kmip") == 0) {
        *name = "kmip";
        return add_kmip(registry, cfg, err, err_cap);
    }
    snprintf(err, err_cap, "invalid S3SEAL_KMS_PROVIDER '%s': expected file, pkcs11, vault, awskms or kmip",
             cfg->kms_provider);
    return CORE_CONFIG;
}

enum core_err proxy_kms_load(const struct proxy_config *cfg, struct kms_provider **out, char *err, size_t err_cap)
{
    struct kms_provider *registry = NULL;
    bool use_file = cfg->kms_provider == NULL || strcmp(cfg->kms_provider, "file") == 0;
    const char *active = "file";
    enum core_err rc;

    *out = NULL;
    rc = kms_registry_new(&registry);
    if (rc != CORE_OK) {
        snprintf(err, err_cap, "failed to set up the key provider registry: %s", core_err_str(rc));
        goto out;
    }

    if (cfg->key_file != NULL) {
        rc = add_keyfile(registry, cfg->key_file, use_file, err, err_cap);
        if (rc != CORE_OK) {
            goto out;
        }
    }
    rc = add_active(registry, cfg, &active, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    if (cfg->key_file == NULL && use_file) {
        snprintf(err, err_cap, "missing setting S3SEAL_KEY_FILE: the file key provider needs a key file made by "
                 "s3seal keygen");
        rc = CORE_CONFIG;
        goto out;
    }

    /* every provider gets a hashed-context twin, so objects of either form stay readable */
    rc = kms_registry_add_hashed(registry, cfg->kms_hashed_context);
    if (rc != CORE_OK) {
        snprintf(err, err_cap, "failed to add the hashed-context key providers: %s", core_err_str(rc));
        goto out;
    }
    rc = proxy_kms_check_policy(cfg, registry, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    core_log(CORE_LOG_NOTICE, "kms",
             "key providers ready wrap=%s%s unwrap=%s%s (each also as NAME+h, for hashed contexts)", active,
             cfg->kms_hashed_context ? "+h" : "", cfg->key_file != NULL && !use_file ? "file," : "", active);
    *out = registry;
    registry = NULL;

out:
    kms_provider_free(registry);
    return rc;
}
