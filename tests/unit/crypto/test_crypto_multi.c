/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of crypto/crypto_multi.c: objects of several parts, each sealed with
 * crypto_stream_seal_* under its own random stream id, read whole and from a
 * middle chunk, and rejection of reordered, dropped, shortened, spliced and
 * tampered chunks.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/crypto_kdf.h"
#include "crypto/crypto_multi.h"
#include "crypto/crypto_stream.h"
#include "test_check.h"

#define K CRYPTO_CHUNK_PLAIN_MAX
#define C CRYPTO_CHUNK_CIPHER_MAX
#define POISON 0xAA
#define MAX_CHUNKS 16
#define MAX_PARTS 4

static const uint8_t dek_a[CRYPTO_DEK_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t dek_b[CRYPTO_DEK_LEN] = {32, 31, 30};
static const uint8_t sid_a[CRYPTO_STREAM_ID_LEN] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};

/* A stored multipart object and where each of its chunks starts. */
struct object {
    uint8_t *stored;
    size_t stored_len;
    uint8_t *plain;
    size_t plain_len;
    size_t chunk_count;
    size_t chunk_off[MAX_CHUNKS];
    size_t chunk_len[MAX_CHUNKS];
    uint8_t stream_ids[MAX_PARTS][CRYPTO_STREAM_ID_LEN];
};

/* One chunk of some object, for assembling tampered objects. */
struct piece {
    const struct object *obj;
    size_t chunk;
};

/* Outcome of reading stored bytes chunk by chunk the way a caller does. */
struct read_result {
    enum core_err err; /* CORE_OK only when every chunk opened and the last one was FINAL */
    size_t plain_len;  /* plaintext bytes released by successful chunks */
    bool truncated;    /* the data ended inside a chunk or after a non-FINAL chunk */
    bool leaked;       /* a failing call left bytes other than zero in its output buffer */
};

static void plain_fill(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 31 + seed + (i >> 16));
    }
}

/* Seals one part with crypto_stream_seal_* and appends its chunks to obj. */
static void seal_part(struct object *obj, const uint8_t *dek, uint32_t part_number, const uint8_t *sid,
                      const uint8_t *plain, size_t len)
{
    struct crypto_stream s;

    CHECK(crypto_stream_seal_init(&s, dek, part_number, sid, len) == CORE_OK);
    for (size_t off = 0; off < len;) {
        size_t n = crypto_stream_next_plain_len(&s);
        size_t written = 0;

        CHECK(obj->chunk_count < MAX_CHUNKS);
        CHECK(crypto_stream_seal_chunk(&s, plain + off, n, obj->stored + obj->stored_len, C, &written) ==
              CORE_OK);
        obj->chunk_off[obj->chunk_count] = obj->stored_len;
        obj->chunk_len[obj->chunk_count] = written;
        obj->chunk_count++;
        obj->stored_len += written;
        off += n;
    }
    CHECK(crypto_stream_is_complete(&s));
    crypto_stream_cleanup(&s);
}

/* Builds an object of count parts with the given part numbers and sizes, each under a random stream id. */
static void build_object(struct object *obj, const uint8_t *dek, const uint32_t *parts, const size_t *sizes,
                         size_t count, uint8_t seed)
{
    size_t total = 0;

    memset(obj, 0, sizeof(*obj));
    for (size_t i = 0; i < count; i++) {
        total += sizes[i];
    }
    obj->plain = malloc(total + 1);
    obj->stored = malloc(crypto_size_encrypted(total) + count * C);
    obj->plain_len = total;
    plain_fill(obj->plain, total, seed);

    for (size_t i = 0, off = 0; i < count && i < MAX_PARTS; i++) {
        CHECK(crypto_random(obj->stream_ids[i], CRYPTO_STREAM_ID_LEN) == CORE_OK);
        seal_part(obj, dek, parts[i], obj->stream_ids[i], obj->plain + off, sizes[i]);
        off += sizes[i];
    }
}

