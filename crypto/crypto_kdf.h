/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key derivation of format version 1: every key used for an object is
 * HKDF-SHA256 of its 32-byte data encryption key (DEK). See docs/FORMAT.md.
 */
#ifndef CRYPTO_KDF_H
#define CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

#define CRYPTO_KEY_LEN 32
#define CRYPTO_COMMITMENT_LEN 32

/* HKDF info strings; none of them includes a terminating NUL on the wire */
#define CRYPTO_KDF_INFO_COMMIT "s3seal/1 commit"
#define CRYPTO_KDF_INFO_META "s3seal/1 meta"
#define CRYPTO_KDF_INFO_DATA "s3seal/1 data"

/* Suite byte of AES-256-GCM in the data key info and the chunk header. */
#define CRYPTO_SUITE_AES_256_GCM 0x00

/*
 * Derives 32 bytes with HKDF-SHA256 (RFC 5869): out = HKDF(ikm, salt, info).
 * An empty salt means 32 zero bytes. Returns CORE_TOO_LARGE for an info
 * longer than 32 bytes, CORE_NOMEM or CORE_INTERNAL when OpenSSL fails.
 */
enum core_err crypto_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                                 const uint8_t *info, size_t info_len,
                                 uint8_t out[CRYPTO_KEY_LEN]) CORE_WARN_UNUSED;

/*
 * Derives the key commitment that the envelope stores to bind the DEK:
 * HKDF(IKM = dek, salt = empty, info = "s3seal/1 commit").
 * Returns CORE_NOMEM or CORE_INTERNAL when OpenSSL fails.
 */
enum core_err crypto_kdf_commitment(const uint8_t dek[CRYPTO_KEY_LEN],
                                    uint8_t out[CRYPTO_COMMITMENT_LEN]) CORE_WARN_UNUSED;

/*
 * Derives the envelope MAC key: HKDF(IKM = dek, salt = empty,
 * info = "s3seal/1 meta"). Returns CORE_NOMEM or CORE_INTERNAL when OpenSSL fails.
 */
enum core_err crypto_kdf_meta_key(const uint8_t dek[CRYPTO_KEY_LEN],
                                  uint8_t out[CRYPTO_KEY_LEN]) CORE_WARN_UNUSED;

/*
 * Derives the AES-256-GCM key of one stream: HKDF(IKM = dek,
 * salt = stream_id, info = "s3seal/1 data" || suite || BE32(part_number)).
 * Returns CORE_NOMEM or CORE_INTERNAL when OpenSSL fails.
 */
enum core_err crypto_kdf_stream_key(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t stream_id[8],
                                    uint8_t suite, uint32_t part_number,
                                    uint8_t out[CRYPTO_KEY_LEN]) CORE_WARN_UNUSED;

#endif
