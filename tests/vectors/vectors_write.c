/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds the known-answer vectors of format version 1 from fixed keys,
 * stream ids and deterministic plaintexts, and prints them as JSON with one
 * field per line so that diffs stay readable.
 */
#include "vectors_write.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_envelope.h"
#include "crypto/crypto_kdf.h"
#include "crypto/crypto_stream.h"

struct stream_case {
    const char *name;
    int dek; /* index into deks */
    uint32_t part_number;
    int stream_id; /* index into stream_ids */
    size_t plain_len;
};

struct envelope_case {
    const char *name;
    int dek;
    const char *bucket;
    const char *key;
    const char *kms;
    size_t wrapped_len;
    uint64_t plain_len;
};

static uint8_t deks[2][CRYPTO_DEK_LEN];
static const uint8_t stream_ids[2][CRYPTO_STREAM_ID_LEN] = {
    {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77},
    {0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
};

static const struct stream_case streams[] = {
    {"single-put-empty", 0, 0, 0, 0},
    {"single-put-1-byte", 0, 0, 0, 1},
    {"single-put-100-bytes", 0, 0, 0, 100},
    {"single-put-one-full-chunk", 0, 0, 0, 65536},
    {"single-put-full-chunk-plus-1", 0, 0, 0, 65537},
    {"multipart-part-7-100-bytes", 1, 7, 1, 100},
};

static const struct envelope_case envelopes[] = {
    {"ascii-key", 0, "example-bucket", "photos/2026/cafe.jpg", "file:k1", 60, 65537},
    {"utf8-key-empty-object", 1, "b2", "dir/\xc3\xbcnicode \xe2\x9c\x93.txt", "file:prod-2", 12, 0},
};

static void init_deks(void)
{
    for (size_t i = 0; i < CRYPTO_DEK_LEN; i++) {
        deks[0][i] = (uint8_t)i;
        deks[1][i] = (uint8_t)(0xff - i);
    }
}

/* plaintext byte i of every stream vector */
static uint8_t plain_byte(size_t i)
{
    return (uint8_t)(i * 7 + 3 + (i >> 8));
}

static void put_hex(FILE *out, const char *name, const uint8_t *buf, size_t len, bool last)
{
    fprintf(out, "      \"%s\": \"", name);
    for (size_t i = 0; i < len; i++) {
        fprintf(out, "%02x", buf[i]);
    }
    fprintf(out, "\"%s\n", last ? "" : ",");
}

/* Writes a JSON string; the vectors contain no characters that need escaping, which is checked here. */
static enum core_err put_string(FILE *out, const char *indent, const char *name, const char *value, bool last)
{
    for (const char *p = value; *p != '\0'; p++) {
        CORE_ENSURE(*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20, CORE_INTERNAL);
    }
    fprintf(out, "%s\"%s\": \"%s\"%s\n", indent, name, value, last ? "" : ",");
    return CORE_OK;
}

static void put_number(FILE *out, const char *name, uint64_t value)
{
    fprintf(out, "      \"%s\": %llu,\n", name, (unsigned long long)value);
}

/* Seals plain in one pass; the caller frees *cipher. */
static enum core_err seal(const struct stream_case *c, const uint8_t *plain, uint8_t **cipher,
                          size_t *cipher_len)
{
    enum core_err err = CORE_OK;
    struct crypto_stream s;
    size_t off = 0;

    *cipher_len = 0;
    *cipher = malloc(crypto_size_encrypted(c->plain_len) + 1);
    CORE_ENSURE(*cipher != NULL, CORE_NOMEM);
    err = crypto_stream_seal_init(&s, deks[c->dek], c->part_number, stream_ids[c->stream_id], c->plain_len);
    while (err == CORE_OK && !crypto_stream_is_complete(&s)) {
        size_t n = crypto_stream_next_plain_len(&s);
        size_t written = 0;

        err = crypto_stream_seal_chunk(&s, plain + off, n, *cipher + *cipher_len, CRYPTO_CHUNK_CIPHER_MAX,
                                       &written);
        off += n;
        *cipher_len += written;
    }
    crypto_stream_cleanup(&s);
    return err;
}

static enum core_err put_keys(FILE *out, const struct stream_case *c)
{
    uint8_t commitment[32];
    uint8_t key_meta[32];
    uint8_t key_stream[32];

    CORE_TRY(crypto_kdf_commitment(deks[c->dek], commitment));
    CORE_TRY(crypto_kdf_meta_key(deks[c->dek], key_meta));
    CORE_TRY(crypto_kdf_stream_key(deks[c->dek], stream_ids[c->stream_id], CRYPTO_SUITE_AES_256_GCM,
                                   c->part_number, key_stream));
    put_hex(out, "commitment", commitment, sizeof(commitment), false);
    put_hex(out, "key_meta", key_meta, sizeof(key_meta), false);
    put_hex(out, "key_stream", key_stream, sizeof(key_stream), false);
    return CORE_OK;
}

/* Writes one stream vector and returns its ciphertext in *cipher, which the caller frees. */
static enum core_err put_stream(FILE *out, const struct stream_case *c, uint8_t **cipher, size_t *cipher_len)
{
    enum core_err err = CORE_OK;
    uint8_t *plain = malloc(c->plain_len + 1);

    if (plain == NULL) {
        err = CORE_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->plain_len; i++) {
        plain[i] = plain_byte(i);
    }
    err = seal(c, plain, cipher, cipher_len);
    if (err != CORE_OK) {
        goto out;
    }

    fprintf(out, "    {\n");
    err = put_string(out, "      ", "name", c->name, false);
    if (err != CORE_OK) {
        goto out;
    }
    put_hex(out, "dek", deks[c->dek], CRYPTO_DEK_LEN, false);
    put_number(out, "part_number", c->part_number);
    put_hex(out, "stream_id", stream_ids[c->stream_id], CRYPTO_STREAM_ID_LEN, false);
    err = put_keys(out, c);
    if (err != CORE_OK) {
        goto out;
    }
    put_number(out, "plaintext_len", c->plain_len);
    put_hex(out, "plaintext", plain, c->plain_len, false);
    put_number(out, "ciphertext_len", *cipher_len);
    put_hex(out, "ciphertext", *cipher, *cipher_len, true);

out:
    free(plain);
    return err;
}

static enum core_err put_streams(FILE *out, uint8_t *ciphers[], size_t cipher_lens[])
{
    size_t count = sizeof(streams) / sizeof(streams[0]);

    fprintf(out, "  \"streams\": [\n");
    for (size_t i = 0; i < count; i++) {
        CORE_TRY(put_stream(out, &streams[i], &ciphers[i], &cipher_lens[i]));
        fprintf(out, "    }%s\n", i + 1 < count ? "," : "");
    }
    fprintf(out, "  ],\n");
    return CORE_OK;
}

/* One stored stream that every decryptor must reject as a whole. */
static enum core_err put_invalid_stream(FILE *out, const char *name, const char *reason,
                                        const struct stream_case *c, uint32_t part_number,
                                        const uint8_t *cipher, size_t cipher_len, bool last)
{
    fprintf(out, "    {\n");
    CORE_TRY(put_string(out, "      ", "name", name, false));
    CORE_TRY(put_string(out, "      ", "reason", reason, false));
    put_hex(out, "dek", deks[c->dek], CRYPTO_DEK_LEN, false);
    put_number(out, "part_number", part_number);
    put_number(out, "plaintext_len", c->plain_len);
    put_hex(out, "ciphertext", cipher, cipher_len, true);
    fprintf(out, "    }%s\n", last ? "" : ",");
    return CORE_OK;
}

/* Derives rejected streams from streams[2] (100 bytes), [4] (65537 bytes) and [5] (part 7). */
static enum core_err put_invalid_streams(FILE *out, uint8_t *ciphers[], size_t cipher_lens[])
{
    uint8_t edited[CRYPTO_CHUNK_CIPHER_MAX];
    size_t small_len = cipher_lens[2];

    fprintf(out, "  \"invalid_streams\": [\n");
    CORE_TRY(put_invalid_stream(out, "final-chunk-dropped", "the stream ends before its FINAL chunk",
                                &streams[4], 0, ciphers[4], CRYPTO_CHUNK_CIPHER_MAX, false));
    CORE_TRY(put_invalid_stream(out, "final-chunk-cut", "the only chunk is 1 byte short", &streams[2], 0,
                                ciphers[2], small_len - 1, false));

    memcpy(edited, ciphers[2], small_len);
    edited[small_len - 1] ^= 0x01;
    CORE_TRY(put_invalid_stream(out, "tag-bit-flipped", "the GCM tag does not match", &streams[2], 0, edited,
                                small_len, false));

    memcpy(edited, ciphers[2], small_len);
    edited[small_len] = 0x00;
    CORE_TRY(put_invalid_stream(out, "byte-after-final", "a byte follows the FINAL chunk", &streams[2], 0,
                                edited, small_len + 1, false));

    memcpy(edited, ciphers[2], small_len);
    edited[1] = 0x00;
    CORE_TRY(put_invalid_stream(out, "final-flag-cleared", "the only chunk lacks the FINAL flag", &streams[2],
                                0, edited, small_len, false));

    memcpy(edited, ciphers[2], small_len);
    edited[1] = 0x11;
    CORE_TRY(put_invalid_stream(out, "unknown-suite", "suite 1 is not defined", &streams[2], 0, edited,
                                small_len, false));

    CORE_TRY(put_invalid_stream(out, "other-part-number", "part 7 read as part 6", &streams[5], 6, ciphers[5],
                                cipher_lens[5], true));
    fprintf(out, "  ],\n");
    return CORE_OK;
}

static void make_wrapped(uint8_t *wrapped, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        wrapped[i] = (uint8_t)(i * 3 + 1);
    }
}

