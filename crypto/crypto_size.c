/* SPDX-License-Identifier: Apache-2.0 */
/* Conversion between plaintext and stored lengths of one stream in format version 1. */
#include "crypto/crypto_stream.h"

uint64_t crypto_size_encrypted(uint64_t plain_len)
{
    uint64_t full = plain_len / CRYPTO_CHUNK_PLAIN_MAX;
    uint64_t rest = plain_len % CRYPTO_CHUNK_PLAIN_MAX;
    uint64_t size = 0;

    if (full > UINT64_MAX / CRYPTO_CHUNK_CIPHER_MAX) {
        return UINT64_MAX;
    }
    size = full * CRYPTO_CHUNK_CIPHER_MAX;
    if (rest > 0) {
        if (UINT64_MAX - size < rest + CRYPTO_CHUNK_OVERHEAD) {
            return UINT64_MAX;
        }
        size += rest + CRYPTO_CHUNK_OVERHEAD;
    }
    return size;
}

bool crypto_size_decrypted(uint64_t cipher_len, uint64_t *plain_len)
{
    uint64_t full = cipher_len / CRYPTO_CHUNK_CIPHER_MAX;
    uint64_t rest = cipher_len % CRYPTO_CHUNK_CIPHER_MAX;

    /* a partial chunk carries at least one plaintext byte after its 36 bytes of overhead */
    if (rest > 0 && rest <= CRYPTO_CHUNK_OVERHEAD) {
        return false;
    }

    /* no overflow: full * 65536 < cipher_len */
    *plain_len = full * CRYPTO_CHUNK_PLAIN_MAX + (rest > 0 ? rest - CRYPTO_CHUNK_OVERHEAD : 0);
    return true;
}

void crypto_range_map(uint64_t first, uint64_t last, uint64_t *first_chunk, uint64_t *cipher_first,
                      uint64_t *cipher_last)
{
    /* beyond this chunk index the products overflow; no object is that large */
    const uint64_t chunk_limit = UINT64_MAX / CRYPTO_CHUNK_CIPHER_MAX - 1;
    uint64_t last_chunk = last / CRYPTO_CHUNK_PLAIN_MAX;

    *first_chunk = first / CRYPTO_CHUNK_PLAIN_MAX;
    *cipher_first = *first_chunk < chunk_limit ? *first_chunk * CRYPTO_CHUNK_CIPHER_MAX : UINT64_MAX;
    *cipher_last = last_chunk < chunk_limit ? (last_chunk + 1) * CRYPTO_CHUNK_CIPHER_MAX - 1 : UINT64_MAX;
}
