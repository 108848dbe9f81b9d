/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunked AES-256-GCM encryption of one stream (the body of a single PUT or
 * of one multipart part) in format version 1, and the size arithmetic that
 * maps plaintext lengths to stored lengths. Pure functions over caller
 * buffers; docs/FORMAT.md describes the bytes.
 */
#ifndef CRYPTO_STREAM_H
#define CRYPTO_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "core/core_err.h"

#define CRYPTO_DEK_LEN 32
#define CRYPTO_CHUNK_PLAIN_MAX 65536
#define CRYPTO_CHUNK_HEADER_LEN 20
#define CRYPTO_CHUNK_TAG_LEN 16
#define CRYPTO_CHUNK_OVERHEAD 36
#define CRYPTO_CHUNK_CIPHER_MAX 65572
#define CRYPTO_STREAM_ID_LEN 8

/* Largest stream plaintext whose ciphertext fits the S3 single-object and part limit of 5 GiB. */
#define CRYPTO_PLAIN_MAX_SINGLE 5365761584ULL

/* Part number 0 is a single PUT; S3 numbers multipart parts 1 to 10000. */
#define CRYPTO_PART_NUMBER_MAX 10000

#define CRYPTO_CHUNK_VERSION 0x01
#define CRYPTO_CHUNK_FLAG_FINAL 0x01

/*
 * Returns the stored length of a stream of plain_len plaintext bytes:
 * full chunks of 65572 bytes plus, for a partial last chunk, its plaintext
 * length + 36. Saturates to UINT64_MAX when the result does not fit.
 */
uint64_t crypto_size_encrypted(uint64_t plain_len);

/*
 * Computes the plaintext length of a stream stored in cipher_len bytes.
 * Returns false, leaving *plain_len unchanged, when no plaintext length
 * encrypts to exactly cipher_len (cipher_len mod 65572 in 1..36).
 */
bool crypto_size_decrypted(uint64_t cipher_len, uint64_t *plain_len);

/*
 * Maps the plaintext bytes first..last (inclusive) of one stream to the
 * chunks that hold them: the index of the first chunk, and the ciphertext
 * bytes cipher_first..cipher_last that cover those chunks. cipher_last may
 * point past the end of the stream when the range ends in its final,
 * shorter chunk; S3 clamps such a range to the object.
 */
void crypto_range_map(uint64_t first, uint64_t last, uint64_t *first_chunk, uint64_t *cipher_first,
                      uint64_t *cipher_last);

/*
 * State of one stream being sealed or opened. The caller embeds it and
 * must call crypto_stream_cleanup once it is done, also after a failure.
 */
struct crypto_stream {
    /* owned; AES-256-GCM context keyed with key, NULL before init and after cleanup */
    EVP_CIPHER_CTX *ctx;
    /* owned copy; the opener derives key from it after reading the stream id */
    uint8_t dek[CRYPTO_DEK_LEN];
    /* owned; key_stream of docs/FORMAT.md, valid when has_key */
    uint8_t key[32];
    /* set by seal_init, or taken from the first chunk opened */
    uint8_t stream_id[CRYPTO_STREAM_ID_LEN];
    /* plaintext length of the whole stream */
    uint64_t plain_len;
    /* chunks in the whole stream: ceil(plain_len / 65536) */
    uint64_t chunk_count;
    /* sequence number of the next chunk to seal or open */
    uint64_t next_seq;
    /* 0 for a single PUT, else 1..10000 */
    uint32_t part_number;
    /* true after seal_init, false after open_init */
    bool sealing;
    /* key and ctx contain the stream key */
    bool has_key;
    /* a call failed, so every later call fails too */
    bool failed;
};

/*
 * Prepares s to encrypt a stream of plain_len bytes. Copies dek and
 * stream_id. Returns CORE_TOO_LARGE when plain_len exceeds
 * CRYPTO_PLAIN_MAX_SINGLE, CORE_INTERNAL for a part number above 10000 (the
 * caller validates client input) or an OpenSSL failure, and CORE_NOMEM when
 * the cipher context cannot be allocated. s must be zeroed or cleaned up
 * before the call, because init overwrites it without freeing anything.
 */