static enum core_err put_metadata(FILE *out, const struct crypto_envelope_headers *h)
{
    const char *in = "        ";

    fprintf(out, "      \"metadata\": {\n");
    CORE_TRY(put_string(out, in, "x-amz-meta-" CRYPTO_META_VERSION, h->version, false));
    CORE_TRY(put_string(out, in, "x-amz-meta-" CRYPTO_META_KMS, h->kms, false));
    CORE_TRY(put_string(out, in, "x-amz-meta-" CRYPTO_META_DEK, h->dek, false));
    CORE_TRY(put_string(out, in, "x-amz-meta-" CRYPTO_META_COMMITMENT, h->commitment, false));
    /* a valid envelope has exactly one of these two; invalid vectors may have both or neither */
    if (h->length[0] != '\0') {
        CORE_TRY(put_string(out, in, "x-amz-meta-" CRYPTO_META_LENGTH, h->length, false));
    }
    if (h->multipart[0] != '\0') {
        CORE_TRY(put_string(out, in, "x-amz-meta-" CRYPTO_META_MULTIPART, h->multipart, false));
    }
    CORE_TRY(put_string(out, in, "x-amz-meta-" CRYPTO_META_MAC, h->mac, true));
    fprintf(out, "      }\n");
    return CORE_OK;
}

