/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of crypto/crypto_stream.c: round trips fed the way a streaming
 * caller feeds them, and rejection of tampered, truncated, extended,
 * reordered and spliced streams.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/crypto_kdf.h"
#include "crypto/crypto_stream.h"
#include "test_check.h"

#define K CRYPTO_CHUNK_PLAIN_MAX
#define POISON 0xAA

static const uint8_t dek_a[CRYPTO_DEK_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t dek_b[CRYPTO_DEK_LEN] = {32, 31, 30};
static const uint8_t sid_a[CRYPTO_STREAM_ID_LEN] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};
static const uint8_t sid_b[CRYPTO_STREAM_ID_LEN] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8};

/* result of opening a whole stream */
struct open_result {
    enum core_err err; /* CORE_OK only when every chunk opened and the stream is complete */
    size_t plain_len;  /* plaintext bytes released by successful chunks */
    bool leaked;       /* a failing open_chunk call left plaintext in its output buffer */
};

static uint8_t *make_plain(size_t len, uint8_t seed)
{
    uint8_t *p = malloc(len + 1);

    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 31 + seed + (i >> 16));
    }
    return p;
}

/*
 * Seals plain the way the proxy does: input arrives in pieces of `piece`
 * bytes and is staged until a whole chunk's worth is there.
 */
static uint8_t *seal_stream(const uint8_t *dek, uint32_t part, const uint8_t *sid, const uint8_t *plain,
                            size_t len, size_t piece, size_t *cipher_len)
{
    struct crypto_stream s;
    uint8_t *cipher = malloc(crypto_size_encrypted(len) + 1);
    uint8_t *stage = malloc(K);
    size_t staged = 0;
    size_t written = 0;

    *cipher_len = 0;
    CHECK(crypto_stream_seal_init(&s, dek, part, sid, len) == CORE_OK);
    for (size_t off = 0; off < len;) {
        size_t take = len - off < piece ? len - off : piece;
        size_t need = crypto_stream_next_plain_len(&s);

        if (take > need - staged) {
            take = need - staged;
        }
        memcpy(stage + staged, plain + off, take);
        staged += take;
        off += take;
        if (staged == need) {
            size_t n = 0;

            CHECK(crypto_stream_seal_chunk(&s, stage, staged, cipher + written, CRYPTO_CHUNK_CIPHER_MAX,
                                           &n) == CORE_OK);
            CHECK(n == staged + CRYPTO_CHUNK_OVERHEAD);
            written += n;
            staged = 0;
        }
    }
    CHECK(crypto_stream_next_plain_len(&s) == 0);
    CHECK(crypto_stream_is_complete(&s));
    CHECK(written == crypto_size_encrypted(len));
    crypto_stream_cleanup(&s);
    free(stage);
    *cipher_len = written;
    return cipher;
}

static bool only_poison_or_zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != POISON && buf[i] != 0) {
            return false;
        }
    }
    return true;
}

/*
 * Opens cipher like a reader of the backend response: it takes
 * next_cipher_len bytes at a time, passes a short tail as is, offers any
 * bytes left after completion, and treats an incomplete end as a failure.
 */
static struct open_result open_stream(const uint8_t *dek, uint32_t part, uint64_t plain_len,
                                      uint64_t first_chunk, const uint8_t *cipher, size_t cipher_len,
                                      uint8_t *plain_out)
{
    struct open_result r = {CORE_OK, 0, false};
    struct crypto_stream s;
    uint8_t *buf = malloc(K);
    size_t off = 0;

    r.err = crypto_stream_open_init(&s, dek, part, plain_len, first_chunk);
    while (r.err == CORE_OK && off < cipher_len) {
        size_t want = crypto_stream_next_cipher_len(&s);
        size_t take = want == 0 || cipher_len - off < want ? cipher_len - off : want;
        size_t n = 99;

        memset(buf, POISON, K);
        r.err = crypto_stream_open_chunk(&s, cipher + off, take, buf, K, &n);
        if (r.err != CORE_OK) {
            r.leaked = n != 0 || !only_poison_or_zero(buf, K);
            break;
        }
        memcpy(plain_out + r.plain_len, buf, n);
        r.plain_len += n;
        off += take;
    }
    if (r.err == CORE_OK && !crypto_stream_is_complete(&s)) {
        r.err = CORE_CRYPTO;
    }
    crypto_stream_cleanup(&s);
    free(buf);
    return r;
}

