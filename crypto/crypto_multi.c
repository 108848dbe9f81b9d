/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening the chunks of a multipart object one by one: each header gives
 * the chunk's length, part number, sequence number and stream id, and the
 * reader checks them against the chunk before it.
 */
#include "crypto/crypto_multi.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto_kdf.h"
#include "crypto/crypto_mac.h"

#define NONCE_LEN 12

/* byte offsets inside the chunk header, as in crypto_stream.c */
#define OFF_VERSION 0
#define OFF_FLAGS 1
#define OFF_LENGTH 2
#define OFF_PART 4
#define OFF_SEQ 8
#define OFF_STREAM_ID 12

/* flags byte: high nibble = suite, bit 0 = FINAL, bits 1-3 reserved */
#define FLAGS_RESERVED 0x0e

/* the header fields that crypto_multi_open_chunk checks */
struct chunk_header {
    size_t plain_len;
    uint32_t part_number;
    uint32_t seq;
    bool final;
    const uint8_t *stream_id;
};

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

enum core_err crypto_multi_open_init(struct crypto_multi_open *m, const uint8_t dek[CRYPTO_DEK_LEN],
                                     bool from_start)
{
    memset(m, 0, sizeof(*m));
    m->ctx = EVP_CIPHER_CTX_new();
    if (m->ctx == NULL) {
        m->failed = true;
        return CORE_NOMEM;
    }
    memcpy(m->dek, dek, CRYPTO_DEK_LEN);
    m->from_start = from_start;
    return CORE_OK;
}

enum core_err crypto_multi_chunk_len(const uint8_t header[CRYPTO_CHUNK_HEADER_LEN], size_t *chunk_len)
{
    uint8_t flags = header[OFF_FLAGS];

    CORE_ENSURE(header[OFF_VERSION] == CRYPTO_CHUNK_VERSION, CORE_CRYPTO);
    CORE_ENSURE(flags >> 4 == CRYPTO_SUITE_AES_256_GCM, CORE_CRYPTO);
    CORE_ENSURE((flags & FLAGS_RESERVED) == 0, CORE_CRYPTO);

    /* the length field stores plaintext length - 1, so 0xffff is a full chunk */
    *chunk_len = (((size_t)header[OFF_LENGTH] << 8) | header[OFF_LENGTH + 1]) + 1 + CRYPTO_CHUNK_OVERHEAD;
    return CORE_OK;
}

static void parse_header(const uint8_t *hdr, size_t chunk_len, struct chunk_header *h)
{
    h->plain_len = chunk_len - CRYPTO_CHUNK_OVERHEAD;
    h->part_number = get_be32(hdr + OFF_PART);
    h->seq = get_be32(hdr + OFF_SEQ);
    h->final = (hdr[OFF_FLAGS] & CRYPTO_CHUNK_FLAG_FINAL) != 0;
    h->stream_id = hdr + OFF_STREAM_ID;
}

/*
 * Checks a chunk on its own: a multipart part number, a full chunk unless
 * FINAL, and a position that a stream of at most CRYPTO_PLAIN_MAX_SINGLE
 * bytes can have. The last check also keeps seq + 1 from overflowing.
 */
static enum core_err check_chunk(const struct chunk_header *h)
{
    uint64_t end = (uint64_t)h->seq * CRYPTO_CHUNK_PLAIN_MAX + h->plain_len;

    CORE_ENSURE(h->part_number >= 1 && h->part_number <= CRYPTO_PART_NUMBER_MAX, CORE_CRYPTO);
    CORE_ENSURE(h->final || h->plain_len == CRYPTO_CHUNK_PLAIN_MAX, CORE_CRYPTO);
    /* a non-FINAL chunk needs room for at least one more byte after it */
    CORE_ENSURE(end + (h->final ? 0 : 1) <= CRYPTO_PLAIN_MAX_SINGLE, CORE_CRYPTO);
    return CORE_OK;
}

/*
 * Checks that the chunk may follow the previous one: the next chunk of the
 * same stream after a non-FINAL chunk, else the first chunk of a stream
 * with a larger part number. A ranged read may start anywhere.
 */
static enum core_err check_position(const struct crypto_multi_open *m, const struct chunk_header *h)
{
    if (!m->started) {
        CORE_ENSURE(!m->from_start || h->seq == 0, CORE_CRYPTO);
        return CORE_OK;
    }
    if (m->at_final) {
        CORE_ENSURE(h->part_number > m->part_number, CORE_CRYPTO);
        CORE_ENSURE(h->seq == 0, CORE_CRYPTO);
        return CORE_OK;
    }
    CORE_ENSURE(h->part_number == m->part_number, CORE_CRYPTO);
    CORE_ENSURE(h->seq == m->seq + 1, CORE_CRYPTO);
    CORE_ENSURE(CRYPTO_memcmp(h->stream_id, m->stream_id, CRYPTO_STREAM_ID_LEN) == 0, CORE_CRYPTO);
    return CORE_OK;
}

/*
 * Derives key_stream for the chunk's stream id and part number unless it is
 * cached. The stream id is taken before the tag is checked, which is safe
 * because another stream id derives another key, so the tag check fails.
 */
