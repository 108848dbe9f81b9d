/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HashiCorp Vault / OpenBao transit provider: the master key is a named transit key that never leaves
 * the server, and every wrap and unwrap is one HTTPS call to it. kms_id values read "vault:<key name>"; the
 * wrapped blob is the server's own "vault:v<N>:..." ciphertext string, so the key version travels with it.
 * docs/KEYS.md describes the settings, the start-up check and rotation.
 */
#ifndef KMS_VAULT_H
#define KMS_VAULT_H

#include <stddef.h>

#include "core/core_err.h"
#include "kms/kms.h"

/* Maximum length of a transit key name, without the terminating NUL. */
#define KMS_VAULT_KEY_NAME_MAX 128
/* Per-call timeout when the settings give none. */
#define KMS_VAULT_DEFAULT_TIMEOUT_MS 5000

/* Settings of kms_vault_load; the strings are borrowed for the duration of the call. */
struct kms_vault_settings {
    const char *addr;     /* https://host:port of the server; http:// only for a loopback address */
    const char *mount;    /* path of the transit engine, "transit" when NULL */
    const char *key_name; /* the transit key that wraps new data keys */
    /*
     * Authentication: exactly one of token and token_file, or AppRole with role_id and exactly one of
     * secret_id and secret_id_file. Tokens and secret IDs are never logged.
     */
    const char *token;
    const char *token_file;
    const char *role_id;
    const char *secret_id;
    const char *secret_id_file;
    const char *namespace_name; /* sent as X-Vault-Namespace when not NULL */
    const char *ca_file;        /* PEM file of CA certificates that replaces the system store, or NULL */
    long timeout_ms;            /* bound of every provider call, login and retry included; 0 for the default */
};

/*
 * Checks the settings, logs in with AppRole when configured, reads the key where the token's policy allows
 * it (it must exist, use an AEAD type and not be derived), then wraps and unwraps a random test key and
 * checks that another context fails. Sets *out to a provider that the caller frees with kms_provider_free.
 * Several threads may call it at once: each call uses its own libcurl handle.
 *
 * On failure writes into err (which may be NULL) an English message that names the setting at fault and
 * the fix, and never a token. Returns CORE_CONFIG (invalid settings, key missing or of the wrong type),
 * CORE_KMS_DENIED (token or AppRole credentials rejected), CORE_KMS_UNAVAILABLE (server unreachable or
 * timed out), CORE_KMS (the self-test failed), CORE_IO or CORE_NOMEM.
 */
enum core_err kms_vault_load(const struct kms_vault_settings *settings, struct kms_provider **out, char *err,
                             size_t err_cap) CORE_WARN_UNUSED;

#endif