static void check_round_trip(size_t len, size_t piece)
{
    uint8_t *plain = make_plain(len, (uint8_t)len);
    size_t cipher_len = 0;
    uint8_t *cipher = seal_stream(dek_a, 0, sid_a, plain, len, piece, &cipher_len);
    uint8_t *back = malloc(len + 1);
    struct open_result r = open_stream(dek_a, 0, len, 0, cipher, cipher_len, back);

    CHECK(r.err == CORE_OK);
    CHECK(r.plain_len == len);
    CHECK(len == 0 || memcmp(back, plain, len) == 0);
    free(plain);
    free(cipher);
    free(back);
}

static void test_stream_round_trips_all_sizes(void)
{
    static const size_t sizes[] = {0,     1,         2,     100,   4096,       K - 1,        K,
                                   K + 1, 2 * K - 1, 2 * K, 3 * K, 3 * K + 17, 5 * K + 12345};
    static const size_t pieces[] = {1000, 7777, K, 3 * K};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
            check_round_trip(sizes[i], pieces[j]);
        }
    }
}

static void test_stream_round_trips_multipart_part(void)
{
    uint8_t *plain = make_plain(K + 5, 9);
    size_t cipher_len = 0;
    uint8_t *cipher = seal_stream(dek_a, 10000, sid_b, plain, K + 5, K, &cipher_len);
    uint8_t *back = malloc(K + 5);
    struct open_result r = open_stream(dek_a, 10000, K + 5, 0, cipher, cipher_len, back);

    CHECK(r.err == CORE_OK);
    CHECK(memcmp(back, plain, K + 5) == 0);
    free(plain);
    free(cipher);
    free(back);
}

static void test_stream_header_layout(void)
{
    uint8_t *plain = make_plain(K + 1, 1);
    size_t cipher_len = 0;
    uint8_t *c = seal_stream(dek_a, 258, sid_a, plain, K + 1, K, &cipher_len);
    const uint8_t *second = c + CRYPTO_CHUNK_CIPHER_MAX;
    static const uint8_t first_hdr[12] = {0x01, 0x00, 0xff, 0xff, 0, 0, 1, 2, 0, 0, 0, 0};
    static const uint8_t second_hdr[12] = {0x01, 0x01, 0x00, 0x00, 0, 0, 1, 2, 0, 0, 0, 1};

    CHECK(cipher_len == CRYPTO_CHUNK_CIPHER_MAX + 37);
    CHECK(memcmp(c, first_hdr, sizeof(first_hdr)) == 0);
    CHECK(memcmp(c + 12, sid_a, CRYPTO_STREAM_ID_LEN) == 0);
    CHECK(memcmp(second, second_hdr, sizeof(second_hdr)) == 0);
    CHECK(memcmp(second + 12, sid_a, CRYPTO_STREAM_ID_LEN) == 0);
    free(plain);
    free(c);
}

/*
 * Flips one bit and expects the whole-stream open to fail, releasing only
 * the chunks before the tampered one.
 */
