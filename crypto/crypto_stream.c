/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sealing and opening of the chunks of one stream: header layout, nonces,
 * position checks and AES-256-GCM through OpenSSL's EVP interface.
 */
#include "crypto/crypto_stream.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/crypto_kdf.h"
#include "crypto/crypto_mac.h"

#define NONCE_LEN 12

/* byte offsets inside the chunk header */
#define OFF_VERSION 0
#define OFF_FLAGS 1
#define OFF_LENGTH 2
#define OFF_PART 4
#define OFF_SEQ 8
#define OFF_STREAM_ID 12

/* flags byte: high nibble = suite, bit 0 = FINAL, bits 1-3 reserved */
#define FLAGS_RESERVED 0x0e

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* nonce = 4 zero bytes || BE64(seq) */
static void make_nonce(uint64_t seq, uint8_t nonce[NONCE_LEN])
{
    memset(nonce, 0, 4);
    put_be32(nonce + 4, (uint32_t)(seq >> 32));
    put_be32(nonce + 8, (uint32_t)seq);
}

/* Plaintext length of chunk seq: 65536 except for the last chunk, which takes the rest. */
static size_t chunk_plain_len(const struct crypto_stream *s, uint64_t seq)
{
    if (seq + 1 < s->chunk_count) {
        return CRYPTO_CHUNK_PLAIN_MAX;
    }
    return (size_t)(s->plain_len - seq * CRYPTO_CHUNK_PLAIN_MAX);
}

static bool is_final(const struct crypto_stream *s, uint64_t seq)
{
    return seq + 1 == s->chunk_count;
}

static bool is_done(const struct crypto_stream *s)
{
    return s->failed || s->next_seq >= s->chunk_count;
}

static void build_header(const struct crypto_stream *s, size_t plain_len,
                         uint8_t hdr[CRYPTO_CHUNK_HEADER_LEN])
{
    hdr[OFF_VERSION] = CRYPTO_CHUNK_VERSION;
    hdr[OFF_FLAGS] = (uint8_t)(CRYPTO_SUITE_AES_256_GCM << 4);
    if (is_final(s, s->next_seq)) {
        hdr[OFF_FLAGS] |= CRYPTO_CHUNK_FLAG_FINAL;
    }
    put_be16(hdr + OFF_LENGTH, (uint16_t)(plain_len - 1));
    put_be32(hdr + OFF_PART, s->part_number);
    put_be32(hdr + OFF_SEQ, (uint32_t)s->next_seq);
    memcpy(hdr + OFF_STREAM_ID, s->stream_id, CRYPTO_STREAM_ID_LEN);
}

/*
 * Derives the stream key from s->dek and s->stream_id and keys a fresh GCM
 * context with it; each chunk then only sets its nonce.
 */
static enum core_err load_key(struct crypto_stream *s)
{
    CORE_TRY(crypto_kdf_stream_key(s->dek, s->stream_id, CRYPTO_SUITE_AES_256_GCM, s->part_number, s->key));

    int ok = s->sealing ? EVP_EncryptInit_ex(s->ctx, crypto_cipher_aes_256_gcm(), NULL, s->key, NULL)
                        : EVP_DecryptInit_ex(s->ctx, crypto_cipher_aes_256_gcm(), NULL, s->key, NULL);
    CORE_ENSURE(ok == 1, CORE_INTERNAL);
    s->has_key = true;
    return CORE_OK;
}

static enum core_err stream_init(struct crypto_stream *s, const uint8_t dek[CRYPTO_DEK_LEN],
                                 uint32_t part_number, uint64_t plain_len, bool sealing)
{
    memset(s, 0, sizeof(*s));
    CORE_ENSURE(part_number <= CRYPTO_PART_NUMBER_MAX, CORE_INTERNAL);
    CORE_ENSURE(plain_len <= CRYPTO_PLAIN_MAX_SINGLE, CORE_TOO_LARGE);

    s->ctx = EVP_CIPHER_CTX_new();
    CORE_ENSURE(s->ctx != NULL, CORE_NOMEM);
    memcpy(s->dek, dek, CRYPTO_DEK_LEN);
    s->plain_len = plain_len;
    s->chunk_count = (plain_len + CRYPTO_CHUNK_PLAIN_MAX - 1) / CRYPTO_CHUNK_PLAIN_MAX;
    s->part_number = part_number;
    s->sealing = sealing;
    return CORE_OK;
}

