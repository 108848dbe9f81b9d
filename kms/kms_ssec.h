/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data keys wrapped under a key the client sends with each request (SSE-C): s3seal never stores that key,
 * only the data key wrapped under it, so the object opens only when the client sends the same key again.
 * docs/KEYS.md describes the blob.
 */
#ifndef KMS_SSEC_H
#define KMS_SSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"
#include "kms/kms.h"

/* Length of an SSE-C key (AES256 is the only algorithm S3 defines). */
#define KMS_SSEC_KEY_LEN 32

/* The kms_id of every object whose data key is wrapped under a customer key. */
#define KMS_SSEC_ID "ssec:customer-key"

/* Length of the wrapped blob: version, salt, nonce, wrapped data key and tag. */
#define KMS_SSEC_BLOB_LEN (1 + 16 + 12 + KMS_DEK_LEN + 16)

/* Tells whether kms_id names a data key wrapped under a customer key. */
bool kms_ssec_is_id(const char *kms_id);

/*
 * Wraps dek under the customer key, bound to context, into out (at least KMS_SSEC_BLOB_LEN bytes). The
 * wrapping key is HKDF-SHA256 of the customer key with a random salt, so the blob reveals nothing that
 * would let a guess of the customer key be checked without a GCM trial per guess.
 */
enum core_err kms_ssec_wrap(const uint8_t key[KMS_SSEC_KEY_LEN], const uint8_t dek[KMS_DEK_LEN],
                            const uint8_t *context, size_t context_len, uint8_t *out, size_t out_cap,
                            size_t *out_len) CORE_WARN_UNUSED;

/*
 * Unwraps a blob from kms_ssec_wrap. Returns CORE_CRYPTO, with dek zeroed, for another customer key,
 * another context, a changed blob or a blob of another length or version.
 */
enum core_err kms_ssec_unwrap(const uint8_t key[KMS_SSEC_KEY_LEN], const uint8_t *blob, size_t blob_len,
                              const uint8_t *context, size_t context_len, uint8_t dek[KMS_DEK_LEN]) CORE_WARN_UNUSED;

#endif