static bool flip_is_rejected(uint8_t *cipher, size_t cipher_len, uint64_t plain_len, size_t bit,
                             uint8_t *back)
{
    struct open_result r;
    size_t good_prefix = (bit / 8) / CRYPTO_CHUNK_CIPHER_MAX * K;

    cipher[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    r = open_stream(dek_a, 0, plain_len, 0, cipher, cipher_len, back);
    cipher[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    return r.err == CORE_CRYPTO && !r.leaked && r.plain_len == good_prefix;
}

static void test_stream_rejects_every_bit_flip_small(void)
{
    uint8_t *plain = make_plain(100, 3);
    size_t cipher_len = 0;
    uint8_t *cipher = seal_stream(dek_a, 0, sid_a, plain, 100, 100, &cipher_len);
    uint8_t *back = malloc(K);
    size_t rejected = 0;

    for (size_t bit = 0; bit < cipher_len * 8; bit++) {
        rejected += flip_is_rejected(cipher, cipher_len, 100, bit, back);
    }
    CHECK(rejected == cipher_len * 8);
    free(plain);
    free(cipher);
    free(back);
}

/* Every bit of both headers and tags, and every 499th bit of the bodies. */
static bool is_sampled_bit(size_t bit, size_t cipher_len)
{
    size_t byte = bit / 8;
    size_t in_chunk = byte % CRYPTO_CHUNK_CIPHER_MAX;
    size_t chunk_end = byte - in_chunk + CRYPTO_CHUNK_CIPHER_MAX;

    if (chunk_end > cipher_len) {
        chunk_end = cipher_len;
    }
    return in_chunk < CRYPTO_CHUNK_HEADER_LEN || byte >= chunk_end - CRYPTO_CHUNK_TAG_LEN || bit % 499 == 0;
}

static void test_stream_rejects_bit_flips_two_chunks(void)
{
    uint8_t *plain = make_plain(K + 1, 4);
    size_t cipher_len = 0;
    uint8_t *cipher = seal_stream(dek_a, 0, sid_a, plain, K + 1, K, &cipher_len);
    uint8_t *back = malloc(2 * K);
    size_t tried = 0;
    size_t rejected = 0;

    for (size_t bit = 0; bit < cipher_len * 8; bit++) {
        if (is_sampled_bit(bit, cipher_len)) {
            tried++;
            rejected += flip_is_rejected(cipher, cipher_len, K + 1, bit, back);
        }
    }
    CHECK(tried > 4 * 36 * 8);
    CHECK(rejected == tried);
    free(plain);
    free(cipher);
    free(back);
}

/* A fixture of three full chunks and a 5-byte final chunk, sealed with dek_a, part 0 and sid_a. */
struct fixture {
    uint8_t *plain;
    uint8_t *cipher;
    size_t cipher_len;
    uint8_t *back;
    uint64_t plain_len;
};

static void fixture_init(struct fixture *f)
{
    f->plain_len = 3 * K + 5;
    f->plain = make_plain(f->plain_len, 5);
    f->cipher = seal_stream(dek_a, 0, sid_a, f->plain, f->plain_len, K, &f->cipher_len);
    f->back = malloc(f->plain_len + 2 * K);
}

static void fixture_cleanup(struct fixture *f)
{
    free(f->plain);
    free(f->cipher);
    free(f->back);
}

static enum core_err open_fixture(struct fixture *f, const uint8_t *cipher, size_t cipher_len)
{
    return open_stream(dek_a, 0, f->plain_len, 0, cipher, cipher_len, f->back).err;
}

static void test_stream_rejects_truncation(void)
{
    struct fixture f;

    fixture_init(&f);
    /* dropping the final chunk leaves three valid chunks but no FINAL */
    CHECK(open_fixture(&f, f.cipher, 3 * CRYPTO_CHUNK_CIPHER_MAX) == CORE_CRYPTO);
    CHECK(open_fixture(&f, f.cipher, 2 * CRYPTO_CHUNK_CIPHER_MAX) == CORE_CRYPTO);
    CHECK(open_fixture(&f, f.cipher, 0) == CORE_CRYPTO);
    /* mid-chunk cuts */
    CHECK(open_fixture(&f, f.cipher, f.cipher_len - 1) == CORE_CRYPTO);
    CHECK(open_fixture(&f, f.cipher, 3 * CRYPTO_CHUNK_CIPHER_MAX + 20) == CORE_CRYPTO);
    CHECK(open_fixture(&f, f.cipher, CRYPTO_CHUNK_CIPHER_MAX + 100) == CORE_CRYPTO);
    CHECK(open_fixture(&f, f.cipher, f.cipher_len) == CORE_OK);
    fixture_cleanup(&f);
}

static void test_stream_rejects_final_full_chunk_dropped(void)
{
    uint8_t *plain = make_plain(2 * K, 6);
    size_t cipher_len = 0;
    uint8_t *cipher = seal_stream(dek_a, 0, sid_a, plain, 2 * K, K, &cipher_len);
    uint8_t *back = malloc(2 * K);

    CHECK(open_stream(dek_a, 0, 2 * K, 0, cipher, CRYPTO_CHUNK_CIPHER_MAX, back).err == CORE_CRYPTO);
    /* the first chunk alone, claimed to be a one-chunk stream: it lacks FINAL */
    CHECK(open_stream(dek_a, 0, K, 0, cipher, CRYPTO_CHUNK_CIPHER_MAX, back).err == CORE_CRYPTO);
    free(plain);
    free(cipher);
    free(back);
}

static void test_stream_rejects_bytes_after_final(void)
{
    struct fixture f;
    uint8_t *longer = NULL;

    fixture_init(&f);
    longer = malloc(f.cipher_len + CRYPTO_CHUNK_CIPHER_MAX);
    memcpy(longer, f.cipher, f.cipher_len);
    longer[f.cipher_len] = 0;
    CHECK(open_fixture(&f, longer, f.cipher_len + 1) == CORE_CRYPTO);

    /* a repeated full chunk after the final one */
    memcpy(longer + f.cipher_len, f.cipher, CRYPTO_CHUNK_CIPHER_MAX);
    CHECK(open_fixture(&f, longer, f.cipher_len + CRYPTO_CHUNK_CIPHER_MAX) == CORE_CRYPTO);
    free(longer);
    fixture_cleanup(&f);
}

static void test_stream_rejects_reordered_chunks(void)
{
    struct fixture f;
    uint8_t *swapped = NULL;

    fixture_init(&f);
    swapped = malloc(f.cipher_len);
    memcpy(swapped, f.cipher, f.cipher_len);
    memcpy(swapped, f.cipher + CRYPTO_CHUNK_CIPHER_MAX, CRYPTO_CHUNK_CIPHER_MAX);
    memcpy(swapped + CRYPTO_CHUNK_CIPHER_MAX, f.cipher, CRYPTO_CHUNK_CIPHER_MAX);
    CHECK(open_fixture(&f, swapped, f.cipher_len) == CORE_CRYPTO);

    /* a repeated chunk in place of the next one is a sequence gap */
    memcpy(swapped, f.cipher, f.cipher_len);
    memcpy(swapped + CRYPTO_CHUNK_CIPHER_MAX, f.cipher, CRYPTO_CHUNK_CIPHER_MAX);
    CHECK(open_fixture(&f, swapped, f.cipher_len) == CORE_CRYPTO);

    /* chunk 2 where chunk 1 belongs, with the final chunk after it: a skipped sequence number */
    memcpy(swapped, f.cipher, CRYPTO_CHUNK_CIPHER_MAX);
    memcpy(swapped + CRYPTO_CHUNK_CIPHER_MAX, f.cipher + 2 * CRYPTO_CHUNK_CIPHER_MAX,
           f.cipher_len - 2 * CRYPTO_CHUNK_CIPHER_MAX);
    CHECK(open_fixture(&f, swapped, f.cipher_len - CRYPTO_CHUNK_CIPHER_MAX) == CORE_CRYPTO);
    free(swapped);
    fixture_cleanup(&f);
}

static void test_stream_rejects_chunk_from_other_stream(void)
{
    struct fixture f;
    size_t other_len = 0;
    uint8_t *other = NULL;
    uint8_t *spliced = NULL;

    fixture_init(&f);
    other = seal_stream(dek_a, 0, sid_b, f.plain, f.plain_len, K, &other_len);
    CHECK(open_fixture(&f, other, other_len) == CORE_OK);

    spliced = malloc(f.cipher_len);
    memcpy(spliced, f.cipher, f.cipher_len);
    memcpy(spliced + CRYPTO_CHUNK_CIPHER_MAX, other + CRYPTO_CHUNK_CIPHER_MAX, CRYPTO_CHUNK_CIPHER_MAX);
    CHECK(open_fixture(&f, spliced, f.cipher_len) == CORE_CRYPTO);

    /* the first chunk from the other stream, the rest from this one */
    memcpy(spliced, f.cipher, f.cipher_len);
    memcpy(spliced, other, CRYPTO_CHUNK_CIPHER_MAX);
    CHECK(open_fixture(&f, spliced, f.cipher_len) == CORE_CRYPTO);

    /* a stream id rewritten in the header derives another key */
    memcpy(spliced, f.cipher, f.cipher_len);
    for (size_t c = 0; c < 4; c++) {
        memcpy(spliced + c * CRYPTO_CHUNK_CIPHER_MAX + 12, sid_b, CRYPTO_STREAM_ID_LEN);
    }
    CHECK(open_fixture(&f, spliced, f.cipher_len) == CORE_CRYPTO);
    free(spliced);
    free(other);
    fixture_cleanup(&f);
}

static void test_stream_rejects_other_part_number(void)
{
    struct fixture f;
    size_t part_len = 0;
    uint8_t *part1 = NULL;
    uint8_t *part2 = NULL;
    uint8_t *spliced = NULL;

    fixture_init(&f);
    part1 = seal_stream(dek_a, 1, sid_a, f.plain, f.plain_len, K, &part_len);
    part2 = seal_stream(dek_a, 2, sid_a, f.plain, f.plain_len, K, &part_len);
    CHECK(open_stream(dek_a, 1, f.plain_len, 0, part1, part_len, f.back).err == CORE_OK);
    CHECK(open_stream(dek_a, 2, f.plain_len, 0, part1, part_len, f.back).err == CORE_CRYPTO);
    CHECK(open_stream(dek_a, 0, f.plain_len, 0, part1, part_len, f.back).err == CORE_CRYPTO);

    spliced = malloc(part_len);
    memcpy(spliced, part1, part_len);
    memcpy(spliced + CRYPTO_CHUNK_CIPHER_MAX, part2 + CRYPTO_CHUNK_CIPHER_MAX, CRYPTO_CHUNK_CIPHER_MAX);
    CHECK(open_stream(dek_a, 1, f.plain_len, 0, spliced, part_len, f.back).err == CORE_CRYPTO);

    /* part number rewritten in every header: the key differs, so the tags fail */
    memcpy(spliced, part1, part_len);
    for (size_t c = 0; c < 4; c++) {
        spliced[c * CRYPTO_CHUNK_CIPHER_MAX + 7] = 2;
    }
    CHECK(open_stream(dek_a, 2, f.plain_len, 0, spliced, part_len, f.back).err == CORE_CRYPTO);
    free(spliced);
    free(part1);
    free(part2);
    fixture_cleanup(&f);
}

static void test_stream_rejects_wrong_dek(void)
{
    struct fixture f;

    fixture_init(&f);
    CHECK(open_stream(dek_b, 0, f.plain_len, 0, f.cipher, f.cipher_len, f.back).err == CORE_CRYPTO);
    fixture_cleanup(&f);
}

static void test_stream_rejects_wrong_plain_len(void)
{
    struct fixture f;

    fixture_init(&f);
    /* FINAL expected on another chunk, or a final chunk of another length */
    CHECK(open_fixture(&f, f.cipher, f.cipher_len) == CORE_OK);
    CHECK(open_stream(dek_a, 0, f.plain_len + 1, 0, f.cipher, f.cipher_len, f.back).err == CORE_CRYPTO);
    CHECK(open_stream(dek_a, 0, f.plain_len - 1, 0, f.cipher, f.cipher_len, f.back).err == CORE_CRYPTO);
    CHECK(open_stream(dek_a, 0, 3 * K, 0, f.cipher, f.cipher_len, f.back).err == CORE_CRYPTO);
    CHECK(open_stream(dek_a, 0, 4 * K + 5, 0, f.cipher, f.cipher_len, f.back).err == CORE_CRYPTO);
    CHECK(open_stream(dek_a, 0, 0, 0, f.cipher, f.cipher_len, f.back).err == CORE_CRYPTO);
    fixture_cleanup(&f);
}

/* Rewrites header bytes of the first chunk; the opener must reject each before decrypting. */
static void test_stream_rejects_unknown_header_values(void)
{
    static const struct {
        size_t offset;
        uint8_t value;
    } cases[] = {
        {0, 0x00}, {0, 0x02}, {0, 0xff},            /* version */
        {1, 0x10}, {1, 0xf0}, {1, 0x02}, {1, 0x04}, /* suite nibble, reserved bits */
        {1, 0x08}, {1, 0x01},                       /* reserved bit, FINAL on a non-final chunk */
        {2, 0x00}, {3, 0xfe},                       /* length */
    };
    struct fixture f;
    uint8_t *copy = NULL;

    fixture_init(&f);
    copy = malloc(f.cipher_len);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(copy, f.cipher, f.cipher_len);
        copy[cases[i].offset] = cases[i].value;
        CHECK(open_fixture(&f, copy, f.cipher_len) == CORE_CRYPTO);
    }

    /* the final chunk without its FINAL bit */
    memcpy(copy, f.cipher, f.cipher_len);
    copy[3 * CRYPTO_CHUNK_CIPHER_MAX + 1] = 0x00;
    CHECK(open_fixture(&f, copy, f.cipher_len) == CORE_CRYPTO);
    free(copy);
    fixture_cleanup(&f);
}

/* Header fields of a forged chunk. */
struct forged_header {
    uint8_t version;
    uint8_t flags;
    uint16_t length_field;
    uint32_t part_number;
    uint32_t seq;
    const uint8_t *stream_id;
};

/*
 * Seals a chunk with any header, as a writer holding the DEK could, using
 * the stream key of (key_sid, key_part) and the nonce of nonce_seq. The tag
 * is then valid, so only the reader's header checks can reject the chunk.
 */
static size_t forge_chunk(uint8_t *out, const uint8_t *key_sid, uint32_t key_part, uint64_t nonce_seq,
                          const struct forged_header *f, const uint8_t *plain, size_t len)
{
    uint8_t key[32];
    uint8_t nonce[12] = {0};
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;

    out[0] = f->version;
    out[1] = f->flags;
    out[2] = (uint8_t)(f->length_field >> 8);
    out[3] = (uint8_t)f->length_field;
    for (int i = 0; i < 4; i++) {
        out[4 + i] = (uint8_t)(f->part_number >> (24 - 8 * i));
        out[8 + i] = (uint8_t)(f->seq >> (24 - 8 * i));
    }
    memcpy(out + 12, f->stream_id, CRYPTO_STREAM_ID_LEN);
    for (int i = 0; i < 8; i++) {
        nonce[4 + i] = (uint8_t)(nonce_seq >> (56 - 8 * i));
    }

    CHECK(crypto_kdf_stream_key(dek_a, key_sid, CRYPTO_SUITE_AES_256_GCM, key_part, key) == CORE_OK);
    CHECK(ctx != NULL);
    CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1);
    CHECK(EVP_EncryptUpdate(ctx, NULL, &n, out, CRYPTO_CHUNK_HEADER_LEN) == 1);
    CHECK(EVP_EncryptUpdate(ctx, out + CRYPTO_CHUNK_HEADER_LEN, &n, plain, (int)len) == 1);
    CHECK(EVP_EncryptFinal_ex(ctx, out + CRYPTO_CHUNK_HEADER_LEN + len, &n) == 1);
    CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_CHUNK_TAG_LEN,
                              out + CRYPTO_CHUNK_HEADER_LEN + len) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return len + CRYPTO_CHUNK_OVERHEAD;
}

