/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server settings: defaults, an optional INI file, then S3SEAL_* environment
 * variables, which win so that a sidecar is configured by environment alone.
 */
#ifndef PROXY_CONFIG_H
#define PROXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/core_err.h"

struct proxy_client_credential {
    char *access_key_id;     /* owned */
    char *secret_access_key; /* owned; never logged */
};

/* One entry of the key policy: new objects under prefix get their data key wrapped under key_ref. */
struct proxy_key_rule {
    char *prefix;  /* owned; "bucket/prefix" */
    char *key_ref; /* owned; "provider:key", as kms_wrap_with takes it */
};

struct proxy_config {
    char *listen_host; /* owned; numeric address */
    char *listen_port; /* owned */
    int workers;
    char *tls_cert_file; /* owned; NULL for plain HTTP */
    char *tls_key_file;  /* owned */
    char *tls_client_ca_file; /* owned; NULL unless clients must present a certificate */

    char *backend_host; /* owned; host part of S3SEAL_BACKEND_URL */
    char *backend_port; /* owned */
    char *backend_host_header; /* owned; "host" or "host:port" exactly as signed */
    bool backend_tls;          /* S3SEAL_BACKEND_URL is https:// */
    char *backend_ca_file;     /* owned; CA certificates for the backend, NULL for the system store */
    bool backend_tls_insecure; /* the backend's certificate is not verified, which is for tests only */
    char *backend_region;
    char *backend_access_key_id;
    char *backend_secret_access_key; /* owned; never logged */

    char *region; /* owned; the region clients sign for */
    char **base_domains; /* owned; hosts under which the bucket is the first label */
    size_t base_domain_count;
    bool reject_unencrypted_reads; /* objects without an envelope are refused outside plaintext prefixes */
    char **plaintext_prefixes; /* owned; "bucket/prefix" entries whose writes stay unencrypted */
    size_t plaintext_prefix_count;
    struct proxy_client_credential *clients; /* owned array */
    size_t client_count;

    char *key_file; /* owned; path of the local master key file, NULL when unset */
    char *kms_provider; /* owned; "file", "pkcs11", "vault", "awskms" or "kmip": the provider of new data keys */
    char *pkcs11_module; /* owned; the following are NULL unless kms_provider is "pkcs11" */
    char *pkcs11_token_label;
    char *pkcs11_pin_file;
    char *pkcs11_pin; /* owned; never logged */
    char *pkcs11_key_label;
    char *pkcs11_mechanism;
    struct proxy_key_rule *key_rules; /* owned array */
    size_t key_rule_count;
    int kms_threads;
    int kms_queue_max;
    int kms_retries;
    int key_cache_size; /* entries; 0 turns the cache off */
    int key_cache_ttl_s;
    bool kms_hashed_context; /* the KMS sees SHA-256 digests of wrap contexts (S3SEAL_KMS_CONTEXT=sha256) */
    char *vault_addr; /* owned; the vault_* strings are NULL unless kms_provider is "vault" */
    char *vault_mount;
    char *vault_key_name;
    char *vault_token; /* owned; never logged */
    char *vault_token_file;
    char *vault_role_id;
    char *vault_secret_id; /* owned; never logged */
    char *vault_secret_id_file;
    char *vault_namespace;
    char *vault_ca_file;
    int vault_timeout_ms;
    char *awskms_endpoint; /* owned; the following are NULL (0) unless kms_provider is "awskms" */
    char *awskms_region;
    char *awskms_key_id;
    char *awskms_access_key_id;
    char *awskms_secret_access_key; /* owned; never logged */
    char *awskms_session_token;     /* owned; NULL without temporary credentials; never logged */
    char *awskms_ca_file;
    int awskms_timeout_ms;
    char *kmip_host; /* owned; the following are NULL (0) unless kms_provider is "kmip" */
    char *kmip_port;
    char *kmip_ca_file;
    char *kmip_cert_file;
    char *kmip_key_file;
    char *kmip_key_id;
    int kmip_timeout_ms;
    int log_level;
    int client_timeout_s;  /* sending a response */
    int backend_timeout_s; /* backend reads and writes */
    int backend_connect_timeout_s;
    int header_timeout_s;    /* first byte of a request to the end of its headers */
    int body_timeout_s;      /* a stall in a request body */
    int keepalive_timeout_s; /* an idle connection between requests */
    int drain_timeout_s;     /* requests in flight at SIGTERM */
    int max_header_size;     /* request line and headers, bytes */
    int max_header_count;
    int max_url_length;
    int max_connections; /* per worker */
    char *admin_host; /* owned; NULL when the admin listener is off */
    char *admin_port; /* owned */
    bool access_log;  /* one access log line per request */
};

/*
 * Loads the configuration: defaults, then the INI file at config_path when it
 * is not NULL, then the environment. On failure writes a message naming the
 * setting and the fix into err and returns CORE_CONFIG. The caller owns *out
 * and releases it with proxy_config_free.
 */
enum core_err proxy_config_load(const char *config_path, struct proxy_config **out, char *err, size_t err_cap)
    CORE_WARN_UNUSED;

/*
 * Loads only the key provider settings (S3SEAL_KMS_PROVIDER, S3SEAL_KEY_FILE, S3SEAL_PKCS11_*,
 * S3SEAL_VAULT_*) from the environment, for commands that need the providers of the server without its
 * backend and client settings. Errors as proxy_config_load.
 */
enum core_err proxy_config_load_kms(struct proxy_config **out, char *err, size_t err_cap) CORE_WARN_UNUSED;

/* Releases the configuration and wipes the secrets in it; NULL is fine. */
void proxy_config_free(struct proxy_config *cfg);

/* Returns the secret for access_key_id, or NULL when the key id is unknown. */
const char *proxy_config_find_secret(const struct proxy_config *cfg, const char *access_key_id);

/*
 * Tells whether an operator rule lets writes to this bucket and key stay
 * unencrypted. False unless S3SEAL_PLAINTEXT_PREFIXES names them.
 */
bool proxy_config_is_plaintext(const struct proxy_config *cfg, const char *bucket, const char *key,
                               size_t key_len);

/*
 * Returns the key reference ("provider:key") the key policy names for a new object, from its longest
 * matching entry, or NULL when no entry covers the object and the active provider's key applies.
 */
const char *proxy_config_key_ref(const struct proxy_config *cfg, const char *bucket, const char *key,
                                 size_t key_len);

/*
 * Writes into out the key reference that new data keys are wrapped under for ref ("provider:key"): ref
 * itself, or with hashed contexts the hashed-context twin's "provider+h:key". Returns false when out is
 * too small or ref has no ':'.
 */
bool proxy_config_wrap_ref(const struct proxy_config *cfg, const char *ref, char *out, size_t out_cap);

/* Writes the description of every setting, for `s3seal serve --help`. */
void proxy_config_print_help(FILE *out);

#endif