enum core_err crypto_stream_seal_init(struct crypto_stream *s, const uint8_t dek[CRYPTO_DEK_LEN],
                                      uint32_t part_number, const uint8_t stream_id[CRYPTO_STREAM_ID_LEN],
                                      uint64_t plain_len)
{
    enum core_err err = stream_init(s, dek, part_number, plain_len, true);

    if (err == CORE_OK) {
        memcpy(s->stream_id, stream_id, CRYPTO_STREAM_ID_LEN);
        err = load_key(s);
    }
    if (err != CORE_OK) {
        crypto_stream_cleanup(s);
        s->failed = true;
    }
    return err;
}

size_t crypto_stream_next_plain_len(const struct crypto_stream *s)
{
    if (!s->sealing || is_done(s)) {
        return 0;
    }
    return chunk_plain_len(s, s->next_seq);
}

static enum core_err gcm_seal(struct crypto_stream *s, const uint8_t *hdr, const uint8_t *plain,
                              size_t plain_len, uint8_t *cipher, uint8_t *tag)
{
    uint8_t nonce[NONCE_LEN];
    int n = 0;

    make_nonce(s->next_seq, nonce);
    CORE_ENSURE(EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) == 1, CORE_INTERNAL);
    CORE_ENSURE(EVP_EncryptUpdate(s->ctx, NULL, &n, hdr, CRYPTO_CHUNK_HEADER_LEN) == 1, CORE_INTERNAL);
    CORE_ENSURE(EVP_EncryptUpdate(s->ctx, cipher, &n, plain, (int)plain_len) == 1, CORE_INTERNAL);
    CORE_ENSURE((size_t)n == plain_len, CORE_INTERNAL);
    CORE_ENSURE(EVP_EncryptFinal_ex(s->ctx, cipher + n, &n) == 1 && n == 0, CORE_INTERNAL);
    CORE_ENSURE(EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_CHUNK_TAG_LEN, tag) == 1,
                CORE_INTERNAL);
    return CORE_OK;
}

enum core_err crypto_stream_seal_chunk(struct crypto_stream *s, const uint8_t *plain, size_t plain_len,
                                       uint8_t *out, size_t out_cap, size_t *out_len)
{
    enum core_err err = CORE_INTERNAL;
    size_t expected = crypto_stream_next_plain_len(s);

    *out_len = 0;
    if (expected == 0 || plain_len != expected || out_cap < plain_len + CRYPTO_CHUNK_OVERHEAD) {
        goto out;
    }

    build_header(s, plain_len, out);
    err = gcm_seal(s, out, plain, plain_len, out + CRYPTO_CHUNK_HEADER_LEN,
                   out + CRYPTO_CHUNK_HEADER_LEN + plain_len);
    if (err == CORE_OK) {
        s->next_seq++;
        *out_len = plain_len + CRYPTO_CHUNK_OVERHEAD;
    }

out:
    if (err != CORE_OK) {
        s->failed = true;
    }
    return err;
}

enum core_err crypto_stream_open_init(struct crypto_stream *s, const uint8_t dek[CRYPTO_DEK_LEN],
                                      uint32_t part_number, uint64_t plain_len, uint64_t first_chunk)
{
    enum core_err err = stream_init(s, dek, part_number, plain_len, false);

    /* a ranged read starts on an existing chunk; only an empty stream starts at its end */
    if (err == CORE_OK && first_chunk != 0 && first_chunk >= s->chunk_count) {
        err = CORE_INTERNAL;
    }
    if (err != CORE_OK) {
        crypto_stream_cleanup(s);
        s->failed = true;
        return err;
    }
    s->next_seq = first_chunk;
    return CORE_OK;
}

size_t crypto_stream_next_cipher_len(const struct crypto_stream *s)
{
    if (s->sealing || is_done(s)) {
        return 0;
    }
    return chunk_plain_len(s, s->next_seq) + CRYPTO_CHUNK_OVERHEAD;
}

/*
 * Checks every header field against the position the opener expects. The
 * first chunk opened sets the stream id before its tag is checked. That is
 * safe because a wrong stream id derives a wrong key, so the tag check fails.
 */
static enum core_err check_header(struct crypto_stream *s, const uint8_t *hdr, size_t plain_len)
{
    uint8_t flags = (uint8_t)(CRYPTO_SUITE_AES_256_GCM << 4);