static void free_object(struct object *obj)
{
    free(obj->stored);
    free(obj->plain);
}

/* Concatenates chunks of one or more objects; the caller frees the result. */
static uint8_t *assemble(const struct piece *pieces, size_t count, size_t *len)
{
    uint8_t *out = malloc(count * C + 1);

    *len = 0;
    for (size_t i = 0; i < count; i++) {
        const struct object *obj = pieces[i].obj;

        memcpy(out + *len, obj->stored + obj->chunk_off[pieces[i].chunk], obj->chunk_len[pieces[i].chunk]);
        *len += obj->chunk_len[pieces[i].chunk];
    }
    return out;
}

static bool is_all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/*
 * Reads stored bytes chunk by chunk: the length of each chunk comes from
 * its header, and a whole read must end right after a FINAL chunk. The
 * plaintext goes to out when it is not NULL.
 */
static struct read_result read_stored(const uint8_t *dek, bool from_start, const uint8_t *stored, size_t len,
                                      uint8_t *out)
{
    struct read_result r = {CORE_OK, 0, false, false};
    struct crypto_multi_open m;
    uint8_t *buf = malloc(K);
    size_t off = 0;

    CHECK(crypto_multi_open_init(&m, dek, from_start) == CORE_OK);
    while (off < len && r.err == CORE_OK) {
        size_t chunk_len = 0;
        size_t n = 0;

        if (len - off < CRYPTO_CHUNK_HEADER_LEN) {
            r.truncated = true;
            break;
        }
        r.err = crypto_multi_chunk_len(stored + off, &chunk_len);
        if (r.err != CORE_OK) {
            break;
        }
        if (len - off < chunk_len) {
            r.truncated = true;
            break;
        }
        memset(buf, POISON, K);
        r.err = crypto_multi_open_chunk(&m, stored + off, chunk_len, buf, K, &n);
        if (r.err != CORE_OK) {
            r.leaked = !is_all_zero(buf, K) || n != 0;
            CHECK(!crypto_multi_open_at_final(&m));
            break;
        }
        if (out != NULL) {
            memcpy(out + r.plain_len, buf, n);
        }
        r.plain_len += n;
        off += chunk_len;
    }
    if (r.err == CORE_OK && !crypto_multi_open_at_final(&m)) {
        r.truncated = true;
    }
    if (r.truncated) {
        r.err = CORE_CRYPTO;
    }
    crypto_multi_open_cleanup(&m);
    free(buf);
    return r;
}

/* Reads the whole object from its first byte and checks the plaintext. */
static bool reads_back(const struct object *obj, const uint8_t *dek)
{
    uint8_t *out = malloc(obj->plain_len + 1);
    struct read_result r = read_stored(dek, true, obj->stored, obj->stored_len, out);
    bool ok = r.err == CORE_OK && r.plain_len == obj->plain_len && memcmp(out, obj->plain, r.plain_len) == 0;

    free(out);
    return ok;
}

/* Rejected means an error, with no plaintext left behind in the failing call's buffer. */
static bool is_rejected(const uint8_t *dek, bool from_start, const uint8_t *stored, size_t len)
{
    struct read_result r = read_stored(dek, from_start, stored, len, NULL);

    CHECK(!r.leaked);
    return r.err != CORE_OK;
}

static bool pieces_rejected(const struct piece *pieces, size_t count)
{
    size_t len = 0;
    uint8_t *stored = assemble(pieces, count, &len);
    bool rejected = is_rejected(dek_a, true, stored, len);

    free(stored);
    return rejected;
}

/*
 * Seals one chunk with any header values, valid tag included, so that a
 * test can show that the position rules and not the tag reject it.
 */
