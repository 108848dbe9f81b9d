/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key management interface: wraps and unwraps the 32-byte per-object data keys (DEKs) under a master key
 * held by a provider (a local key file today; PKCS#11, KMIP, Vault transit or AWS KMS later).
 */
#ifndef KMS_H
#define KMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

#define KMS_DEK_LEN 32
/* Maximum size of a wrapped DEK from any provider. */
#define KMS_WRAPPED_MAX 1024
/* Buffer size that fits any kms_id, including the terminating NUL. */
#define KMS_KEY_ID_MAX 256

/* A loaded provider; create one with a provider's load function, such as kms_keyfile_load. */
struct kms_provider;

/*
 * These calls block until the provider answers; a network provider may take up to its timeout. The server
 * therefore makes them on its KMS threads (proxy/proxy_kms.h), never on an event loop.
 */

/*
 * Wraps dek under the provider's current master key and binds context (opaque bytes, such as an encoding
 * of bucket and object key) as associated data, so unwrap succeeds only with the same context. context
 * may be NULL when context_len is 0. Writes the opaque blob to wrapped and its length to *wrapped_len,
 * and writes kms_id = "<provider>:<key id>" (such as "file:k1") as a NUL-terminated string. The caller
 * stores both next to the object and passes them back to kms_unwrap. Returns CORE_TOO_LARGE when
 * wrapped_cap or kms_id_cap is too small; KMS_WRAPPED_MAX and KMS_KEY_ID_MAX are always enough.
 */
enum core_err kms_wrap(struct kms_provider *p, const uint8_t dek[KMS_DEK_LEN], const uint8_t *context,
                       size_t context_len, uint8_t *wrapped, size_t wrapped_cap, size_t *wrapped_len,
                       char *kms_id, size_t kms_id_cap) CORE_WARN_UNUSED;

/*
 * Same as kms_wrap, with the master key chosen by key_ref: "<provider>:<key id>" (such as "file:k2"), or
 * NULL for the provider's configured key. Returns CORE_KMS when key_ref names another provider or a key the
 * provider does not have.
 */
enum core_err kms_wrap_with(struct kms_provider *p, const char *key_ref, const uint8_t dek[KMS_DEK_LEN],
                            const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                            size_t *wrapped_len, char *kms_id, size_t kms_id_cap) CORE_WARN_UNUSED;

/*
 * Makes a fresh data key, writes it to dek and wraps it as kms_wrap_with does. A provider that can make
 * data keys itself does (AWS KMS GenerateDataKey, Vault transit datakey); for the others the DEK comes from
 * OpenSSL's random generator. On failure dek is zeroed.
 */
enum core_err kms_generate_with(struct kms_provider *p, const char *key_ref, const uint8_t *context,
                                size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped, size_t wrapped_cap,
                                size_t *wrapped_len, char *kms_id, size_t kms_id_cap) CORE_WARN_UNUSED;

/*
 * Re-wraps a blob made under kms_id and old_context for new_context, under the master key key_ref names
 * (NULL: the configured key), and writes the new blob and kms_id. Where the KMS can do it without handing
 * out the DEK it does (AWS KMS ReEncrypt); otherwise the DEK is unwrapped, wrapped again and wiped.
 */
enum core_err kms_rewrap(struct kms_provider *p, const char *kms_id, const uint8_t *wrapped, size_t wrapped_len,
                         const uint8_t *old_context, size_t old_context_len, const char *key_ref,
                         const uint8_t *new_context, size_t new_context_len, uint8_t *out, size_t out_cap,
                         size_t *out_len, char *out_kms_id, size_t out_kms_id_cap) CORE_WARN_UNUSED;

/*
 * Unwraps a blob made by kms_wrap and writes the 32-byte DEK. Returns CORE_KMS when kms_id names another
 * provider or a key id this provider does not have. Returns CORE_CRYPTO when authentication fails (wrong
 * context, tampered blob, wrong master key) or the plaintext is not exactly KMS_DEK_LEN bytes. Returns
 * CORE_TOO_LARGE when wrapped_len exceeds KMS_WRAPPED_MAX. On any failure dek is zeroed.
 */
enum core_err kms_unwrap(struct kms_provider *p, const char *kms_id, const uint8_t *wrapped, size_t wrapped_len,
                         const uint8_t *context, size_t context_len, uint8_t dek[KMS_DEK_LEN]) CORE_WARN_UNUSED;

/* Wipes the provider's key material and frees it. p may be NULL. */
void kms_provider_free(struct kms_provider *p);

#endif