static enum core_err put_envelope(FILE *out, const struct envelope_case *c, struct crypto_envelope_headers *h)
{
    uint8_t wrapped[CRYPTO_WRAPPED_MAX];
    uint8_t context[256];
    uint8_t mac_input[512];
    uint8_t key_meta[32];
    size_t context_len = 0;
    size_t mac_input_len = 0;
    struct crypto_envelope env;

    make_wrapped(wrapped, c->wrapped_len);
    CORE_TRY(crypto_envelope_seal(deks[c->dek], c->kms, wrapped, c->wrapped_len, c->plain_len, c->bucket,
                                  strlen(c->bucket), c->key, strlen(c->key), h));
    CORE_TRY(crypto_wrap_context(c->bucket, strlen(c->bucket), c->key, strlen(c->key), context,
                                 sizeof(context), &context_len));
    memset(&env, 0, sizeof(env));
    memcpy(env.kms, c->kms, strlen(c->kms) + 1);
    memcpy(env.wrapped, wrapped, c->wrapped_len);
    env.wrapped_len = c->wrapped_len;
    env.plain_len = c->plain_len;
    CORE_TRY(crypto_kdf_commitment(deks[c->dek], env.commitment));
    CORE_TRY(crypto_envelope_mac_input(&env, c->bucket, strlen(c->bucket), c->key, strlen(c->key), mac_input,
                                       sizeof(mac_input), &mac_input_len));
    CORE_TRY(crypto_kdf_meta_key(deks[c->dek], key_meta));

