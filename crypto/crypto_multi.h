/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reader for a stored object made of several streams: a multipart object,
 * whose backend part N is one stream with part number N and its own stream
 * id. The plaintext length is not known in advance, so the reader takes
 * each chunk's length from its header and checks that chunks follow each
 * other within a part and that parts follow each other in increasing order.
 * The parts are written with crypto_stream_seal_*. See docs/FORMAT.md,
 * "Multipart objects".
 */
#ifndef CRYPTO_MULTI_H
#define CRYPTO_MULTI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "core/core_err.h"
#include "crypto/crypto_stream.h"

/*
 * State of one multipart read. The caller embeds it and must call
 * crypto_multi_open_cleanup once it is done, also after a failure.
 */
struct crypto_multi_open {
    /* owned; AES-256-GCM context keyed with key, NULL before init and after cleanup */
    EVP_CIPHER_CTX *ctx;
    /* owned copy, from which each stream's key is derived */
    uint8_t dek[CRYPTO_DEK_LEN];
    /* owned; key_stream of the current stream, valid when has_key */
    uint8_t key[32];
    /* stream id and part number that key was derived for */
    uint8_t key_stream_id[CRYPTO_STREAM_ID_LEN];
    uint32_t key_part_number;
    /* stream id, part number and sequence number of the last chunk opened */
    uint8_t stream_id[CRYPTO_STREAM_ID_LEN];
    uint32_t part_number;
    uint32_t seq;
    /* the first chunk must be sequence 0 */
    bool from_start;
    /* at least one chunk was opened */
    bool started;
    /* the last chunk opened carried FINAL */
    bool at_final;
    /* key and ctx contain the key of (key_stream_id, key_part_number) */
    bool has_key;
    /* a call failed, so every later call fails too */
    bool failed;
};

/*
 * Prepares m to read the chunks of a multipart object in stored order.
 * Copies dek. from_start is true when the data begins at the first byte of
 * the object, so that the first chunk must have sequence number 0, and
 * false for a ranged read that may begin at any chunk. Returns CORE_NOMEM
 * when the cipher context cannot be allocated. m must be zeroed or cleaned
 * up before the call, because init overwrites it without freeing anything.
 */
enum core_err crypto_multi_open_init(struct crypto_multi_open *m, const uint8_t dek[CRYPTO_DEK_LEN],
                                     bool from_start) CORE_WARN_UNUSED;

/*
 * Computes the stored length of a whole chunk (20 + plaintext length + 16)
 * from its header alone, so that the caller knows how many bytes to collect
 * before calling crypto_multi_open_chunk. Returns CORE_CRYPTO when the
 * version, the suite or a reserved flag bit is invalid. Other fields are
 * checked by crypto_multi_open_chunk.
 */
enum core_err crypto_multi_chunk_len(const uint8_t header[CRYPTO_CHUNK_HEADER_LEN],
                                     size_t *chunk_len) CORE_WARN_UNUSED;

/*
 * Authenticates and decrypts the next chunk of the object. Returns
 * CORE_CRYPTO when chunk_len differs from the length in the header, the
 * part number is not 1..10000, or a non-FINAL chunk carries fewer than
 * 65536 bytes. Also returns CORE_CRYPTO when the chunk does not follow the
 * previous one (see docs/FORMAT.md, "Multipart objects") or the tag is wrong. Returns CORE_INTERNAL when
 * plain_cap is below the chunk's plaintext length or m was not initialized.
 * On any failure plain is wiped (up to 65536 bytes), *plain_len is 0, and
 * every later call fails with CORE_CRYPTO. plain may be
 * chunk + CRYPTO_CHUNK_HEADER_LEN, which opens in place.
 */
enum core_err crypto_multi_open_chunk(struct crypto_multi_open *m, const uint8_t *chunk, size_t chunk_len,
                                      uint8_t *plain, size_t plain_cap, size_t *plain_len) CORE_WARN_UNUSED;

/*
 * Returns true when the last chunk opened carried FINAL and no call failed.
 * A whole-object read must end exactly there. Parts may follow a FINAL
 * chunk, so true does not mean the object has no more bytes.
 */
bool crypto_multi_open_at_final(const struct crypto_multi_open *m);

/* Frees the cipher context and wipes the keys; safe on a zeroed struct and when called twice. */
void crypto_multi_open_cleanup(struct crypto_multi_open *m);

#endif