static size_t seal_raw_chunk(const uint8_t *dek, uint32_t part, const uint8_t *sid, uint32_t seq, bool final,
                             const uint8_t *plain, size_t len, uint8_t *out)
{
    uint8_t key[32];
    uint8_t nonce[12] = {0};
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;

    out[0] = CRYPTO_CHUNK_VERSION;
    out[1] = final ? CRYPTO_CHUNK_FLAG_FINAL : 0;
    out[2] = (uint8_t)((len - 1) >> 8);
    out[3] = (uint8_t)(len - 1);
    for (int i = 0; i < 4; i++) {
        out[4 + i] = (uint8_t)(part >> (24 - 8 * i));
        out[8 + i] = (uint8_t)(seq >> (24 - 8 * i));
        nonce[8 + i] = (uint8_t)(seq >> (24 - 8 * i));
    }
    memcpy(out + 12, sid, CRYPTO_STREAM_ID_LEN);

    CHECK(crypto_kdf_stream_key(dek, sid, CRYPTO_SUITE_AES_256_GCM, part, key) == CORE_OK);
    CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1);
    CHECK(EVP_EncryptUpdate(ctx, NULL, &n, out, CRYPTO_CHUNK_HEADER_LEN) == 1);
    CHECK(EVP_EncryptUpdate(ctx, out + CRYPTO_CHUNK_HEADER_LEN, &n, plain, (int)len) == 1);
    CHECK(EVP_EncryptFinal_ex(ctx, out + CRYPTO_CHUNK_HEADER_LEN + len, &n) == 1);
    CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_CHUNK_TAG_LEN,
                              out + CRYPTO_CHUNK_HEADER_LEN + len) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return len + CRYPTO_CHUNK_OVERHEAD;
}

/* Opens one chunk with a fresh reader and returns the result. */
static enum core_err open_single(bool from_start, const uint8_t *chunk, size_t len)
{
    struct crypto_multi_open m;
    uint8_t *buf = malloc(K);
    size_t n = 0;
    enum core_err err = CORE_OK;

    CHECK(crypto_multi_open_init(&m, dek_a, from_start) == CORE_OK);
    err = crypto_multi_open_chunk(&m, chunk, len, buf, K, &n);
    crypto_multi_open_cleanup(&m);
    free(buf);
    return err;
}

static void test_multi_raw_chunk_matches_stream_seal(void)
{
    uint8_t plain[100];
    uint8_t raw[100 + CRYPTO_CHUNK_OVERHEAD];
    struct object obj;
    const uint32_t parts[] = {3};
    const size_t sizes[] = {100};

    build_object(&obj, dek_a, parts, sizes, 1, 5);
    memcpy(plain, obj.plain, sizeof(plain));
    CHECK(seal_raw_chunk(dek_a, 3, obj.stream_ids[0], 0, true, plain, sizeof(plain), raw) == sizeof(raw));
    CHECK(obj.stored_len == sizeof(raw));
    CHECK(memcmp(raw, obj.stored, sizeof(raw)) == 0);
    free_object(&obj);
}

static void test_multi_reads_one_part(void)
{
    const uint32_t parts[] = {1};
    const size_t sizes[][1] = {{1}, {100}, {K}, {K + 1}, {2 * K + 5}};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct object obj;

        build_object(&obj, dek_a, parts, sizes[i], 1, (uint8_t)i);
        CHECK(reads_back(&obj, dek_a));
        free_object(&obj);
    }
}

static void test_multi_reads_two_parts(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[][2] = {{K, 1}, {K, 100}, {2 * K, K}, {K, K + 7}};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct object obj;

        build_object(&obj, dek_a, parts, sizes[i], 2, (uint8_t)i);
        CHECK(reads_back(&obj, dek_a));
        free_object(&obj);
    }
}

static void test_multi_reads_three_parts(void)
{
    const uint32_t parts[] = {1, 2, 3};
    const uint32_t sparse[] = {2, 9, CRYPTO_PART_NUMBER_MAX};
    const size_t sizes[] = {2 * K, K, 1000};
    struct object obj;

    build_object(&obj, dek_a, parts, sizes, 3, 1);
    CHECK(obj.chunk_count == 4);
    CHECK(reads_back(&obj, dek_a));
    free_object(&obj);

    /* S3 lets an upload skip part numbers; only their order matters */
    build_object(&obj, dek_a, sparse, sizes, 3, 2);
    CHECK(reads_back(&obj, dek_a));
    free_object(&obj);
}

