/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpora that need the crypto API: envelopes for
 * fuzz_envelope and sealed chunk streams for fuzz_chunk_stream, all under
 * the fixed key of fuzz_fixtures.h. For fuzz_part_search it writes the chunk
 * headers that the probes of a part search read in a sealed multipart object.
 * It also writes KMIP Encrypt and Decrypt responses for fuzz_kmip_ttlv with
 * the TTLV writer. Stream ids and plaintexts are fixed too,
 * so running it again writes the same bytes. Usage:
 *   fuzz_make_seeds tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_envelope.h"
#include "crypto/crypto_stream.h"
#include "fuzz_fixtures.h"
#include "kms/kms_kmip_msg.h"
#include "kms/kms_kmip_ttlv.h"
#include "proxy/proxy_part_search.h"

/* KMIP 1.4 tags (section 9.1.3.1) of the response fields that kms_kmip_msg.c reads */
#define KMIP_AUTH_TAG 0x4200FFu
#define KMIP_BATCH_COUNT 0x42000Du
#define KMIP_BATCH_ITEM 0x42000Fu
#define KMIP_DATA 0x4200C2u
#define KMIP_IV_COUNTER_NONCE 0x42003Du
#define KMIP_OPERATION 0x42005Cu
#define KMIP_PROTOCOL_VERSION 0x420069u
#define KMIP_PROTOCOL_VERSION_MAJOR 0x42006Au
#define KMIP_PROTOCOL_VERSION_MINOR 0x42006Bu
#define KMIP_RESPONSE_HEADER 0x42007Au
#define KMIP_RESPONSE_MESSAGE 0x42007Bu
#define KMIP_RESPONSE_PAYLOAD 0x42007Cu
#define KMIP_RESULT_MESSAGE 0x42007Du
#define KMIP_RESULT_REASON 0x42007Eu
#define KMIP_RESULT_STATUS 0x42007Fu
#define KMIP_UNIQUE_IDENTIFIER 0x420094u
/* Result Status Operation Failed (section 9.1.3.2.28) */
#define KMIP_STATUS_OPERATION_FAILED 0x1u

#define STREAM_PLAIN_MAX 4096

/* Stored bytes of one seed, with the 8-byte input header of fuzz_chunk_stream in front. */
struct seed {
    uint8_t bytes[8 + 4 * (STREAM_PLAIN_MAX + CRYPTO_CHUNK_OVERHEAD)];
    size_t len;
};