    fprintf(out, "    {\n");
    CORE_TRY(put_string(out, "      ", "name", c->name, false));
    put_hex(out, "dek", deks[c->dek], CRYPTO_DEK_LEN, false);
    CORE_TRY(put_string(out, "      ", "bucket", c->bucket, false));
    put_hex(out, "bucket_hex", (const uint8_t *)c->bucket, strlen(c->bucket), false);
    CORE_TRY(put_string(out, "      ", "key", c->key, false));
    put_hex(out, "key_hex", (const uint8_t *)c->key, strlen(c->key), false);
    CORE_TRY(put_string(out, "      ", "kms", c->kms, false));
    put_hex(out, "wrapped", wrapped, c->wrapped_len, false);
    put_number(out, "plaintext_len", c->plain_len);
    put_hex(out, "wrap_context", context, context_len, false);
    put_hex(out, "commitment", env.commitment, sizeof(env.commitment), false);
    put_hex(out, "key_meta", key_meta, sizeof(key_meta), false);
    put_hex(out, "mac_input", mac_input, mac_input_len, false);
    return put_metadata(out, h);
}

/*
 * Metadata of envelopes[0] that must fail verification: read for another
 * object, with a changed length, or with the other DEK.
 */
static enum core_err put_invalid_envelopes(FILE *out, const struct crypto_envelope_headers *h)
{
    struct crypto_envelope_headers changed = *h;

    fprintf(out, "  \"invalid_envelopes\": [\n");
    fprintf(out, "    {\n");
    CORE_TRY(put_string(out, "      ", "name", "moved-to-other-key", false));
    put_hex(out, "dek", deks[0], CRYPTO_DEK_LEN, false);
    CORE_TRY(put_string(out, "      ", "bucket", envelopes[0].bucket, false));
    CORE_TRY(put_string(out, "      ", "key", "photos/2026/cafe2.jpg", false));
    CORE_TRY(put_metadata(out, h));
    fprintf(out, "    },\n    {\n");

    memcpy(changed.length, "65536", sizeof("65536"));
    CORE_TRY(put_string(out, "      ", "name", "length-changed", false));
    put_hex(out, "dek", deks[0], CRYPTO_DEK_LEN, false);
    CORE_TRY(put_string(out, "      ", "bucket", envelopes[0].bucket, false));
    CORE_TRY(put_string(out, "      ", "key", envelopes[0].key, false));
    CORE_TRY(put_metadata(out, &changed));
    fprintf(out, "    },\n    {\n");

    CORE_TRY(put_string(out, "      ", "name", "wrong-dek", false));
    put_hex(out, "dek", deks[1], CRYPTO_DEK_LEN, false);
    CORE_TRY(put_string(out, "      ", "bucket", envelopes[0].bucket, false));
    CORE_TRY(put_string(out, "      ", "key", envelopes[0].key, false));
    CORE_TRY(put_metadata(out, h));
    fprintf(out, "    }\n  ],\n");
    return CORE_OK;
}

static enum core_err put_envelopes(FILE *out)
{
    size_t count = sizeof(envelopes) / sizeof(envelopes[0]);
    struct crypto_envelope_headers first;
    struct crypto_envelope_headers h;

    fprintf(out, "  \"envelopes\": [\n");
    for (size_t i = 0; i < count; i++) {
        CORE_TRY(put_envelope(out, &envelopes[i], &h));
        if (i == 0) {
            first = h;
        }
        fprintf(out, "    }%s\n", i + 1 < count ? "," : "");
    }
    fprintf(out, "  ],\n");
    return put_invalid_envelopes(out, &first);
}