/*
 * With 64 KiB-aligned non-final parts, global chunk i starts at stored
 * offset i * 65572 and contains plaintext from i * 65536, as in one stream.
 */
static void test_multi_reads_from_middle_chunk(void)
{
    const uint32_t parts[] = {1, 2, 3};
    const size_t sizes[] = {2 * K, K, 1000};
    uint8_t *out = NULL;
    uint64_t plain_len = 0;
    struct object obj;

    build_object(&obj, dek_a, parts, sizes, 3, 3);
    out = malloc(obj.plain_len);
    CHECK(crypto_size_decrypted(obj.stored_len, &plain_len));
    CHECK(plain_len == obj.plain_len);

    for (size_t i = 0; i < obj.chunk_count; i++) {
        struct read_result r;

        CHECK(obj.chunk_off[i] == i * C);
        r = read_stored(dek_a, false, obj.stored + i * C, obj.stored_len - i * C, out);
        CHECK(r.err == CORE_OK);
        CHECK(r.plain_len == obj.plain_len - i * K);
        CHECK(memcmp(out, obj.plain + i * K, r.plain_len) == 0);
    }

    /* chunk 0 is not FINAL, so a read that ends after it is cut short */
    CHECK(read_stored(dek_a, false, obj.stored, C, out).truncated);
    free(out);
    free_object(&obj);
}

static void test_multi_rejects_reordered_part(void)
{
    const uint32_t parts[] = {1, 2, 3};
    const size_t sizes[] = {K, K, 10};
    struct object obj;

    build_object(&obj, dek_a, parts, sizes, 3, 4);
    CHECK(!pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 1}, {&obj, 2}}, 3));
    CHECK(pieces_rejected((struct piece[]){{&obj, 1}, {&obj, 0}, {&obj, 2}}, 3));
    CHECK(pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 2}, {&obj, 1}}, 3));
    /* the same part twice, as when an older upload of it is appended */
    CHECK(pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 0}, {&obj, 1}, {&obj, 2}}, 4));
    free_object(&obj);
}

static void test_multi_rejects_dropped_middle_chunk(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {3 * K, 10};
    struct object obj;

    build_object(&obj, dek_a, parts, sizes, 2, 5);
    CHECK(pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 2}, {&obj, 3}}, 3));
    CHECK(pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 1}, {&obj, 3}}, 3));
    /* dropping the FINAL chunk of the first part leaves a non-FINAL chunk before part 2 */
    CHECK(pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 1}}, 2));
    CHECK(pieces_rejected((struct piece[]){{&obj, 1}, {&obj, 2}, {&obj, 3}}, 3));
    free_object(&obj);
}

static void test_multi_rejects_short_non_final_chunk(void)
{
    uint8_t *plain = malloc(K);
    uint8_t *stored = malloc(3 * C);
    size_t len = 0;

    plain_fill(plain, K, 9);
    len += seal_raw_chunk(dek_a, 1, sid_a, 0, false, plain, K - 1, stored);
    len += seal_raw_chunk(dek_a, 1, sid_a, 1, true, plain, 10, stored + len);
    CHECK(is_rejected(dek_a, true, stored, len));
    CHECK(open_single(true, stored, len - 10 - CRYPTO_CHUNK_OVERHEAD) == CORE_CRYPTO);

    /* the same chunks with a full first chunk pass, so the length is what fails above */
    len = seal_raw_chunk(dek_a, 1, sid_a, 0, false, plain, K, stored);
    len += seal_raw_chunk(dek_a, 1, sid_a, 1, true, plain, 10, stored + len);
    CHECK(!is_rejected(dek_a, true, stored, len));
    free(plain);
    free(stored);
}

