/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256, HMAC-SHA256 and AES-256-GCM through algorithms that OpenSSL
 * fetches once per process. OpenSSL 3.0 looks an algorithm up by name,
 * under a lock, each time a legacy handle such as EVP_sha256() or a
 * one-shot call such as HMAC() is used. Counted from the calls, a small GET
 * made about twenty such lookups before these handles existed.
 */
#ifndef CRYPTO_MAC_H
#define CRYPTO_MAC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "core/core_err.h"

#define CRYPTO_SHA256_LEN 32

/* The fetched SHA-256, or NULL when OpenSSL cannot provide it. Never freed. */
const EVP_MD *crypto_md_sha256(void);

/* The fetched AES-256-GCM, or NULL when OpenSSL cannot provide it. Never freed. */
const EVP_CIPHER *crypto_cipher_aes_256_gcm(void);

/* out = SHA-256(data). Returns CORE_INTERNAL when OpenSSL fails. */
enum core_err crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]) CORE_WARN_UNUSED;

/*
 * out = HMAC-SHA256(key, data). Safe to call from any thread. Returns
 * CORE_NOMEM or CORE_INTERNAL when OpenSSL fails.
 */
enum core_err crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                                 uint8_t out[CRYPTO_SHA256_LEN]) CORE_WARN_UNUSED;

#endif