/*
 * The multipart object vector: part 1 contains one full chunk and part 2 a
 * short one, so the object shows both the part boundary and the aligned
 * chunk arithmetic. Plaintext byte i of the whole object is plain_byte(i).
 */
struct multipart_part {
    uint32_t part_number;
    int stream_id;
    size_t plain_len;
};

static const struct multipart_part multipart_parts[] = {{1, 0, 65536}, {2, 1, 100}};
static const struct envelope_case multipart_object = {
    "two-parts", 1, "example-bucket", "backups/db.tar", "file:k1", 40, 0};

#define MULTIPART_PART_COUNT (sizeof(multipart_parts) / sizeof(multipart_parts[0]))

/* Seals every part of multipart_object; the caller frees *plain and *cipher. */
static enum core_err seal_multipart_object(uint8_t **plain, size_t *plain_len, uint8_t **cipher,
                                           size_t *cipher_len, size_t part_cipher_lens[])
{
    size_t off = 0;

    *plain_len = 0;
    *cipher_len = 0;
    for (size_t i = 0; i < MULTIPART_PART_COUNT; i++) {
        *plain_len += multipart_parts[i].plain_len;
    }
    *plain = malloc(*plain_len);
    *cipher = malloc(crypto_size_encrypted(*plain_len));
    CORE_ENSURE(*plain != NULL && *cipher != NULL, CORE_NOMEM);
    for (size_t i = 0; i < *plain_len; i++) {
        (*plain)[i] = plain_byte(i);
    }

    for (size_t i = 0; i < MULTIPART_PART_COUNT; i++) {
        const struct multipart_part *p = &multipart_parts[i];
        struct stream_case c = {"part", multipart_object.dek, p->part_number, p->stream_id, p->plain_len};
        uint8_t *part_cipher = NULL;

        CORE_TRY(seal(&c, *plain + off, &part_cipher, &part_cipher_lens[i]));
        memcpy(*cipher + *cipher_len, part_cipher, part_cipher_lens[i]);
        free(part_cipher);
        *cipher_len += part_cipher_lens[i];
        off += p->plain_len;
    }
    return CORE_OK;
}

static enum core_err put_multipart_parts(FILE *out, const size_t part_cipher_lens[])
{
    const int dek = multipart_object.dek;

    fprintf(out, "      \"parts\": [\n");
    for (size_t i = 0; i < MULTIPART_PART_COUNT; i++) {
        const struct multipart_part *p = &multipart_parts[i];
        uint8_t key_stream[32];

        CORE_TRY(crypto_kdf_stream_key(deks[dek], stream_ids[p->stream_id], CRYPTO_SUITE_AES_256_GCM,
                                       p->part_number, key_stream));
        fprintf(out, "        {\n");
        fprintf(out, "          \"part_number\": %u,\n", (unsigned)p->part_number);
        fprintf(out, "          \"plaintext_len\": %zu,\n", p->plain_len);
        fprintf(out, "          \"ciphertext_len\": %zu,\n", part_cipher_lens[i]);
        fprintf(out, "          \"stream_id\": \"");
        for (size_t j = 0; j < CRYPTO_STREAM_ID_LEN; j++) {
            fprintf(out, "%02x", stream_ids[p->stream_id][j]);
        }
        fprintf(out, "\",\n          \"key_stream\": \"");
        for (size_t j = 0; j < sizeof(key_stream); j++) {
            fprintf(out, "%02x", key_stream[j]);
        }
        fprintf(out, "\"\n        }%s\n", i + 1 < MULTIPART_PART_COUNT ? "," : "");
    }
    fprintf(out, "      ],\n");
    return CORE_OK;
}