enum core_err crypto_stream_seal_init(struct crypto_stream *s, const uint8_t dek[CRYPTO_DEK_LEN],
                                      uint32_t part_number, const uint8_t stream_id[CRYPTO_STREAM_ID_LEN],
                                      uint64_t plain_len) CORE_WARN_UNUSED;

/*
 * Returns the plaintext bytes the next seal call must receive:
 * min(65536, bytes remaining), or 0 when the stream is complete or failed.
 */
size_t crypto_stream_next_plain_len(const struct crypto_stream *s);

/*
 * Encrypts the next chunk of plain into out (header, ciphertext, tag) and
 * sets *out_len. plain_len must equal crypto_stream_next_plain_len and
 * out_cap must be at least plain_len + 36, otherwise returns CORE_INTERNAL.
 * plain may be out + CRYPTO_CHUNK_HEADER_LEN, which seals in place; any
 * other overlap is undefined.
 */
enum core_err crypto_stream_seal_chunk(struct crypto_stream *s, const uint8_t *plain, size_t plain_len,
                                       uint8_t *out, size_t out_cap, size_t *out_len) CORE_WARN_UNUSED;

/*
 * Prepares s to decrypt a stream of plain_len bytes, starting at chunk
 * number first_chunk so that a ranged read can skip earlier chunks.
 * The stream id is taken from the first chunk opened, and every later
 * chunk must carry the same one. first_chunk must be below
 * ceil(plain_len / 65536), or 0 for an empty stream. Returns CORE_TOO_LARGE
 * when plain_len exceeds CRYPTO_PLAIN_MAX_SINGLE, CORE_INTERNAL for a part
 * number above 10000 or an invalid first_chunk, and CORE_NOMEM when the
 * cipher context cannot be allocated. s must be zeroed or cleaned up before.
 */
enum core_err crypto_stream_open_init(struct crypto_stream *s, const uint8_t dek[CRYPTO_DEK_LEN],
                                      uint32_t part_number, uint64_t plain_len,
                                      uint64_t first_chunk) CORE_WARN_UNUSED;

/* Returns the stored length of the next chunk to open, or 0 when the stream is complete or failed. */
size_t crypto_stream_next_cipher_len(const struct crypto_stream *s);

/*
 * Authenticates and decrypts the next chunk. chunk_len must equal
 * crypto_stream_next_cipher_len. Returns CORE_CRYPTO when the length, a
 * header field or the tag is wrong. plain then contains no plaintext (it is
 * wiped) and *plain_len is 0. Bytes offered after the FINAL chunk also
 * return CORE_CRYPTO. Returns CORE_INTERNAL when plain_cap is too small or
 * s was set up for sealing. After any failure the stream stays failed.
 * plain may be chunk + CRYPTO_CHUNK_HEADER_LEN, which opens in place; any
 * other overlap is undefined.
 */
enum core_err crypto_stream_open_chunk(struct crypto_stream *s, const uint8_t *chunk, size_t chunk_len,
                                       uint8_t *plain, size_t plain_cap, size_t *plain_len) CORE_WARN_UNUSED;

/*
 * Returns true when every chunk up to the FINAL one has been sealed or
 * opened and no call failed. A reader that reaches the end of the stored
 * bytes while this is false has a truncated stream.
 */
bool crypto_stream_is_complete(const struct crypto_stream *s);

/* Frees the cipher context and wipes the keys; safe on a zeroed struct and when called twice. */
void crypto_stream_cleanup(struct crypto_stream *s);

/* Fills buf with len bytes from OpenSSL's RAND_bytes; CORE_INTERNAL when it fails. */
enum core_err crypto_random(uint8_t *buf, size_t len) CORE_WARN_UNUSED;

#endif