static void test_multi_rejects_chunk_of_other_part(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {2 * K, 2 * K};
    struct object obj;
    struct object other;

    build_object(&obj, dek_a, parts, sizes, 2, 6);
    build_object(&other, dek_a, parts, sizes, 2, 7);
    CHECK(!pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 1}, {&obj, 2}, {&obj, 3}}, 4));

    /* chunk 1 of part 2 in place of chunk 1 of part 1 */
    CHECK(pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 3}, {&obj, 2}, {&obj, 3}}, 4));
    /* the matching chunk of another object with the same DEK: same part and sequence, other stream id */
    CHECK(pieces_rejected((struct piece[]){{&obj, 0}, {&other, 1}, {&obj, 2}, {&obj, 3}}, 4));
    /* NOTE: a whole part 2 from another upload under the same DEK is accepted, because version 1 has no part manifest */
    CHECK(!pieces_rejected((struct piece[]){{&obj, 0}, {&obj, 1}, {&other, 2}, {&other, 3}}, 4));
    free_object(&obj);
    free_object(&other);
}

static void test_multi_rejects_part_number_zero(void)
{
    uint8_t plain[10] = {1, 2, 3};
    uint8_t chunk[10 + CRYPTO_CHUNK_OVERHEAD];
    struct object obj;
    const uint32_t parts[] = {0};
    const size_t sizes[] = {100};

    /* a single-PUT stream, which keeps part number 0 */
    build_object(&obj, dek_a, parts, sizes, 1, 8);
    CHECK(is_rejected(dek_a, true, obj.stored, obj.stored_len));
    CHECK(is_rejected(dek_a, false, obj.stored, obj.stored_len));
    free_object(&obj);

    CHECK(open_single(false, chunk, seal_raw_chunk(dek_a, 0, sid_a, 0, true, plain, 10, chunk)) ==
          CORE_CRYPTO);
    CHECK(open_single(false, chunk,
                      seal_raw_chunk(dek_a, CRYPTO_PART_NUMBER_MAX + 1, sid_a, 0, true, plain, 10, chunk)) ==
          CORE_CRYPTO);
    CHECK(open_single(false, chunk,
                      seal_raw_chunk(dek_a, CRYPTO_PART_NUMBER_MAX, sid_a, 0, true, plain, 10, chunk)) ==
          CORE_OK);
}

static void test_multi_rejects_part_start_not_sequence_0(void)
{
    uint8_t *plain = malloc(K);
    uint8_t *stored = malloc(3 * C);
    const uint8_t sid_b[CRYPTO_STREAM_ID_LEN] = {0xb1};
    size_t len = 0;

    plain_fill(plain, K, 10);
    len += seal_raw_chunk(dek_a, 1, sid_a, 0, true, plain, K, stored);
    len += seal_raw_chunk(dek_a, 2, sid_b, 1, true, plain, 10, stored + len);
    CHECK(is_rejected(dek_a, true, stored, len));
    CHECK(is_rejected(dek_a, false, stored, len));

    len = seal_raw_chunk(dek_a, 1, sid_a, 0, true, plain, K, stored);
    len += seal_raw_chunk(dek_a, 2, sid_b, 0, true, plain, 10, stored + len);
    CHECK(!is_rejected(dek_a, true, stored, len));
    free(plain);
    free(stored);
}

static void test_multi_rejects_wrong_dek(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {K, 10};
    struct object obj;

    build_object(&obj, dek_a, parts, sizes, 2, 11);
    CHECK(is_rejected(dek_b, true, obj.stored, obj.stored_len));
    CHECK(is_rejected(dek_b, false, obj.stored + C, obj.stored_len - C));
    free_object(&obj);
}

