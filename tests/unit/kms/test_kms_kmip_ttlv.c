/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the KMIP TTLV codec (kms/kms_kmip_ttlv.c) and of the KMIP messages built on it
 * (kms/kms_kmip_msg.c), with byte strings written here by hand. No server is needed.
 */
#include <stdio.h>
#include <string.h>

#include "kms/kms_kmip_msg.h"
#include "kms/kms_kmip_ttlv.h"
#include "tests/unit/crypto/test_check.h"

/* Tags from the KMIP 1.4 specification, section 9.1.3.1, as the messages use them. */
#define TAG_AUTH_ADDITIONAL_DATA 0x4200FEu
#define TAG_AUTH_TAG 0x4200FFu
#define TAG_BATCH_COUNT 0x42000Du
#define TAG_BATCH_ITEM 0x42000Fu
#define TAG_BLOCK_CIPHER_MODE 0x420011u
#define TAG_CRYPTOGRAPHIC_ALGORITHM 0x420028u
#define TAG_CRYPTOGRAPHIC_PARAMETERS 0x42002Bu
#define TAG_DATA 0x4200C2u
#define TAG_IV_COUNTER_NONCE 0x42003Du
#define TAG_OPERATION 0x42005Cu
#define TAG_PROTOCOL_VERSION 0x420069u
#define TAG_PROTOCOL_VERSION_MAJOR 0x42006Au
#define TAG_PROTOCOL_VERSION_MINOR 0x42006Bu
#define TAG_REQUEST_PAYLOAD 0x420079u
#define TAG_RESPONSE_HEADER 0x42007Au
#define TAG_RESPONSE_MESSAGE 0x42007Bu
#define TAG_RESPONSE_PAYLOAD 0x42007Cu
#define TAG_RESULT_MESSAGE 0x42007Du
#define TAG_RESULT_REASON 0x42007Eu
#define TAG_RESULT_STATUS 0x42007Fu
#define TAG_TAG_LENGTH 0x4200CEu
#define TAG_TIME_STAMP 0x420092u
#define TAG_UNIQUE_IDENTIFIER 0x420094u

#define MAX_DEPTH 8

static const uint8_t iv12[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint8_t tag16[16] = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
                                  0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF};
static const uint8_t data32[32] = {0x5A};

/* ---- writer ---- */