    if (is_final(s, s->next_seq)) {
        flags |= CRYPTO_CHUNK_FLAG_FINAL;
    }
    CORE_ENSURE(hdr[OFF_VERSION] == CRYPTO_CHUNK_VERSION, CORE_CRYPTO);
    CORE_ENSURE(hdr[OFF_FLAGS] == flags, CORE_CRYPTO);
    CORE_ENSURE((size_t)get_be16(hdr + OFF_LENGTH) + 1 == plain_len, CORE_CRYPTO);
    CORE_ENSURE(get_be32(hdr + OFF_PART) == s->part_number, CORE_CRYPTO);
    CORE_ENSURE(get_be32(hdr + OFF_SEQ) == s->next_seq, CORE_CRYPTO);

    if (!s->has_key) {
        memcpy(s->stream_id, hdr + OFF_STREAM_ID, CRYPTO_STREAM_ID_LEN);
        CORE_TRY(load_key(s));
    }
    CORE_ENSURE(CRYPTO_memcmp(hdr + OFF_STREAM_ID, s->stream_id, CRYPTO_STREAM_ID_LEN) == 0, CORE_CRYPTO);
    return CORE_OK;
}

static enum core_err gcm_open(struct crypto_stream *s, const uint8_t *hdr, const uint8_t *cipher, size_t len,
                              const uint8_t *tag_in, uint8_t *plain)
{
    uint8_t nonce[NONCE_LEN];
    uint8_t tag[CRYPTO_CHUNK_TAG_LEN];
    int n = 0;

    /* EVP_CTRL_AEAD_SET_TAG takes a non-const pointer */
    memcpy(tag, tag_in, sizeof(tag));
    make_nonce(s->next_seq, nonce);
    CORE_ENSURE(EVP_DecryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) == 1, CORE_INTERNAL);
    CORE_ENSURE(EVP_DecryptUpdate(s->ctx, NULL, &n, hdr, CRYPTO_CHUNK_HEADER_LEN) == 1, CORE_INTERNAL);
    CORE_ENSURE(EVP_DecryptUpdate(s->ctx, plain, &n, cipher, (int)len) == 1, CORE_INTERNAL);
    CORE_ENSURE((size_t)n == len, CORE_INTERNAL);
    CORE_ENSURE(EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_CHUNK_TAG_LEN, tag) == 1,
                CORE_INTERNAL);
    CORE_ENSURE(EVP_DecryptFinal_ex(s->ctx, plain + n, &n) == 1, CORE_CRYPTO);
    return CORE_OK;
}

enum core_err crypto_stream_open_chunk(struct crypto_stream *s, const uint8_t *chunk, size_t chunk_len,
                                       uint8_t *plain, size_t plain_cap, size_t *plain_len)
{
    enum core_err err = CORE_CRYPTO;
    size_t expected = 0;
    size_t len = 0;

    *plain_len = 0;

    /* a failed stream, or bytes after the FINAL chunk */
    if (s->sealing || is_done(s)) {
        err = s->sealing ? CORE_INTERNAL : CORE_CRYPTO;
        goto out;
    }
    expected = crypto_stream_next_cipher_len(s);
    len = expected - CRYPTO_CHUNK_OVERHEAD;
    if (plain_cap < len) {
        err = CORE_INTERNAL;
        goto out;
    }
    if (chunk_len != expected) {
        goto out;
    }

    err = check_header(s, chunk, len);
    if (err != CORE_OK) {
        goto out;
    }
    err = gcm_open(s, chunk, chunk + CRYPTO_CHUNK_HEADER_LEN, len, chunk + CRYPTO_CHUNK_HEADER_LEN + len,
                   plain);
    if (err != CORE_OK) {
        OPENSSL_cleanse(plain, len);
        goto out;
    }
    s->next_seq++;
    *plain_len = len;

out:
    if (err != CORE_OK) {
        s->failed = true;
    }
    return err;
}

bool crypto_stream_is_complete(const struct crypto_stream *s)
{
    return !s->failed && s->ctx != NULL && s->next_seq == s->chunk_count;
}

void crypto_stream_cleanup(struct crypto_stream *s)
{
    EVP_CIPHER_CTX_free(s->ctx);
    s->ctx = NULL;
    OPENSSL_cleanse(s->dek, sizeof(s->dek));
    OPENSSL_cleanse(s->key, sizeof(s->key));
    s->has_key = false;
}

enum core_err crypto_random(uint8_t *buf, size_t len)
{
    CORE_ENSURE(len <= INT32_MAX, CORE_INTERNAL);
    CORE_ENSURE(RAND_bytes(buf, (int)len) == 1, CORE_INTERNAL);
    return CORE_OK;
}
