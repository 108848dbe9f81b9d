/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration generations and the SIGHUP reload that builds them. A reload
 * is built completely, and checked, on the main thread before any worker sees
 * it; a failed one leaves the running generation in place.
 */
#include "proxy/proxy_reload.h"

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_kms.h"
#include "proxy/proxy_server.h"

struct proxy_generation *proxy_gen_new(const struct proxy_config *cfg, struct proxy_config *owned, SSL_CTX *tls,
                                       unsigned number)
{
    struct proxy_generation *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->number = number;
    g->cfg = owned != NULL ? owned : cfg;
    g->owned = owned;
    g->tls = tls;
    return g;
}

struct proxy_generation *proxy_gen_ref(struct proxy_generation *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void proxy_gen_unref(struct proxy_generation *g)
{
    if (g == NULL) {
        return;
    }

    /* acq_rel: the thread that frees must see every write made while others held it */
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    proxy_config_free(g->owned);

    /* connections made under this generation hold their own reference to the context */
    SSL_CTX_free(g->tls);
    free(g);
}

/* A string setting a reload keeps; secret marks a field wiped when replaced. */
struct fixed_string {
    const char *setting;
    size_t offset;
    bool secret;
};

struct fixed_int {
    const char *setting;
    size_t offset;
};

#define STR_FIELD(setting, field, secret) {setting, offsetof(struct proxy_config, field), secret}
#define INT_FIELD(setting, field) {setting, offsetof(struct proxy_config, field)}

static const struct fixed_string fixed_strings[] = {
    STR_FIELD("S3SEAL_LISTEN", listen_host, false),
    STR_FIELD("S3SEAL_LISTEN", listen_port, false),
    STR_FIELD("S3SEAL_BACKEND_URL", backend_host, false),
    STR_FIELD("S3SEAL_BACKEND_URL", backend_port, false),
    STR_FIELD("S3SEAL_BACKEND_URL", backend_host_header, false),
    STR_FIELD("S3SEAL_KMS_PROVIDER", kms_provider, false),
    STR_FIELD("S3SEAL_KEY_FILE", key_file, false),
    STR_FIELD("S3SEAL_PKCS11_MODULE", pkcs11_module, false),
    STR_FIELD("S3SEAL_PKCS11_TOKEN_LABEL", pkcs11_token_label, false),
    STR_FIELD("S3SEAL_PKCS11_PIN_FILE", pkcs11_pin_file, false),
    STR_FIELD("S3SEAL_PKCS11_PIN", pkcs11_pin, true),
    STR_FIELD("S3SEAL_PKCS11_KEY_LABEL", pkcs11_key_label, false),
    STR_FIELD("S3SEAL_PKCS11_MECHANISM", pkcs11_mechanism, false),
    STR_FIELD("S3SEAL_VAULT_ADDR", vault_addr, false),
    STR_FIELD("S3SEAL_VAULT_MOUNT", vault_mount, false),
    STR_FIELD("S3SEAL_VAULT_KEY_NAME", vault_key_name, false),
    STR_FIELD("S3SEAL_VAULT_TOKEN", vault_token, true),
    STR_FIELD("S3SEAL_VAULT_TOKEN_FILE", vault_token_file, false),
    STR_FIELD("S3SEAL_VAULT_ROLE_ID", vault_role_id, false),
    STR_FIELD("S3SEAL_VAULT_SECRET_ID", vault_secret_id, true),
    STR_FIELD("S3SEAL_VAULT_SECRET_ID_FILE", vault_secret_id_file, false),
    STR_FIELD("S3SEAL_VAULT_NAMESPACE", vault_namespace, false),
    STR_FIELD("S3SEAL_VAULT_CA_FILE", vault_ca_file, false),
    STR_FIELD("S3SEAL_AWSKMS_ENDPOINT", awskms_endpoint, false),
    STR_FIELD("S3SEAL_AWSKMS_REGION", awskms_region, false),
    STR_FIELD("S3SEAL_AWSKMS_KEY_ID", awskms_key_id, false),
    STR_FIELD("S3SEAL_AWSKMS_ACCESS_KEY_ID", awskms_access_key_id, false),
    STR_FIELD("S3SEAL_AWSKMS_SECRET_ACCESS_KEY", awskms_secret_access_key, true),
    STR_FIELD("S3SEAL_AWSKMS_SESSION_TOKEN", awskms_session_token, true),
    STR_FIELD("S3SEAL_AWSKMS_CA_FILE", awskms_ca_file, false),
    STR_FIELD("S3SEAL_KMIP_HOST", kmip_host, false),
    STR_FIELD("S3SEAL_KMIP_PORT", kmip_port, false),
    STR_FIELD("S3SEAL_KMIP_CA_FILE", kmip_ca_file, false),
    STR_FIELD("S3SEAL_KMIP_CERT_FILE", kmip_cert_file, false),
    STR_FIELD("S3SEAL_KMIP_KEY_FILE", kmip_key_file, false),
    STR_FIELD("S3SEAL_KMIP_KEY_ID", kmip_key_id, false),
    STR_FIELD("S3SEAL_BACKEND_CA_FILE", backend_ca_file, false),
    STR_FIELD("S3SEAL_ADMIN_LISTEN", admin_host, false),
    STR_FIELD("S3SEAL_ADMIN_LISTEN", admin_port, false),
};

static const struct fixed_int fixed_ints[] = {
    INT_FIELD("S3SEAL_WORKERS", workers),
    INT_FIELD("S3SEAL_KMS_THREADS", kms_threads),
    INT_FIELD("S3SEAL_KMS_QUEUE_MAX", kms_queue_max),
    INT_FIELD("S3SEAL_KMS_RETRIES", kms_retries),
    INT_FIELD("S3SEAL_KEY_CACHE_SIZE", key_cache_size),
    INT_FIELD("S3SEAL_KEY_CACHE_TTL", key_cache_ttl_s),
    INT_FIELD("S3SEAL_VAULT_TIMEOUT_MS", vault_timeout_ms),
    INT_FIELD("S3SEAL_AWSKMS_TIMEOUT_MS", awskms_timeout_ms),
    INT_FIELD("S3SEAL_KMIP_TIMEOUT_MS", kmip_timeout_ms),
};

struct fixed_bool {
    const char *setting;
    size_t offset;
};

#define BOOL_FIELD(setting, field) {setting, offsetof(struct proxy_config, field)}

/* The backend TLS context and the key providers' hashed-context twin are built once, at start-up. */
static const struct fixed_bool fixed_bools[] = {
    BOOL_FIELD("S3SEAL_BACKEND_URL", backend_tls),
    BOOL_FIELD("S3SEAL_BACKEND_TLS_INSECURE", backend_tls_insecure),
    BOOL_FIELD("S3SEAL_KMS_CONTEXT", kms_hashed_context),
};

static bool same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

/* Appends setting to the comma-separated list unless it ends the list already (fields come grouped). */
static void note_ignored(char *ignored, size_t cap, const char *setting)
{
    size_t len = strlen(ignored);
    size_t name_len = strlen(setting);

    if (len >= name_len && strcmp(ignored + len - name_len, setting) == 0) {
        return;
    }
    snprintf(ignored + len, cap - len, "%s%s", len > 0 ? "," : "", setting);
}

static enum core_err keep_string(const struct fixed_string *f, const struct proxy_config *old,
                                 struct proxy_config *next, char *ignored, size_t cap)
{
    const char *old_value = *(char *const *)((const char *)old + f->offset);
    char **next_value = (char **)((char *)next + f->offset);
    char *copy = NULL;

    if (same_string(old_value, *next_value)) {
        return CORE_OK;
    }
    if (old_value != NULL) {
        copy = strdup(old_value);
        if (copy == NULL) {
            return CORE_NOMEM;
        }
    }
    if (*next_value != NULL && f->secret) {
        OPENSSL_cleanse(*next_value, strlen(*next_value));
    }
    free(*next_value);
    *next_value = copy;
    note_ignored(ignored, cap, f->setting);
    return CORE_OK;
}

enum core_err proxy_reload_keep_fixed(const struct proxy_config *old, struct proxy_config *next, char *ignored,
                                      size_t ignored_cap)
{
    ignored[0] = '\0';
    for (size_t i = 0; i < sizeof(fixed_strings) / sizeof(fixed_strings[0]); i++) {
        CORE_TRY(keep_string(&fixed_strings[i], old, next, ignored, ignored_cap));
    }
    for (size_t i = 0; i < sizeof(fixed_ints) / sizeof(fixed_ints[0]); i++) {
        const int *old_value = (const int *)((const char *)old + fixed_ints[i].offset);
        int *next_value = (int *)((char *)next + fixed_ints[i].offset);

        if (*old_value != *next_value) {
            *next_value = *old_value;
            note_ignored(ignored, ignored_cap, fixed_ints[i].setting);
        }
    }
    for (size_t i = 0; i < sizeof(fixed_bools) / sizeof(fixed_bools[0]); i++) {
        const bool *old_value = (const bool *)((const char *)old + fixed_bools[i].offset);
        bool *next_value = (bool *)((char *)next + fixed_bools[i].offset);

        if (*old_value != *next_value) {
            *next_value = *old_value;
            note_ignored(ignored, ignored_cap, fixed_bools[i].setting);
        }
    }
    return CORE_OK;
}

enum core_err proxy_reload_build(const char *config_path, const struct proxy_generation *old,
                                 struct kms_provider *kms, struct proxy_generation **out, char *err,
                                 size_t err_cap, char *ignored, size_t ignored_cap)
{
    struct proxy_config *cfg = NULL;
    SSL_CTX *tls = NULL;
    enum core_err rc;

    ignored[0] = '\0';
    err[0] = '\0';
    rc = proxy_config_load(config_path, &cfg, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    rc = proxy_reload_keep_fixed(old->cfg, cfg, ignored, ignored_cap);
    if (rc != CORE_OK) {
        snprintf(err, err_cap, "out of memory while keeping the settings that need a restart");
        goto out;
    }
    rc = proxy_kms_check_policy(cfg, kms, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    if (cfg->tls_cert_file != NULL) {
        rc = proxy_server_tls_new(cfg, &tls);
        if (rc != CORE_OK) {
            snprintf(err, err_cap, "cannot load the listener certificate %s or key %s (the log line above says why)",
                     cfg->tls_cert_file, cfg->tls_key_file);
            goto out;
        }
    }

    *out = proxy_gen_new(NULL, cfg, tls, old->number + 1);
    if (*out == NULL) {
        snprintf(err, err_cap, "out of memory for the new configuration");
        rc = CORE_NOMEM;
        goto out;
    }
    cfg = NULL;
    tls = NULL;

out:
    SSL_CTX_free(tls);
    proxy_config_free(cfg);
    return rc;
}