/* Replaces chunk 1 (a full, non-final chunk) of the fixture with a forged one and opens the result. */
static enum core_err open_with_forged_chunk1(struct fixture *f, const uint8_t *key_sid, uint32_t key_part,
                                             uint64_t nonce_seq, const struct forged_header *h)
{
    uint8_t *copy = malloc(f->cipher_len);
    enum core_err err = CORE_OK;

    memcpy(copy, f->cipher, f->cipher_len);
    forge_chunk(copy + CRYPTO_CHUNK_CIPHER_MAX, key_sid, key_part, nonce_seq, h, f->plain + K, K);
    err = open_fixture(f, copy, f->cipher_len);
    free(copy);
    return err;
}

static void test_stream_rejects_authentic_misplaced_headers(void)
{
    const struct forged_header good = {0x01, 0x00, 0xffff, 0, 1, sid_a};
    struct forged_header h;
    struct fixture f;

    fixture_init(&f);
    /* control: a forged chunk with the right header opens, so the helper matches the format */
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &good) == CORE_OK);

    h = good;
    h.seq = 2;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);
    h = good;
    h.stream_id = sid_b;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);
    h = good;
    h.part_number = 3;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);
    h = good;
    h.length_field = 0xfffe;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);
    h = good;
    h.flags = CRYPTO_CHUNK_FLAG_FINAL;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);
    h = good;
    h.flags = 0x02;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);
    h = good;
    h.flags = 0x10;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);
    h = good;
    h.version = 0x02;
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 1, &h) == CORE_CRYPTO);

    /* the nonce follows the position, not the sequence field */
    CHECK(open_with_forged_chunk1(&f, sid_a, 0, 2, &good) == CORE_CRYPTO);
    fixture_cleanup(&f);
}