static enum core_err load_key(struct crypto_multi_open *m, const struct chunk_header *h)
{
    if (m->has_key && m->key_part_number == h->part_number &&
        memcmp(m->key_stream_id, h->stream_id, CRYPTO_STREAM_ID_LEN) == 0) {
        return CORE_OK;
    }

    m->has_key = false;
    CORE_TRY(crypto_kdf_stream_key(m->dek, h->stream_id, CRYPTO_SUITE_AES_256_GCM, h->part_number, m->key));
    CORE_ENSURE(EVP_DecryptInit_ex(m->ctx, crypto_cipher_aes_256_gcm(), NULL, m->key, NULL) == 1,
                CORE_INTERNAL);
    memcpy(m->key_stream_id, h->stream_id, CRYPTO_STREAM_ID_LEN);
    m->key_part_number = h->part_number;
    m->has_key = true;
    return CORE_OK;
}

/* AES-256-GCM with nonce = 4 zero bytes || BE64(seq) and the header as AAD. */
static enum core_err gcm_open(struct crypto_multi_open *m, const uint8_t *chunk, const struct chunk_header *h,
                              uint8_t *plain)
{
    const uint8_t *cipher = chunk + CRYPTO_CHUNK_HEADER_LEN;
    uint8_t nonce[NONCE_LEN] = {0};
    uint8_t tag[CRYPTO_CHUNK_TAG_LEN];
    int n = 0;

    /* the sequence number has 32 bits, so the upper half of BE64(seq) stays zero */
    memcpy(nonce + 8, chunk + OFF_SEQ, 4);
    /* EVP_CTRL_AEAD_SET_TAG takes a non-const pointer */
    memcpy(tag, cipher + h->plain_len, sizeof(tag));
    CORE_ENSURE(EVP_DecryptInit_ex(m->ctx, NULL, NULL, NULL, nonce) == 1, CORE_INTERNAL);
    CORE_ENSURE(EVP_DecryptUpdate(m->ctx, NULL, &n, chunk, CRYPTO_CHUNK_HEADER_LEN) == 1, CORE_INTERNAL);
    CORE_ENSURE(EVP_DecryptUpdate(m->ctx, plain, &n, cipher, (int)h->plain_len) == 1, CORE_INTERNAL);
    CORE_ENSURE((size_t)n == h->plain_len, CORE_INTERNAL);
    CORE_ENSURE(EVP_CIPHER_CTX_ctrl(m->ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_CHUNK_TAG_LEN, tag) == 1,
                CORE_INTERNAL);
    CORE_ENSURE(EVP_DecryptFinal_ex(m->ctx, plain + n, &n) == 1, CORE_CRYPTO);
    return CORE_OK;
}

/* Parses, checks and decrypts one chunk without changing the position state. */
static enum core_err open_chunk(struct crypto_multi_open *m, const uint8_t *chunk, size_t chunk_len,
                                uint8_t *plain, size_t plain_cap, struct chunk_header *h)
{
    size_t expected = 0;

    CORE_ENSURE(m->ctx != NULL, CORE_INTERNAL);
    CORE_ENSURE(!m->failed, CORE_CRYPTO);
    CORE_ENSURE(chunk_len >= CRYPTO_CHUNK_HEADER_LEN, CORE_CRYPTO);
    CORE_TRY(crypto_multi_chunk_len(chunk, &expected));
    CORE_ENSURE(chunk_len == expected, CORE_CRYPTO);

    parse_header(chunk, chunk_len, h);
    CORE_ENSURE(plain_cap >= h->plain_len, CORE_INTERNAL);
    CORE_TRY(check_chunk(h));
    CORE_TRY(check_position(m, h));
    CORE_TRY(load_key(m, h));
    return gcm_open(m, chunk, h, plain);
}

enum core_err crypto_multi_open_chunk(struct crypto_multi_open *m, const uint8_t *chunk, size_t chunk_len,
                                      uint8_t *plain, size_t plain_cap, size_t *plain_len)
{
    struct chunk_header h;
    enum core_err err = CORE_OK;
    bool failed_before = m->failed;

    *plain_len = 0;
    memset(&h, 0, sizeof(h));
    err = open_chunk(m, chunk, chunk_len, plain, plain_cap, &h);
    if (err != CORE_OK) {
        /* only decryption writes to plain, and never more than one full chunk */
        if (plain != NULL) {
            OPENSSL_cleanse(plain, plain_cap < CRYPTO_CHUNK_PLAIN_MAX ? plain_cap : CRYPTO_CHUNK_PLAIN_MAX);
        }
        m->failed = true;
        return failed_before ? CORE_CRYPTO : err;
    }

    memcpy(m->stream_id, h.stream_id, CRYPTO_STREAM_ID_LEN);
    m->part_number = h.part_number;
    m->seq = h.seq;
    m->at_final = h.final;
    m->started = true;
    *plain_len = h.plain_len;
    return CORE_OK;
}

bool crypto_multi_open_at_final(const struct crypto_multi_open *m)
{
    return !m->failed && m->started && m->at_final;
}

void crypto_multi_open_cleanup(struct crypto_multi_open *m)
{
    EVP_CIPHER_CTX_free(m->ctx);
    m->ctx = NULL;
    OPENSSL_cleanse(m->dek, sizeof(m->dek));
    OPENSSL_cleanse(m->key, sizeof(m->key));
    m->has_key = false;
}
