/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The table of operations behind struct kms_provider. Only provider implementations include this header;
 * callers use kms/kms.h, where the struct is opaque.
 */
#ifndef KMS_PROVIDER_H
#define KMS_PROVIDER_H

#include <stdbool.h>

#include "kms/kms.h"

/*
 * Provider operations. kms_wrap and kms_unwrap check arguments, build and split kms_id, and check the
 * plaintext length, so the operations see only their own key id and may assume non-NULL pointers.
 */
struct kms_provider_ops {
    /* Prefix of every kms_id this provider writes, such as "file"; contains no ':'. */
    const char *name;

    /*
     * True for a provider that routes calls to other providers (kms/kms_registry.h). Its wrap writes a
     * whole kms_id in place of a bare key id, and its unwrap receives the whole kms_id, prefix included.
     */
    bool dispatch;

    /*
     * Writes the blob and the bare key id (without "<name>:") of the key it used, NUL-terminated. want_key_id
     * names the master key to use, or is NULL for the provider's configured one; an unknown want_key_id gives
     * CORE_KMS. A dispatching provider receives the whole key reference, prefix included.
     */
    enum core_err (*wrap)(struct kms_provider *p, const char *want_key_id, const uint8_t dek[KMS_DEK_LEN],
                          const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                          size_t *wrapped_len, char *key_id, size_t key_id_cap);

    /*
     * Takes the bare key id and writes at most dek_cap plaintext bytes and their count. Returns CORE_KMS for
     * an unknown key id, and CORE_CRYPTO when authentication fails or the plaintext exceeds dek_cap.
     * Network providers return CORE_KMS_UNAVAILABLE when the service cannot be reached or does not answer
     * within their timeout, and CORE_KMS_DENIED when it refuses the credentials; wrap does the same.
     *
     * Both operations may run on several threads at once: the server calls them from a pool of KMS
     * threads, never from an event loop.
     */
    enum core_err (*unwrap)(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                            size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                            size_t dek_cap, size_t *dek_len);

    /*
     * Optional; NULL when the KMS cannot make data keys itself. Generates a fresh KMS_DEK_LEN-byte DEK
     * inside the KMS, writes it to dek, and wraps it as wrap does (AWS KMS GenerateDataKey, Vault transit
     * datakey). kms_generate_with falls back to a local random DEK and wrap.
     */
    enum core_err (*generate)(struct kms_provider *p, const char *want_key_id, const uint8_t *context,
                              size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped, size_t wrapped_cap,
                              size_t *wrapped_len, char *key_id, size_t key_id_cap);

    /*
     * Optional; NULL when the KMS cannot re-wrap without handing out the DEK. Turns a blob wrapped under
     * key_id and old_context into one wrapped under want_key_id (NULL: the configured key) and
     * new_context, inside the KMS (AWS KMS ReEncrypt). kms_rewrap falls back to unwrap and wrap.
     */
    enum core_err (*rewrap)(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                            size_t wrapped_len, const uint8_t *old_context, size_t old_context_len,
                            const char *want_key_id, const uint8_t *new_context, size_t new_context_len,
                            uint8_t *out, size_t out_cap, size_t *out_len, char *out_key_id, size_t out_key_id_cap);

    /* Wipes key material and frees the provider; never called with NULL. */
    void (*free)(struct kms_provider *p);
};

/* Providers embed this as the first member of their own struct and cast back in their operations. */
struct kms_provider {
    const struct kms_provider_ops *ops;
};

#endif