static void test_writer_integer_bytes(void)
{
    static const uint8_t expected[] = {0x42, 0x00, 0x6A, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
    uint8_t buf[64];
    struct kms_ttlv_writer w;
    size_t len = 0;

    kms_ttlv_writer_init(&w, buf, sizeof(buf));
    kms_ttlv_put_integer(&w, TAG_PROTOCOL_VERSION_MAJOR, 1);
    CHECK(kms_ttlv_writer_finish(&w, &len) == CORE_OK);
    CHECK(len == sizeof(expected));
    CHECK(memcmp(buf, expected, sizeof(expected)) == 0);
}

static void test_writer_text_padding(void)
{
    static const uint8_t expected[] = {0x42, 0x00, 0x94, 0x07, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0};
    uint8_t buf[64];
    struct kms_ttlv_writer w;
    size_t len = 0;

    memset(buf, 0xEE, sizeof(buf));
    kms_ttlv_writer_init(&w, buf, sizeof(buf));
    kms_ttlv_put_text(&w, TAG_UNIQUE_IDENTIFIER, "abc", 3);
    CHECK(kms_ttlv_writer_finish(&w, &len) == CORE_OK);
    CHECK(len == sizeof(expected));
    CHECK(memcmp(buf, expected, sizeof(expected)) == 0);
}

/* The request header of every request: protocol version 1.4 and a batch count of 1. */
static void test_request_header_bytes(void)
{
    static const uint8_t expected[] = {
        0x42, 0x00, 0x77, 0x01, 0, 0, 0, 0x38,                   /* Request Header, 56 bytes */
        0x42, 0x00, 0x69, 0x01, 0, 0, 0, 0x20,                   /* Protocol Version, 32 bytes */
        0x42, 0x00, 0x6A, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, /* major 1 */
        0x42, 0x00, 0x6B, 0x02, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, /* minor 4 */
        0x42, 0x00, 0x0D, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, /* Batch Count 1 */
    };
    const struct kms_kmip_crypt_request req = {
        .op = KMS_KMIP_OP_ENCRYPT, .key_id = "7", .data = data32, .data_len = 32, .iv = iv12, .iv_len = 12,
    };
    uint8_t buf[1024];
    size_t len = 0;

    CHECK(kms_kmip_encode_crypt_request(&req, buf, sizeof(buf), &len) == CORE_OK);
    CHECK(len > 8 + sizeof(expected));
    CHECK(memcmp(buf, (const uint8_t[]){0x42, 0x00, 0x78, 0x01}, 4) == 0);
    CHECK(memcmp(buf + 8, expected, sizeof(expected)) == 0);
}

static void test_writer_overflow(void)
{
    uint8_t buf[24];
    struct kms_ttlv_writer w;
    size_t len = 0;

    kms_ttlv_writer_init(&w, buf, sizeof(buf));
    kms_ttlv_put_integer(&w, TAG_BATCH_COUNT, 1);
    kms_ttlv_put_integer(&w, TAG_BATCH_COUNT, 2);
    CHECK(kms_ttlv_writer_finish(&w, &len) == CORE_TOO_LARGE);
}

static void test_writer_unbalanced(void)
{
    uint8_t buf[64];
    struct kms_ttlv_writer w;
    size_t len = 0;

    kms_ttlv_writer_init(&w, buf, sizeof(buf));
    kms_ttlv_begin(&w, TAG_BATCH_ITEM);
    CHECK(kms_ttlv_writer_finish(&w, &len) == CORE_INTERNAL);

    kms_ttlv_writer_init(&w, buf, sizeof(buf));
    kms_ttlv_end(&w);
    CHECK(kms_ttlv_writer_finish(&w, &len) == CORE_INTERNAL);
}

static void test_writer_depth_limit(void)
{
    uint8_t buf[256];
    struct kms_ttlv_writer w;
    size_t len = 0;

    kms_ttlv_writer_init(&w, buf, sizeof(buf));
    for (int i = 0; i <= KMS_TTLV_WRITER_DEPTH; i++) {
        kms_ttlv_begin(&w, TAG_BATCH_ITEM);
    }
    CHECK(kms_ttlv_writer_finish(&w, &len) == CORE_TOO_LARGE);
}

/* ---- reader ---- */

/* Writes a structure holding one item of every type the provider uses, nested two deep. */
static size_t build_sample(uint8_t *buf, size_t cap)
{
    struct kms_ttlv_writer w;
    size_t len = 0;

    kms_ttlv_writer_init(&w, buf, cap);
    kms_ttlv_begin(&w, TAG_BATCH_ITEM);
    kms_ttlv_put_integer(&w, TAG_BATCH_COUNT, -5);
    kms_ttlv_put_enum(&w, TAG_OPERATION, 0x1F);
    kms_ttlv_put_long(&w, TAG_TIME_STAMP, -1234567890123LL);
    kms_ttlv_put_bool(&w, TAG_TAG_LENGTH, true);
    kms_ttlv_begin(&w, TAG_REQUEST_PAYLOAD);
    kms_ttlv_put_text(&w, TAG_UNIQUE_IDENTIFIER, "key-1", 5);
    kms_ttlv_put_bytes(&w, TAG_DATA, data32, 17);
    kms_ttlv_put_bytes(&w, TAG_IV_COUNTER_NONCE, NULL, 0);
    kms_ttlv_end(&w);
    kms_ttlv_end(&w);
    if (kms_ttlv_writer_finish(&w, &len) != CORE_OK) {
        return 0;
    }
    return len;
}

static void test_round_trip(void)
{
    uint8_t buf[512];
    size_t len = build_sample(buf, sizeof(buf));
    struct kms_ttlv_item root;
    struct kms_ttlv_item item;
    struct kms_ttlv_item payload;
    int32_t i32 = 0;
    uint32_t u32 = 0;
    int64_t i64 = 0;
    bool flag = false;

    CHECK(len == 8 + 16 + 16 + 16 + 16 + 8 + 16 + 32 + 8);
    CHECK(kms_ttlv_parse(buf, len, MAX_DEPTH, &root) == CORE_OK);
    CHECK(root.tag == TAG_BATCH_ITEM);
    CHECK(root.type == KMS_TTLV_STRUCTURE);
    CHECK(root.len == len - 8);

    CHECK(kms_ttlv_find(&root, TAG_BATCH_COUNT, &item) == CORE_OK);
    CHECK(kms_ttlv_get_integer(&item, &i32) == CORE_OK);
    CHECK(i32 == -5);
    CHECK(kms_ttlv_find(&root, TAG_OPERATION, &item) == CORE_OK);
    CHECK(kms_ttlv_get_enum(&item, &u32) == CORE_OK);
    CHECK(u32 == 0x1F);
    CHECK(kms_ttlv_find(&root, TAG_TIME_STAMP, &item) == CORE_OK);
    CHECK(kms_ttlv_get_long(&item, &i64) == CORE_OK);
    CHECK(i64 == -1234567890123LL);
    CHECK(kms_ttlv_find(&root, TAG_TAG_LENGTH, &item) == CORE_OK);
    CHECK(kms_ttlv_get_bool(&item, &flag) == CORE_OK);
    CHECK(flag);

    CHECK(kms_ttlv_find(&root, TAG_REQUEST_PAYLOAD, &payload) == CORE_OK);
    CHECK(kms_ttlv_find(&payload, TAG_UNIQUE_IDENTIFIER, &item) == CORE_OK);
    CHECK(item.type == KMS_TTLV_TEXT_STRING);
    CHECK(item.len == 5);
    CHECK(memcmp(item.value, "key-1", 5) == 0);
    CHECK(kms_ttlv_find(&payload, TAG_DATA, &item) == CORE_OK);
    CHECK(item.type == KMS_TTLV_BYTE_STRING);
    CHECK(item.len == 17);
    CHECK(memcmp(item.value, data32, 17) == 0);
    CHECK(kms_ttlv_find(&payload, TAG_IV_COUNTER_NONCE, &item) == CORE_OK);
    CHECK(item.len == 0);
    CHECK(kms_ttlv_count(&root, TAG_REQUEST_PAYLOAD) == 1);
}

static void test_lookups_check_types(void)
{
    uint8_t buf[512];
    size_t len = build_sample(buf, sizeof(buf));
    struct kms_ttlv_item root;
    struct kms_ttlv_item item;
    int32_t i32 = 0;
    uint32_t u32 = 0;

    CHECK(kms_ttlv_parse(buf, len, MAX_DEPTH, &root) == CORE_OK);
    CHECK(kms_ttlv_find(&root, TAG_RESULT_STATUS, &item) == CORE_KMS);
    CHECK(kms_ttlv_find(&root, TAG_OPERATION, &item) == CORE_OK);
    CHECK(kms_ttlv_get_integer(&item, &i32) == CORE_KMS);
    CHECK(kms_ttlv_find(&item, TAG_OPERATION, &item) == CORE_KMS);
    CHECK(kms_ttlv_find(&root, TAG_BATCH_COUNT, &item) == CORE_OK);
    CHECK(kms_ttlv_get_enum(&item, &u32) == CORE_KMS);
}

static void test_every_truncation_fails(void)
{
    uint8_t buf[512];
    size_t len = build_sample(buf, sizeof(buf));
    struct kms_ttlv_item root;
    int accepted = 0;

    for (size_t cut = 0; cut < len; cut++) {
        accepted += kms_ttlv_parse(buf, cut, MAX_DEPTH, &root) == CORE_OK;
    }
    CHECK(accepted == 0);
}

static void test_trailing_bytes_fail(void)
{
    uint8_t buf[512];
    size_t len = build_sample(buf, sizeof(buf));
    struct kms_ttlv_item root;

    memset(buf + len, 0, 8);
    CHECK(kms_ttlv_parse(buf, len + 8, MAX_DEPTH, &root) == CORE_KMS);
}

/* Sets the 4-byte big-endian length at p. */
static void set_len(uint8_t *p, uint32_t len)
{
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
}

static void test_wrong_lengths_fail(void)
{
    uint8_t integer[] = {0x42, 0x00, 0x0D, 0x02, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0};
    uint8_t boolean[] = {0x42, 0x00, 0xCE, 0x06, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
    uint8_t text[] = {0x42, 0x00, 0x94, 0x07, 0, 0, 0, 9, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    uint8_t huge[] = {0x42, 0x00, 0x94, 0x08, 0xFF, 0xFF, 0xFF, 0xF8, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t odd_structure[] = {0x42, 0x00, 0x0F, 0x01, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0};
    struct kms_ttlv_item root;

    CHECK(kms_ttlv_parse(integer, sizeof(integer), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(boolean, sizeof(boolean), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(text, sizeof(text), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(huge, sizeof(huge), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(odd_structure, sizeof(odd_structure), MAX_DEPTH, &root) == CORE_KMS);

    /* a structure whose length ends inside its last item */
    uint8_t buf[512];
    size_t len = build_sample(buf, sizeof(buf));
    set_len(buf + 4, (uint32_t)(len - 8 - 8));
    CHECK(kms_ttlv_parse(buf, len - 8, MAX_DEPTH, &root) == CORE_KMS);
}

static void test_bad_values_fail(void)
{
    uint8_t text_pad[] = {0x42, 0x00, 0x94, 0x07, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 1, 0, 0};
    uint8_t integer_pad[] = {0x42, 0x00, 0x0D, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0x80};
    uint8_t boolean_two[] = {0x42, 0x00, 0xCE, 0x06, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2};
    uint8_t type_zero[] = {0x42, 0x00, 0x0D, 0x00, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
    uint8_t type_unknown[] = {0x42, 0x00, 0x0D, 0x0B, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
    struct kms_ttlv_item root;

    CHECK(kms_ttlv_parse(text_pad, sizeof(text_pad), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(integer_pad, sizeof(integer_pad), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(boolean_two, sizeof(boolean_two), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(type_zero, sizeof(type_zero), MAX_DEPTH, &root) == CORE_KMS);
    CHECK(kms_ttlv_parse(type_unknown, sizeof(type_unknown), MAX_DEPTH, &root) == CORE_KMS);
}

/* Writes depth structures nested inside each other, by hand, since the writer stops at its own limit. */
static size_t build_nested(uint8_t *buf, size_t depth)
{
    size_t len = depth * 8;

    for (size_t i = 0; i < depth; i++) {
        uint8_t *p = buf + i * 8;

        p[0] = 0x42;
        p[1] = 0x00;
        p[2] = 0x0F;
        p[3] = KMS_TTLV_STRUCTURE;
        set_len(p + 4, (uint32_t)(len - (i + 1) * 8));
    }
    return len;
}

static void test_nesting_limit(void)
{
    uint8_t buf[1024];
    struct kms_ttlv_item root;
    size_t len;

    len = build_nested(buf, MAX_DEPTH);
    CHECK(kms_ttlv_parse(buf, len, MAX_DEPTH, &root) == CORE_OK);
    len = build_nested(buf, MAX_DEPTH + 1);
    CHECK(kms_ttlv_parse(buf, len, MAX_DEPTH, &root) == CORE_KMS);
    len = build_nested(buf, 100);
    CHECK(kms_ttlv_parse(buf, len, MAX_DEPTH, &root) == CORE_KMS);
}

/* ---- requests ---- */

static void test_encrypt_request_fields(void)
{
    static const uint8_t aad[] = "bucket/key";
    const struct kms_kmip_crypt_request req = {
        .op = KMS_KMIP_OP_ENCRYPT, .key_id = "42", .data = data32, .data_len = 32, .iv = iv12, .iv_len = 12,
        .aad = aad, .aad_len = sizeof(aad) - 1,
    };
    uint8_t buf[1024];
    size_t len = 0;
    struct kms_ttlv_item root;
    struct kms_ttlv_item batch;
    struct kms_ttlv_item payload;
    struct kms_ttlv_item params;
    struct kms_ttlv_item item;
    uint32_t u32 = 0;
    int32_t i32 = 0;

    CHECK(kms_kmip_encode_crypt_request(&req, buf, sizeof(buf), &len) == CORE_OK);
    CHECK(kms_ttlv_parse(buf, len, MAX_DEPTH, &root) == CORE_OK);
    CHECK(kms_ttlv_find(&root, TAG_BATCH_ITEM, &batch) == CORE_OK);
    CHECK(kms_ttlv_find(&batch, TAG_OPERATION, &item) == CORE_OK);
    CHECK(kms_ttlv_get_enum(&item, &u32) == CORE_OK);
    CHECK(u32 == KMS_KMIP_OP_ENCRYPT);
    CHECK(kms_ttlv_find(&batch, TAG_REQUEST_PAYLOAD, &payload) == CORE_OK);
    CHECK(kms_ttlv_find(&payload, TAG_UNIQUE_IDENTIFIER, &item) == CORE_OK);
    CHECK(item.len == 2);
    CHECK(memcmp(item.value, "42", 2) == 0);
    CHECK(kms_ttlv_find(&payload, TAG_DATA, &item) == CORE_OK);
    CHECK(item.len == 32);
    CHECK(memcmp(item.value, data32, 32) == 0);
    CHECK(kms_ttlv_find(&payload, TAG_IV_COUNTER_NONCE, &item) == CORE_OK);
    CHECK(item.len == 12);
    CHECK(memcmp(item.value, iv12, 12) == 0);
    CHECK(kms_ttlv_find(&payload, TAG_AUTH_ADDITIONAL_DATA, &item) == CORE_OK);
    CHECK(item.len == sizeof(aad) - 1);
    CHECK(memcmp(item.value, aad, item.len) == 0);
    CHECK(kms_ttlv_find(&payload, TAG_AUTH_TAG, &item) == CORE_KMS);

    CHECK(kms_ttlv_find(&payload, TAG_CRYPTOGRAPHIC_PARAMETERS, &params) == CORE_OK);
    CHECK(kms_ttlv_find(&params, TAG_BLOCK_CIPHER_MODE, &item) == CORE_OK);
    CHECK(kms_ttlv_get_enum(&item, &u32) == CORE_OK);
    CHECK(u32 == 0x09);
    CHECK(kms_ttlv_find(&params, TAG_CRYPTOGRAPHIC_ALGORITHM, &item) == CORE_OK);
    CHECK(kms_ttlv_get_enum(&item, &u32) == CORE_OK);
    CHECK(u32 == 0x03);
    CHECK(kms_ttlv_find(&params, TAG_TAG_LENGTH, &item) == CORE_OK);
    CHECK(kms_ttlv_get_integer(&item, &i32) == CORE_OK);
    CHECK(i32 == 16);
}

static void test_decrypt_request_fields(void)
{
    const struct kms_kmip_crypt_request req = {
        .op = KMS_KMIP_OP_DECRYPT, .key_id = "42", .data = data32, .data_len = 32, .iv = iv12, .iv_len = 12,
        .tag = tag16, .tag_len = 16,
    };
    uint8_t buf[1024];
    size_t len = 0;
    struct kms_ttlv_item root;
    struct kms_ttlv_item batch;
    struct kms_ttlv_item payload;
    struct kms_ttlv_item item;

    CHECK(kms_kmip_encode_crypt_request(&req, buf, sizeof(buf), &len) == CORE_OK);
    CHECK(kms_ttlv_parse(buf, len, MAX_DEPTH, &root) == CORE_OK);
    CHECK(kms_ttlv_find(&root, TAG_BATCH_ITEM, &batch) == CORE_OK);
    CHECK(kms_ttlv_find(&batch, TAG_REQUEST_PAYLOAD, &payload) == CORE_OK);
    CHECK(kms_ttlv_find(&payload, TAG_AUTH_TAG, &item) == CORE_OK);
    CHECK(item.len == 16);
    CHECK(memcmp(item.value, tag16, 16) == 0);
    /* no context: the field is left out rather than sent empty */
    CHECK(kms_ttlv_find(&payload, TAG_AUTH_ADDITIONAL_DATA, &item) == CORE_KMS);
}

static void test_request_limits(void)
{
    static uint8_t big_aad[KMS_KMIP_AAD_MAX + 1];
    struct kms_kmip_crypt_request req = {
        .op = KMS_KMIP_OP_ENCRYPT, .key_id = "42", .data = data32, .data_len = 32, .iv = iv12, .iv_len = 12,
        .aad = big_aad, .aad_len = sizeof(big_aad),
    };
    uint8_t buf[KMS_KMIP_REQUEST_MAX];
    size_t len = 0;

    CHECK(kms_kmip_encode_crypt_request(&req, buf, sizeof(buf), &len) == CORE_TOO_LARGE);
    req.aad_len = KMS_KMIP_AAD_MAX;
    CHECK(kms_kmip_encode_crypt_request(&req, buf, sizeof(buf), &len) == CORE_OK);
    CHECK(kms_kmip_encode_crypt_request(&req, buf, 100, &len) == CORE_TOO_LARGE);
}

/* ---- responses ---- */

/* Fields of a response that the tests change one at a time. */
struct response_spec {
    int32_t major;
    int32_t batch_count;
    int batch_items;
    uint32_t operation; /* 0: left out */
    uint32_t status;
    uint32_t reason; /* 0: left out */
    const char *message;
    bool payload;
    bool data_as_text;
};

static struct response_spec success_spec(void)
{
    return (struct response_spec){.major = 1, .batch_count = 1, .batch_items = 1,
                                  .operation = KMS_KMIP_OP_ENCRYPT, .payload = true};
}

static size_t build_response(const struct response_spec *spec, uint8_t *buf, size_t cap)
{
    struct kms_ttlv_writer w;
    size_t len = 0;

    kms_ttlv_writer_init(&w, buf, cap);
    kms_ttlv_begin(&w, TAG_RESPONSE_MESSAGE);
    kms_ttlv_begin(&w, TAG_RESPONSE_HEADER);
    kms_ttlv_begin(&w, TAG_PROTOCOL_VERSION);
    kms_ttlv_put_integer(&w, TAG_PROTOCOL_VERSION_MAJOR, spec->major);
    kms_ttlv_put_integer(&w, TAG_PROTOCOL_VERSION_MINOR, 4);
    kms_ttlv_end(&w);
    kms_ttlv_put_long(&w, TAG_TIME_STAMP, 1700000000);
    kms_ttlv_put_integer(&w, TAG_BATCH_COUNT, spec->batch_count);
    kms_ttlv_end(&w);

    for (int i = 0; i < spec->batch_items; i++) {
        kms_ttlv_begin(&w, TAG_BATCH_ITEM);
        if (spec->operation != 0) {
            kms_ttlv_put_enum(&w, TAG_OPERATION, spec->operation);
        }
        kms_ttlv_put_enum(&w, TAG_RESULT_STATUS, spec->status);
        if (spec->reason != 0) {
            kms_ttlv_put_enum(&w, TAG_RESULT_REASON, spec->reason);
        }
        if (spec->message != NULL) {
            kms_ttlv_put_text(&w, TAG_RESULT_MESSAGE, spec->message, strlen(spec->message));
        }
        if (spec->payload) {
            kms_ttlv_begin(&w, TAG_RESPONSE_PAYLOAD);
            kms_ttlv_put_text(&w, TAG_UNIQUE_IDENTIFIER, "42", 2);
            if (spec->data_as_text) {
                kms_ttlv_put_text(&w, TAG_DATA, "x", 1);
            } else {
                kms_ttlv_put_bytes(&w, TAG_DATA, data32, 32);
            }
            kms_ttlv_put_bytes(&w, TAG_IV_COUNTER_NONCE, iv12, 12);
            kms_ttlv_put_bytes(&w, TAG_AUTH_TAG, tag16, 16);
            kms_ttlv_end(&w);
        }
        kms_ttlv_end(&w);
    }
    kms_ttlv_end(&w);
    if (kms_ttlv_writer_finish(&w, &len) != CORE_OK) {
        return 0;
    }
    return len;
}

static void test_response_success(void)
{
    struct response_spec spec = success_spec();
    uint8_t buf[1024];
    size_t len = build_response(&spec, buf, sizeof(buf));
    struct kms_kmip_crypt_response r;
    size_t total = 0;

    CHECK(kms_kmip_response_length(buf, &total) == CORE_OK);
    CHECK(total == len);
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_ENCRYPT, &r) == CORE_OK);
    CHECK(r.result_status == KMS_KMIP_STATUS_SUCCESS);
    CHECK(r.data_len == 32);
    CHECK(memcmp(r.data, data32, 32) == 0);
    CHECK(r.iv_len == 12);
    CHECK(memcmp(r.iv, iv12, 12) == 0);
    CHECK(r.tag_len == 16);
    CHECK(memcmp(r.tag, tag16, 16) == 0);
    CHECK(r.result_message == NULL);
}

static void test_response_failure(void)
{
    struct response_spec spec = success_spec();
    uint8_t buf[1024];
    size_t len;
    struct kms_kmip_crypt_response r;

    spec.operation = KMS_KMIP_OP_DECRYPT;
    spec.status = 1;
    spec.reason = KMS_KMIP_REASON_GENERAL_FAILURE;
    spec.message = "Operation failed.";
    spec.payload = false;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_DECRYPT, &r) == CORE_OK);
    CHECK(r.result_status == 1);
    CHECK(r.result_reason == KMS_KMIP_REASON_GENERAL_FAILURE);
    CHECK(r.result_message_len == 17);
    CHECK(memcmp(r.result_message, "Operation failed.", 17) == 0);
    CHECK(r.data == NULL);

    /* a failed item may leave out Operation */
    spec.operation = 0;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_DECRYPT, &r) == CORE_OK);
    CHECK(r.result_status == 1);
}

static void test_response_rejects(void)
{
    struct response_spec spec;
    uint8_t buf[1024];
    size_t len;
    struct kms_kmip_crypt_response r;

    spec = success_spec();
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_DECRYPT, &r) == CORE_KMS);

    spec = success_spec();
    spec.batch_count = 2;
    spec.batch_items = 2;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_ENCRYPT, &r) == CORE_KMS);

    spec = success_spec();
    spec.batch_items = 0;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_ENCRYPT, &r) == CORE_KMS);

    spec = success_spec();
    spec.major = 2;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_ENCRYPT, &r) == CORE_KMS);

    spec = success_spec();
    spec.payload = false;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_ENCRYPT, &r) == CORE_KMS);

    spec = success_spec();
    spec.operation = 0;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_ENCRYPT, &r) == CORE_KMS);

    spec = success_spec();
    spec.data_as_text = true;
    len = build_response(&spec, buf, sizeof(buf));
    CHECK(kms_kmip_parse_crypt_response(buf, len, KMS_KMIP_OP_ENCRYPT, &r) == CORE_KMS);
}