static void test_stream_stays_failed_after_error(void)
{
    struct fixture f;
    struct crypto_stream s;
    uint8_t *bad = NULL;
    size_t n = 0;

    fixture_init(&f);
    bad = malloc(CRYPTO_CHUNK_CIPHER_MAX);
    memcpy(bad, f.cipher, CRYPTO_CHUNK_CIPHER_MAX);
    bad[CRYPTO_CHUNK_CIPHER_MAX - 1] ^= 1;

    CHECK(crypto_stream_open_init(&s, dek_a, 0, f.plain_len, 0) == CORE_OK);
    CHECK(crypto_stream_open_chunk(&s, bad, CRYPTO_CHUNK_CIPHER_MAX, f.back, K, &n) == CORE_CRYPTO);
    CHECK(crypto_stream_open_chunk(&s, f.cipher, CRYPTO_CHUNK_CIPHER_MAX, f.back, K, &n) == CORE_CRYPTO);
    CHECK(n == 0);
    CHECK(crypto_stream_next_cipher_len(&s) == 0);
    CHECK(!crypto_stream_is_complete(&s));
    crypto_stream_cleanup(&s);
    free(bad);
    fixture_cleanup(&f);
}

static void test_stream_ranged_open_starts_mid_stream(void)
{
    struct fixture f;
    size_t from = 2 * CRYPTO_CHUNK_CIPHER_MAX;
    struct open_result r;

    fixture_init(&f);
    r = open_stream(dek_a, 0, f.plain_len, 2, f.cipher + from, f.cipher_len - from, f.back);
    CHECK(r.err == CORE_OK);
    CHECK(r.plain_len == K + 5);
    CHECK(memcmp(f.back, f.plain + 2 * K, K + 5) == 0);

    /* the chunk at position 2 must be chunk 2, not chunk 1 */
    r = open_stream(dek_a, 0, f.plain_len, 2, f.cipher + CRYPTO_CHUNK_CIPHER_MAX, CRYPTO_CHUNK_CIPHER_MAX,
                    f.back);
    CHECK(r.err == CORE_CRYPTO);
    fixture_cleanup(&f);
}