/* A part sealed twice (two UploadPart attempts) under different stream ids; the halves must not mix. */
static void test_multi_rejects_mixed_part_attempts(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {2 * K, 10};
    struct object first;
    struct object retry;

    /* the same seed gives the same plaintext; only the stream ids differ */
    build_object(&first, dek_a, parts, sizes, 2, 12);
    build_object(&retry, dek_a, parts, sizes, 2, 12);
    CHECK(memcmp(first.stream_ids[0], retry.stream_ids[0], CRYPTO_STREAM_ID_LEN) != 0);
    CHECK(!pieces_rejected((struct piece[]){{&retry, 0}, {&retry, 1}, {&first, 2}}, 3));
    CHECK(pieces_rejected((struct piece[]){{&first, 0}, {&retry, 1}, {&first, 2}}, 3));
    CHECK(pieces_rejected((struct piece[]){{&retry, 0}, {&first, 1}, {&first, 2}}, 3));
    free_object(&first);
    free_object(&retry);
}

static void test_multi_rejects_from_start_at_sequence_1(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {2 * K, 10};
    struct object obj;

    build_object(&obj, dek_a, parts, sizes, 2, 13);
    CHECK(is_rejected(dek_a, true, obj.stored + C, obj.stored_len - C));
    CHECK(!is_rejected(dek_a, false, obj.stored + C, obj.stored_len - C));
    free_object(&obj);
}