static void test_response_truncations_fail(void)
{
    struct response_spec spec = success_spec();
    uint8_t buf[1024];
    size_t len = build_response(&spec, buf, sizeof(buf));
    struct kms_kmip_crypt_response r;
    int accepted = 0;

    for (size_t cut = 0; cut < len; cut++) {
        accepted += kms_kmip_parse_crypt_response(buf, cut, KMS_KMIP_OP_ENCRYPT, &r) == CORE_OK;
    }
    CHECK(accepted == 0);
}

static void test_response_framing(void)
{
    uint8_t header[8] = {0x42, 0x00, 0x7B, 0x01, 0, 0, 0x01, 0x00};
    size_t total = 0;

    CHECK(kms_kmip_response_length(header, &total) == CORE_OK);
    CHECK(total == 8 + 256);
    set_len(header + 4, KMS_KMIP_RESPONSE_MAX - 8);
    CHECK(kms_kmip_response_length(header, &total) == CORE_OK);
    CHECK(total == KMS_KMIP_RESPONSE_MAX);
    set_len(header + 4, KMS_KMIP_RESPONSE_MAX - 7);
    CHECK(kms_kmip_response_length(header, &total) == CORE_TOO_LARGE);
    set_len(header + 4, 0xFFFFFFFFu);
    CHECK(kms_kmip_response_length(header, &total) == CORE_TOO_LARGE);
    header[2] = 0x78;
    set_len(header + 4, 16);
    CHECK(kms_kmip_response_length(header, &total) == CORE_KMS);
    header[2] = 0x7B;
    header[3] = 0x08;
    CHECK(kms_kmip_response_length(header, &total) == CORE_KMS);
}