/* Writes the envelope inputs of the multipart object vector; h receives its metadata, written last. */
static enum core_err put_multipart_envelope(FILE *out, struct crypto_envelope_headers *h)
{
    const struct envelope_case *c = &multipart_object;
    uint8_t wrapped[CRYPTO_WRAPPED_MAX];
    uint8_t mac_input[512];
    size_t mac_input_len = 0;
    struct crypto_envelope env;

    make_wrapped(wrapped, c->wrapped_len);
    CORE_TRY(crypto_envelope_seal_multipart(deks[c->dek], c->kms, wrapped, c->wrapped_len, c->bucket,
                                            strlen(c->bucket), c->key, strlen(c->key), h));
    memset(&env, 0, sizeof(env));
    memcpy(env.kms, c->kms, strlen(c->kms) + 1);
    memcpy(env.wrapped, wrapped, c->wrapped_len);
    env.wrapped_len = c->wrapped_len;
    env.multipart = true;
    CORE_TRY(crypto_kdf_commitment(deks[c->dek], env.commitment));
    CORE_TRY(crypto_envelope_mac_input(&env, c->bucket, strlen(c->bucket), c->key, strlen(c->key), mac_input,
                                       sizeof(mac_input), &mac_input_len));

    CORE_TRY(put_string(out, "      ", "name", c->name, false));
    put_hex(out, "dek", deks[c->dek], CRYPTO_DEK_LEN, false);
    CORE_TRY(put_string(out, "      ", "bucket", c->bucket, false));
    put_hex(out, "bucket_hex", (const uint8_t *)c->bucket, strlen(c->bucket), false);
    CORE_TRY(put_string(out, "      ", "key", c->key, false));
    put_hex(out, "key_hex", (const uint8_t *)c->key, strlen(c->key), false);
    CORE_TRY(put_string(out, "      ", "kms", c->kms, false));
    put_hex(out, "wrapped", wrapped, c->wrapped_len, false);
    put_hex(out, "mac_input", mac_input, mac_input_len, false);
    return CORE_OK;
}

/* One stored multipart object that every reader must reject, with the DEK of the valid one. */
static void put_invalid_multipart(FILE *out, const char *name, const char *reason, const uint8_t *cipher,
                                  size_t cipher_len, bool last)
{
    fprintf(out, "    {\n");
    fprintf(out, "      \"name\": \"%s\",\n      \"reason\": \"%s\",\n", name, reason);
    put_hex(out, "dek", deks[multipart_object.dek], CRYPTO_DEK_LEN, false);
    put_hex(out, "ciphertext", cipher, cipher_len, true);
    fprintf(out, "    }%s\n", last ? "" : ",");
}

/*
 * Rejected variants of the multipart object: its parts swapped, its last
 * byte dropped, and a single-PUT stream (part number 0) read as multipart.
 */
static enum core_err put_invalid_multipart_objects(FILE *out, const uint8_t *cipher, size_t cipher_len,
                                                   const size_t part_cipher_lens[], const uint8_t *single,
                                                   size_t single_len)
{
    uint8_t *swapped = malloc(cipher_len);

    CORE_ENSURE(swapped != NULL, CORE_NOMEM);
    memcpy(swapped, cipher + part_cipher_lens[0], part_cipher_lens[1]);
    memcpy(swapped + part_cipher_lens[1], cipher, part_cipher_lens[0]);

    fprintf(out, "  \"invalid_multipart_objects\": [\n");
    put_invalid_multipart(out, "parts-swapped", "part 2 is stored before part 1", swapped, cipher_len, false);
    put_invalid_multipart(out, "last-byte-dropped", "the data ends inside the last chunk", cipher,
                          cipher_len - 1, false);
    put_invalid_multipart(out, "single-put-stream", "part number 0 belongs to a single PUT", single,
                          single_len, true);
    fprintf(out, "  ],\n");
    free(swapped);
    return CORE_OK;
}

/* Metadata of the multipart object with the marker replaced by a length, or next to one. */
static enum core_err put_invalid_multipart_envelopes(FILE *out, const struct crypto_envelope_headers *h)
{
    struct crypto_envelope_headers changed = *h;
    const struct envelope_case *c = &multipart_object;