/* Flips each bit of the headers and tags of a 2-part object of two chunks. */
static void test_multi_rejects_every_bit_flip(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {K, 10};
    struct object obj;
    size_t accepted = 0;
    size_t flips = 0;

    build_object(&obj, dek_a, parts, sizes, 2, 14);
    CHECK(reads_back(&obj, dek_a));
    for (size_t c = 0; c < obj.chunk_count; c++) {
        size_t start = obj.chunk_off[c];
        size_t tag = start + obj.chunk_len[c] - CRYPTO_CHUNK_TAG_LEN;
        size_t ranges[2][2] = {{start, start + CRYPTO_CHUNK_HEADER_LEN}, {tag, tag + CRYPTO_CHUNK_TAG_LEN}};

        for (size_t r = 0; r < 2; r++) {
            for (size_t bit = ranges[r][0] * 8; bit < ranges[r][1] * 8; bit++) {
                obj.stored[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                accepted += !is_rejected(dek_a, true, obj.stored, obj.stored_len);
                accepted += !is_rejected(dek_a, false, obj.stored, obj.stored_len);
                obj.stored[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                flips++;
            }
        }
    }
    CHECK(flips == 2 * (CRYPTO_CHUNK_HEADER_LEN + CRYPTO_CHUNK_TAG_LEN) * 8);
    CHECK(accepted == 0);
    CHECK(reads_back(&obj, dek_a));
    free_object(&obj);
}

static void test_multi_stays_failed(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {K, 10};
    struct crypto_multi_open m;
    uint8_t *buf = malloc(K);
    struct object obj;
    size_t n = 0;

    build_object(&obj, dek_a, parts, sizes, 2, 15);
    CHECK(crypto_multi_open_init(&m, dek_a, true) == CORE_OK);
    CHECK(crypto_multi_open_chunk(&m, obj.stored + C, obj.chunk_len[1], buf, K, &n) == CORE_OK);
    CHECK(crypto_multi_open_at_final(&m));

    /* part 1 after part 2 fails, and then the valid next chunk fails too */
    CHECK(crypto_multi_open_chunk(&m, obj.stored, C, buf, K, &n) == CORE_CRYPTO);
    CHECK(n == 0);
    CHECK(!crypto_multi_open_at_final(&m));
    CHECK(crypto_multi_open_chunk(&m, obj.stored + C, obj.chunk_len[1], buf, K, &n) == CORE_CRYPTO);
    CHECK(n == 0);
    crypto_multi_open_cleanup(&m);
    free(buf);
    free_object(&obj);
}

static void test_multi_rejects_bad_lengths(void)
{
    const uint32_t parts[] = {1, 2};
    const size_t sizes[] = {K, 10};
    struct crypto_multi_open m;
    uint8_t *buf = malloc(K);
    struct object obj;
    size_t n = 0;

    build_object(&obj, dek_a, parts, sizes, 2, 16);
    CHECK(open_single(true, obj.stored, C - 1) == CORE_CRYPTO);
    CHECK(open_single(true, obj.stored, C + 1) == CORE_CRYPTO);
    CHECK(open_single(true, obj.stored, CRYPTO_CHUNK_HEADER_LEN - 1) == CORE_CRYPTO);
    CHECK(open_single(true, obj.stored, C) == CORE_OK);

    /* an output buffer too small for the chunk is a caller bug, and the reader stops */
    CHECK(crypto_multi_open_init(&m, dek_a, true) == CORE_OK);
    CHECK(crypto_multi_open_chunk(&m, obj.stored, C, buf, K - 1, &n) == CORE_INTERNAL);
    CHECK(crypto_multi_open_chunk(&m, obj.stored, C, buf, K, &n) == CORE_CRYPTO);
    crypto_multi_open_cleanup(&m);
    free(buf);
    free_object(&obj);
}

static void test_multi_chunk_len(void)
{
    uint8_t hdr[CRYPTO_CHUNK_HEADER_LEN] = {CRYPTO_CHUNK_VERSION, CRYPTO_CHUNK_FLAG_FINAL, 0x00, 0x63};
    size_t len = 0;

    CHECK(crypto_multi_chunk_len(hdr, &len) == CORE_OK);
    CHECK(len == 100 + CRYPTO_CHUNK_OVERHEAD);
    hdr[2] = 0xff;
    hdr[3] = 0xff;
    CHECK(crypto_multi_chunk_len(hdr, &len) == CORE_OK);
    CHECK(len == C);
    hdr[2] = 0;
    hdr[3] = 0;
    CHECK(crypto_multi_chunk_len(hdr, &len) == CORE_OK);
    CHECK(len == 1 + CRYPTO_CHUNK_OVERHEAD);

    hdr[0] = 0x02;
    CHECK(crypto_multi_chunk_len(hdr, &len) == CORE_CRYPTO);
    hdr[0] = CRYPTO_CHUNK_VERSION;
    for (unsigned flags = 0; flags < 256; flags++) {
        hdr[1] = (uint8_t)flags;
        CHECK((crypto_multi_chunk_len(hdr, &len) == CORE_OK) == (flags <= 1));
    }
}

static void test_multi_cleanup_is_idempotent(void)
{
    struct crypto_multi_open m;
    uint8_t buf[16];
    size_t n = 1;

    memset(&m, 0, sizeof(m));
    crypto_multi_open_cleanup(&m);
    CHECK(!crypto_multi_open_at_final(&m));

    CHECK(crypto_multi_open_init(&m, dek_a, false) == CORE_OK);
    crypto_multi_open_cleanup(&m);
    crypto_multi_open_cleanup(&m);
    CHECK(is_all_zero(m.dek, sizeof(m.dek)));
    CHECK(crypto_multi_open_chunk(&m, buf, sizeof(buf), buf, sizeof(buf), &n) != CORE_OK);
    CHECK(n == 0);
}

int main(void)
{
    RUN(test_multi_raw_chunk_matches_stream_seal);
    RUN(test_multi_reads_one_part);
    RUN(test_multi_reads_two_parts);
    RUN(test_multi_reads_three_parts);
    RUN(test_multi_reads_from_middle_chunk);
    RUN(test_multi_rejects_reordered_part);
    RUN(test_multi_rejects_dropped_middle_chunk);
    RUN(test_multi_rejects_short_non_final_chunk);
    RUN(test_multi_rejects_chunk_of_other_part);
    RUN(test_multi_rejects_part_number_zero);
    RUN(test_multi_rejects_part_start_not_sequence_0);
    RUN(test_multi_rejects_wrong_dek);
    RUN(test_multi_rejects_mixed_part_attempts);
    RUN(test_multi_rejects_from_start_at_sequence_1);
    RUN(test_multi_rejects_every_bit_flip);
    RUN(test_multi_stays_failed);
    RUN(test_multi_rejects_bad_lengths);
    RUN(test_multi_chunk_len);
    RUN(test_multi_cleanup_is_idempotent);
    return TEST_RESULT();
}