static void test_result_mapping(void)
{
    CHECK(kms_kmip_result_err(KMS_KMIP_OP_ENCRYPT, KMS_KMIP_REASON_PERMISSION_DENIED) == CORE_KMS_DENIED);
    CHECK(kms_kmip_result_err(KMS_KMIP_OP_DECRYPT, KMS_KMIP_REASON_AUTHENTICATION_NOT_SUCCESSFUL) ==
          CORE_KMS_DENIED);
    CHECK(kms_kmip_result_err(KMS_KMIP_OP_DECRYPT, KMS_KMIP_REASON_GENERAL_FAILURE) == CORE_CRYPTO);
    CHECK(kms_kmip_result_err(KMS_KMIP_OP_DECRYPT, KMS_KMIP_REASON_CRYPTOGRAPHIC_FAILURE) == CORE_CRYPTO);
    CHECK(kms_kmip_result_err(KMS_KMIP_OP_ENCRYPT, KMS_KMIP_REASON_GENERAL_FAILURE) == CORE_KMS);
    CHECK(kms_kmip_result_err(KMS_KMIP_OP_DECRYPT, KMS_KMIP_REASON_ITEM_NOT_FOUND) == CORE_KMS);
    CHECK(kms_kmip_result_err(KMS_KMIP_OP_ENCRYPT, 0x07) == CORE_KMS);
    CHECK(strcmp(kms_kmip_reason_name(KMS_KMIP_REASON_ITEM_NOT_FOUND), "Item Not Found") == 0);
    CHECK(strcmp(kms_kmip_reason_name(0x4242), "an unlisted reason") == 0);
}

int main(void)
{
    RUN(test_writer_integer_bytes);
    RUN(test_writer_text_padding);
    RUN(test_request_header_bytes);
    RUN(test_writer_overflow);
    RUN(test_writer_unbalanced);
    RUN(test_writer_depth_limit);
    RUN(test_round_trip);
    RUN(test_lookups_check_types);
    RUN(test_every_truncation_fails);
    RUN(test_trailing_bytes_fail);
    RUN(test_wrong_lengths_fail);
    RUN(test_bad_values_fail);
    RUN(test_nesting_limit);
    RUN(test_encrypt_request_fields);
    RUN(test_decrypt_request_fields);
    RUN(test_request_limits);
    RUN(test_response_success);
    RUN(test_response_failure);
    RUN(test_response_rejects);
    RUN(test_response_truncations_fail);
    RUN(test_response_framing);
    RUN(test_result_mapping);
    return TEST_RESULT();
}
