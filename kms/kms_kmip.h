/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KMIP provider: the master key is an AES-256 symmetric key on a KMIP 1.4 server (PyKMIP in the
 * tests), used through Encrypt and Decrypt over TLS with a client certificate. kms_id values read
 * "kmip:<unique identifier>". docs/KEYS.md describes the settings, the start-up check and the blob format.
 */
#ifndef KMS_KMIP_H
#define KMS_KMIP_H

#include <stddef.h>

#include "core/core_err.h"
#include "kms/kms.h"

/* Maximum length of a key's Unique Identifier, without the terminating NUL. */
#define KMS_KMIP_KEY_ID_MAX 128
#define KMS_KMIP_DEFAULT_PORT "5696"
#define KMS_KMIP_DEFAULT_TIMEOUT_MS 5000

/* Settings of kms_kmip_load; the strings are borrowed for the duration of the call. */
struct kms_kmip_settings {
    const char *host;      /* server name or numeric address; the server certificate must match it */
    const char *port;      /* NULL for KMS_KMIP_DEFAULT_PORT */
    const char *ca_file;   /* PEM file of the CA certificates that may sign the server certificate */
    const char *cert_file; /* PEM client certificate (chain) */
    const char *key_file;  /* PEM private key of the client certificate */
    const char *key_id;    /* Unique Identifier of the AES key that wraps */
    int timeout_ms;        /* per call: connect, handshake, write and read together; 0 for the default */
};

/*
 * Loads the CA, certificate and key, connects to the server, and checks the key with an Encrypt and
 * Decrypt round trip of a random test key, then with a Decrypt under another context that must fail.
 * Sets *out to a provider that the caller frees with kms_provider_free. Several threads may call
 * kms_wrap and kms_unwrap on it at once: each call uses its own TLS connection, taken from a small
 * mutex-protected set of kept-alive connections or newly opened.
 *
 * On failure writes into err (which may be NULL) an English message that names the setting at fault and
 * the fix. Then returns CORE_CONFIG (invalid settings or files), CORE_KMS_UNAVAILABLE (server unreachable
 * or too slow), CORE_KMS_DENIED (TLS handshake or key use refused), CORE_KMS (unknown key, self-test
 * failed) or CORE_NOMEM.
 */
enum core_err kms_kmip_load(const struct kms_kmip_settings *settings, struct kms_provider **out, char *err,
                            size_t err_cap) CORE_WARN_UNUSED;

#endif