    fprintf(out, "  \"invalid_multipart_envelopes\": [\n    {\n");
    changed.multipart[0] = '\0';
    memcpy(changed.length, "0", sizeof("0"));
    CORE_TRY(put_string(out, "      ", "name", "marker-replaced-by-length", false));
    put_hex(out, "dek", deks[c->dek], CRYPTO_DEK_LEN, false);
    CORE_TRY(put_string(out, "      ", "bucket", c->bucket, false));
    CORE_TRY(put_string(out, "      ", "key", c->key, false));
    CORE_TRY(put_metadata(out, &changed));
    fprintf(out, "    },\n    {\n");

    memcpy(changed.multipart, h->multipart, sizeof(changed.multipart));
    CORE_TRY(put_string(out, "      ", "name", "marker-and-length", false));
    put_hex(out, "dek", deks[c->dek], CRYPTO_DEK_LEN, false);
    CORE_TRY(put_string(out, "      ", "bucket", c->bucket, false));
    CORE_TRY(put_string(out, "      ", "key", c->key, false));
    CORE_TRY(put_metadata(out, &changed));
    fprintf(out, "    }\n  ]\n");
    return CORE_OK;
}

/* Writes the multipart object, its rejected variants and its rejected envelopes. */
static enum core_err put_multipart(FILE *out, const uint8_t *single, size_t single_len)
{
    enum core_err err = CORE_OK;
    struct crypto_envelope_headers h;
    size_t part_cipher_lens[MULTIPART_PART_COUNT] = {0};
    uint8_t *plain = NULL;
    uint8_t *cipher = NULL;
    size_t plain_len = 0;
    size_t cipher_len = 0;

    err = seal_multipart_object(&plain, &plain_len, &cipher, &cipher_len, part_cipher_lens);
    if (err != CORE_OK) {
        goto out;
    }
    fprintf(out, "  \"multipart_objects\": [\n    {\n");
    err = put_multipart_envelope(out, &h);
    if (err == CORE_OK) {
        err = put_multipart_parts(out, part_cipher_lens);
    }
    if (err != CORE_OK) {
        goto out;
    }
    put_number(out, "plaintext_len", plain_len);
    put_hex(out, "plaintext", plain, plain_len, false);
    put_number(out, "ciphertext_len", cipher_len);
    put_hex(out, "ciphertext", cipher, cipher_len, false);
    err = put_metadata(out, &h);
    if (err != CORE_OK) {
        goto out;
    }
    fprintf(out, "    }\n  ],\n");

    err = put_invalid_multipart_objects(out, cipher, cipher_len, part_cipher_lens, single, single_len);
    if (err == CORE_OK) {
        err = put_invalid_multipart_envelopes(out, &h);
    }

out:
    free(plain);
    free(cipher);
    return err;
}

enum core_err vectors_write(FILE *out)
{
    enum core_err err = CORE_OK;
    size_t count = sizeof(streams) / sizeof(streams[0]);
    uint8_t *ciphers[sizeof(streams) / sizeof(streams[0])] = {NULL};
    size_t cipher_lens[sizeof(streams) / sizeof(streams[0])] = {0};

    init_deks();
    fprintf(out, "{\n");
    fprintf(out, "  \"format\": \"s3seal/1\",\n");
    fprintf(out, "  \"description\": \"Known-answer vectors of the s3seal object format version 1, "
                 "specified in docs/FORMAT.md. Byte strings are lower-case hex.\",\n");
    err = put_streams(out, ciphers, cipher_lens);
    if (err != CORE_OK) {
        goto out;
    }
    err = put_invalid_streams(out, ciphers, cipher_lens);
    if (err != CORE_OK) {
        goto out;
    }
    err = put_envelopes(out);
    if (err != CORE_OK) {
        goto out;
    }
    /* streams[2] is a 100-byte single PUT */
    err = put_multipart(out, ciphers[2], cipher_lens[2]);
    fprintf(out, "}\n");

out:
    for (size_t i = 0; i < count; i++) {
        free(ciphers[i]);
    }
    return err;
}