static void test_stream_ranged_open_rejects_first_chunk_past_end(void)
{
    struct crypto_stream s;

    CHECK(crypto_stream_open_init(&s, dek_a, 0, 3 * K + 5, 3) == CORE_OK);
    crypto_stream_cleanup(&s);
    CHECK(crypto_stream_open_init(&s, dek_a, 0, 3 * K + 5, 4) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);
    CHECK(crypto_stream_open_init(&s, dek_a, 0, 0, 1) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);
}

static void test_stream_empty_has_no_chunks(void)
{
    struct crypto_stream s;
    uint8_t buf[64] = {0};
    size_t n = 7;

    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, 0) == CORE_OK);
    CHECK(crypto_stream_is_complete(&s));
    CHECK(crypto_stream_next_plain_len(&s) == 0);
    CHECK(crypto_stream_seal_chunk(&s, buf, 0, buf, sizeof(buf), &n) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);

    CHECK(crypto_stream_open_init(&s, dek_a, 0, 0, 0) == CORE_OK);
    CHECK(crypto_stream_is_complete(&s));
    CHECK(crypto_stream_next_cipher_len(&s) == 0);
    CHECK(crypto_stream_open_chunk(&s, buf, sizeof(buf), buf, sizeof(buf), &n) == CORE_CRYPTO);
    CHECK(n == 0);
    CHECK(!crypto_stream_is_complete(&s));
    crypto_stream_cleanup(&s);
}