static int write_file(const char *dir, const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz_make_seeds: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int write_envelope(const char *dir, const char *name, bool multipart, uint64_t plain_len,
                          const char *kms_id)
{
    static const char bucket[] = FUZZ_BUCKET;
    static const char key[] = FUZZ_KEY;
    uint8_t wrapped[60];
    struct crypto_envelope_headers h;
    char text[4096];
    int n;
    enum core_err err;

    for (size_t i = 0; i < sizeof(wrapped); i++) {
        wrapped[i] = (uint8_t)(i * 7 + 3);
    }
    err = multipart ? crypto_envelope_seal_multipart(fuzz_dek, kms_id, wrapped, sizeof(wrapped), bucket,
                                                     sizeof(bucket) - 1, key, sizeof(key) - 1, &h)
                    : crypto_envelope_seal(fuzz_dek, kms_id, wrapped, sizeof(wrapped), plain_len, bucket,
                                           sizeof(bucket) - 1, key, sizeof(key) - 1, &h);
    if (err != CORE_OK) {
        fprintf(stderr, "fuzz_make_seeds: sealing the envelope %s failed\n", name);
        return -1;
    }
    n = snprintf(text, sizeof(text), "%s:%s\n%s:%s\n%s:%s\n%s:%s\n%s:%s\n%s:%s\n", CRYPTO_META_VERSION,
                 h.version, CRYPTO_META_KMS, h.kms, CRYPTO_META_DEK, h.dek, CRYPTO_META_COMMITMENT,
                 h.commitment, multipart ? CRYPTO_META_MULTIPART : CRYPTO_META_LENGTH,
                 multipart ? h.multipart : h.length, CRYPTO_META_MAC, h.mac);
    return write_file(dir, "fuzz_envelope", name, text, (size_t)n);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a whole sealed stream of plain_len bytes (at most STREAM_PLAIN_MAX, so one chunk). */
static int append_stream(struct seed *s, uint32_t part_number, uint8_t id_byte, size_t plain_len)
{
    uint8_t stream_id[CRYPTO_STREAM_ID_LEN];
    uint8_t plain[STREAM_PLAIN_MAX];
    struct crypto_stream cs = {0};
    size_t n = 0;
    enum core_err err;

    memset(stream_id, id_byte, sizeof(stream_id));
    for (size_t i = 0; i < plain_len; i++) {
        plain[i] = (uint8_t)('a' + i % 26);
    }
    err = crypto_stream_seal_init(&cs, fuzz_dek, part_number, stream_id, plain_len);
    if (err == CORE_OK) {
        err =
            crypto_stream_seal_chunk(&cs, plain, plain_len, s->bytes + s->len, sizeof(s->bytes) - s->len, &n);
    }
    crypto_stream_cleanup(&cs);
    if (err != CORE_OK) {
        fprintf(stderr, "fuzz_make_seeds: sealing a stream of %zu bytes failed\n", plain_len);
        return -1;
    }
    s->len += n;
    return 0;
}

/* A single-stream seed: mode 0, the part number, the plaintext length and first chunk 0. */
static int write_single(const char *dir, const char *name, uint32_t part_number, size_t plain_len)
{
    struct seed s = {{0}, 8};

    s.bytes[1] = (uint8_t)(part_number >> 8);
    s.bytes[2] = (uint8_t)part_number;
    put_be32(s.bytes + 3, (uint32_t)plain_len);
    if (append_stream(&s, part_number, 0x11, plain_len) != 0) {
        return -1;
    }
    return write_file(dir, "fuzz_chunk_stream", name, s.bytes, s.len);
}

/* A multipart seed: one single-chunk stream per part, read from the start of the object or not. */
static int write_multi(const char *dir, const char *name, bool from_start, const uint32_t *parts,
                       const size_t *lens, size_t count)
{
    struct seed s = {{0}, 8};

    s.bytes[0] = from_start ? 3 : 1;
    for (size_t i = 0; i < count; i++) {
        if (append_stream(&s, parts[i], (uint8_t)(0x20 + i), lens[i]) != 0) {
            return -1;
        }
    }
    return write_file(dir, "fuzz_chunk_stream", name, s.bytes, s.len);
}

/* Chunk headers of a multipart object sealed as proxy/ stores it: whole chunks in every part but the last. */
struct object {
    uint8_t headers[16][CRYPTO_CHUNK_HEADER_LEN];
    uint64_t chunks;
    uint64_t stored;
};

static int seal_object(struct object *obj, const uint64_t *part_plain, size_t parts)
{
    static uint8_t plain[CRYPTO_CHUNK_PLAIN_MAX];
    static uint8_t chunk[CRYPTO_CHUNK_CIPHER_MAX];
    uint8_t stream_id[CRYPTO_STREAM_ID_LEN];

    memset(obj, 0, sizeof(*obj));
    for (size_t p = 0; p < parts; p++) {
        struct crypto_stream cs = {0};
        enum core_err err;
        size_t n = 0;

        memset(stream_id, (int)(0x40 + p), sizeof(stream_id));
        err = crypto_stream_seal_init(&cs, fuzz_dek, (uint32_t)(p + 1), stream_id, part_plain[p]);
        while (err == CORE_OK && crypto_stream_next_plain_len(&cs) > 0 && obj->chunks < 16) {
            err = crypto_stream_seal_chunk(&cs, plain, crypto_stream_next_plain_len(&cs), chunk,
                                           sizeof(chunk), &n);
            memcpy(obj->headers[obj->chunks++], chunk, CRYPTO_CHUNK_HEADER_LEN);
            obj->stored += n;
        }
        crypto_stream_cleanup(&cs);
        if (err != CORE_OK) {
            fprintf(stderr, "fuzz_make_seeds: sealing part %zu failed\n", p + 1);
            return -1;
        }
    }
    return 0;
}

/* Runs the search for part `number` and records the header each probe gets, after the input header. */
static int write_search(const char *dir, const char *name, const struct object *obj, uint32_t number)
{
    struct proxy_part_search ps;
    uint8_t input[10 + PROXY_PART_PROBES_MAX * CRYPTO_CHUNK_HEADER_LEN];
    size_t len = 10;
    enum proxy_part_step step = PROXY_PART_CONTINUE;

    input[0] = (uint8_t)((number - 1) >> 8);
    input[1] = (uint8_t)(number - 1);
    for (int i = 0; i < 8; i++) {
        input[2 + i] = (uint8_t)(obj->stored >> (56 - 8 * i));
    }
    memset(&ps, 0, sizeof(ps));
    if (!proxy_part_search_init(&ps, number, obj->stored)) {
        fprintf(stderr, "fuzz_make_seeds: %s has an invalid stored size\n", name);
        return -1;
    }
    while (step == PROXY_PART_CONTINUE) {
        memcpy(ps.header, obj->headers[ps.probe], CRYPTO_CHUNK_HEADER_LEN);
        ps.fill = CRYPTO_CHUNK_HEADER_LEN;
        memcpy(input + len, ps.header, CRYPTO_CHUNK_HEADER_LEN);
        len += CRYPTO_CHUNK_HEADER_LEN;
        step = proxy_part_observe(&ps);
    }
    if (step != PROXY_PART_FOUND) {
        fprintf(stderr, "fuzz_make_seeds: the search for part %u in %s did not find it\n", number, name);
        return -1;
    }
    return write_file(dir, "fuzz_part_search", name, input, len);
}

static int write_searches(const char *dir)
{
    /* three parts of two whole chunks each and a short last part: seven chunks */
    static const uint64_t even[] = {2 * CRYPTO_CHUNK_PLAIN_MAX, 2 * CRYPTO_CHUNK_PLAIN_MAX, 1000};
    /* parts of different sizes, so the search cannot guess from one part size */
    static const uint64_t uneven[] = {CRYPTO_CHUNK_PLAIN_MAX, 3 * CRYPTO_CHUNK_PLAIN_MAX,
                                      CRYPTO_CHUNK_PLAIN_MAX, 500};
    static struct object obj;

    if (seal_object(&obj, even, 3) != 0 || write_search(dir, "even_part_2", &obj, 2) != 0 ||
        write_search(dir, "even_last_part", &obj, 3) != 0) {
        return -1;
    }
    if (seal_object(&obj, uneven, 4) != 0 || write_search(dir, "uneven_part_3", &obj, 3) != 0) {
        return -1;
    }
    return 0;
}

/* Writes a response with one batch item for op; a failed one has reason and no payload. */
static int write_kmip_response(const char *dir, const char *name, enum kms_kmip_op op, uint32_t reason,
                               size_t data_len, bool with_iv_and_tag)
{
    static const char message[] = "Decryption failed: the authentication tag does not match";
    uint8_t bytes[64];
    uint8_t out[1024];
    struct kms_ttlv_writer w;
    size_t len = 0;

    for (size_t i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (uint8_t)(0x90 + i);
    }
    kms_ttlv_writer_init(&w, out, sizeof(out));
    kms_ttlv_begin(&w, KMIP_RESPONSE_MESSAGE);
    kms_ttlv_begin(&w, KMIP_RESPONSE_HEADER);
    kms_ttlv_begin(&w, KMIP_PROTOCOL_VERSION);
    kms_ttlv_put_integer(&w, KMIP_PROTOCOL_VERSION_MAJOR, 1);
    kms_ttlv_put_integer(&w, KMIP_PROTOCOL_VERSION_MINOR, 4);
    kms_ttlv_end(&w);
    kms_ttlv_put_integer(&w, KMIP_BATCH_COUNT, 1);
    kms_ttlv_end(&w);
    kms_ttlv_begin(&w, KMIP_BATCH_ITEM);
    kms_ttlv_put_enum(&w, KMIP_OPERATION, (uint32_t)op);
    if (reason != 0) {
        kms_ttlv_put_enum(&w, KMIP_RESULT_STATUS, KMIP_STATUS_OPERATION_FAILED);
        kms_ttlv_put_enum(&w, KMIP_RESULT_REASON, reason);
        kms_ttlv_put_text(&w, KMIP_RESULT_MESSAGE, message, sizeof(message) - 1);
    } else {
        kms_ttlv_put_enum(&w, KMIP_RESULT_STATUS, KMS_KMIP_STATUS_SUCCESS);
        kms_ttlv_begin(&w, KMIP_RESPONSE_PAYLOAD);
        kms_ttlv_put_text(&w, KMIP_UNIQUE_IDENTIFIER, "s3seal-master-1", 15);
        kms_ttlv_put_bytes(&w, KMIP_DATA, bytes, data_len);
        if (with_iv_and_tag) {
            kms_ttlv_put_bytes(&w, KMIP_IV_COUNTER_NONCE, bytes + 32, 12);
            kms_ttlv_put_bytes(&w, KMIP_AUTH_TAG, bytes + 44, 16);
        }
        kms_ttlv_end(&w);
    }
    kms_ttlv_end(&w);
    kms_ttlv_end(&w);
    if (kms_ttlv_writer_finish(&w, &len) != CORE_OK) {
        fprintf(stderr, "fuzz_make_seeds: writing the KMIP response %s failed\n", name);
        return -1;
    }
    return write_file(dir, "fuzz_kmip_ttlv", name, out, len);
}

static int write_kmip_responses(const char *dir)
{
    if (write_kmip_response(dir, "encrypt_ok", KMS_KMIP_OP_ENCRYPT, 0, 32, true) != 0 ||
        write_kmip_response(dir, "decrypt_ok", KMS_KMIP_OP_DECRYPT, 0, 32, false) != 0 ||
        write_kmip_response(dir, "decrypt_failed", KMS_KMIP_OP_DECRYPT, KMS_KMIP_REASON_GENERAL_FAILURE, 0,
                            false) != 0) {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const uint32_t three_parts[] = {1, 2, 3};
    static const size_t three_lens[] = {300, 1000, 17};
    static const uint32_t later_part[] = {5};
    static const size_t later_len[] = {64};

    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
        return 2;
    }
    if (write_envelope(argv[1], "single_object", false, 1234567, "keyfile:main") != 0 ||
        write_envelope(argv[1], "multipart_object", true, 0, "vault:transit/s3seal") != 0 ||
        write_envelope(argv[1], "empty_object", false, 0, "awskms:alias/s3seal") != 0 ||
        write_single(argv[1], "single_one_byte", 0, 1) != 0 ||
        write_single(argv[1], "single_part_7", 7, 2000) != 0 ||
        write_multi(argv[1], "multi_three_parts", true, three_parts, three_lens, 3) != 0 ||
        write_multi(argv[1], "multi_ranged_part_5", false, later_part, later_len, 1) != 0 ||
        write_searches(argv[1]) != 0 || write_kmip_responses(argv[1]) != 0) {
        return 1;
    }
    return 0;
}