static void test_stream_seal_rejects_wrong_input_length(void)
{
    struct crypto_stream s;
    uint8_t *plain = make_plain(K + 10, 1);
    uint8_t *out = malloc(CRYPTO_CHUNK_CIPHER_MAX);
    size_t n = 0;

    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, K + 10) == CORE_OK);
    CHECK(crypto_stream_next_plain_len(&s) == K);
    CHECK(crypto_stream_seal_chunk(&s, plain, 10, out, CRYPTO_CHUNK_CIPHER_MAX, &n) == CORE_INTERNAL);
    CHECK(crypto_stream_seal_chunk(&s, plain, K, out, CRYPTO_CHUNK_CIPHER_MAX, &n) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);

    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, K + 10) == CORE_OK);
    CHECK(crypto_stream_seal_chunk(&s, plain, K, out, CRYPTO_CHUNK_CIPHER_MAX - 1, &n) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);

    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, K + 10) == CORE_OK);
    CHECK(crypto_stream_seal_chunk(&s, plain, K, out, CRYPTO_CHUNK_CIPHER_MAX, &n) == CORE_OK);
    CHECK(crypto_stream_next_plain_len(&s) == 10);
    CHECK(crypto_stream_seal_chunk(&s, plain, K, out, CRYPTO_CHUNK_CIPHER_MAX, &n) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);
    free(plain);
    free(out);
}

static void test_stream_init_rejects_limits(void)
{
    struct crypto_stream s;

    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, CRYPTO_PLAIN_MAX_SINGLE) == CORE_OK);
    CHECK(crypto_stream_next_plain_len(&s) == K);
    crypto_stream_cleanup(&s);
    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, CRYPTO_PLAIN_MAX_SINGLE + 1) == CORE_TOO_LARGE);
    crypto_stream_cleanup(&s);
    CHECK(crypto_stream_open_init(&s, dek_a, 0, CRYPTO_PLAIN_MAX_SINGLE + 1, 0) == CORE_TOO_LARGE);
    crypto_stream_cleanup(&s);
    CHECK(crypto_stream_seal_init(&s, dek_a, CRYPTO_PART_NUMBER_MAX + 1, sid_a, 1) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);
    CHECK(crypto_stream_open_init(&s, dek_a, CRYPTO_PART_NUMBER_MAX + 1, 1, 0) == CORE_INTERNAL);
    crypto_stream_cleanup(&s);
}

static void test_stream_open_rejects_small_output(void)
{
    struct fixture f;
    struct crypto_stream s;
    size_t n = 0;

    fixture_init(&f);
    CHECK(crypto_stream_open_init(&s, dek_a, 0, f.plain_len, 0) == CORE_OK);
    CHECK(crypto_stream_open_chunk(&s, f.cipher, CRYPTO_CHUNK_CIPHER_MAX, f.back, K - 1, &n) ==
          CORE_INTERNAL);
    crypto_stream_cleanup(&s);
    fixture_cleanup(&f);
}

static void test_stream_cleanup_is_idempotent(void)
{
    struct crypto_stream s;

    memset(&s, 0, sizeof(s));
    crypto_stream_cleanup(&s);
    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, 10) == CORE_OK);
    crypto_stream_cleanup(&s);
    crypto_stream_cleanup(&s);
    CHECK(s.ctx == NULL);
    for (size_t i = 0; i < sizeof(s.key); i++) {
        CHECK(s.key[i] == 0);
        CHECK(s.dek[i] == 0);
    }
}

static void test_random_fills_buffer(void)
{
    uint8_t a[CRYPTO_STREAM_ID_LEN] = {0};
    uint8_t b[CRYPTO_STREAM_ID_LEN] = {0};

    CHECK(crypto_random(a, sizeof(a)) == CORE_OK);
    CHECK(crypto_random(b, sizeof(b)) == CORE_OK);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
}

/*
 * Seals and opens two chunks in place, as the proxy does: the plaintext
 * sits in the chunk buffer after the header. The bytes must match a seal
 * with separate buffers, and opening in place must return the plaintext.
 */
static void test_stream_seals_and_opens_in_place(void)
{
    size_t len = K + 100;
    uint8_t *plain = make_plain(len, 7);
    size_t expected_len = 0;
    uint8_t *expected = seal_stream(dek_a, 0, sid_a, plain, len, len, &expected_len);
    uint8_t *buf = malloc(CRYPTO_CHUNK_CIPHER_MAX);
    struct crypto_stream s;
    size_t offset = 0;
    size_t n = 0;

    CHECK(crypto_stream_seal_init(&s, dek_a, 0, sid_a, len) == CORE_OK);
    for (size_t done = 0; done < len;) {
        size_t want = crypto_stream_next_plain_len(&s);

        memcpy(buf + CRYPTO_CHUNK_HEADER_LEN, plain + done, want);
        CHECK(crypto_stream_seal_chunk(&s, buf + CRYPTO_CHUNK_HEADER_LEN, want, buf, CRYPTO_CHUNK_CIPHER_MAX, &n) ==
              CORE_OK);
        CHECK(n == want + CRYPTO_CHUNK_OVERHEAD);
        CHECK(memcmp(buf, expected + offset, n) == 0);
        offset += n;
        done += want;
    }
    crypto_stream_cleanup(&s);
    CHECK(offset == expected_len);

    CHECK(crypto_stream_open_init(&s, dek_a, 0, len, 0) == CORE_OK);
    offset = 0;
    for (size_t done = 0; done < len;) {
        size_t want = crypto_stream_next_cipher_len(&s);

        memcpy(buf, expected + offset, want);
        CHECK(crypto_stream_open_chunk(&s, buf, want, buf + CRYPTO_CHUNK_HEADER_LEN, K, &n) == CORE_OK);
        CHECK(n == want - CRYPTO_CHUNK_OVERHEAD);
        CHECK(memcmp(buf + CRYPTO_CHUNK_HEADER_LEN, plain + done, n) == 0);
        offset += want;
        done += n;
    }
    CHECK(crypto_stream_is_complete(&s));
    crypto_stream_cleanup(&s);
    free(buf);
    free(expected);
    free(plain);
}

int main(void)
{
    RUN(test_stream_round_trips_all_sizes);
    RUN(test_stream_round_trips_multipart_part);
    RUN(test_stream_header_layout);
    RUN(test_stream_seals_and_opens_in_place);
    RUN(test_stream_rejects_every_bit_flip_small);
    RUN(test_stream_rejects_bit_flips_two_chunks);
    RUN(test_stream_rejects_truncation);
    RUN(test_stream_rejects_final_full_chunk_dropped);
    RUN(test_stream_rejects_bytes_after_final);
    RUN(test_stream_rejects_reordered_chunks);
    RUN(test_stream_rejects_chunk_from_other_stream);
    RUN(test_stream_rejects_other_part_number);
    RUN(test_stream_rejects_wrong_dek);
    RUN(test_stream_rejects_wrong_plain_len);
    RUN(test_stream_rejects_unknown_header_values);
    RUN(test_stream_rejects_authentic_misplaced_headers);
    RUN(test_stream_stays_failed_after_error);
    RUN(test_stream_ranged_open_starts_mid_stream);
    RUN(test_stream_ranged_open_rejects_first_chunk_past_end);
    RUN(test_stream_empty_has_no_chunks);
    RUN(test_stream_seal_rejects_wrong_input_length);
    RUN(test_stream_init_rejects_limits);
    RUN(test_stream_open_rejects_small_output);
    RUN(test_stream_cleanup_is_idempotent);
    RUN(test_random_fills_buffer);
    return TEST_RESULT();
}
