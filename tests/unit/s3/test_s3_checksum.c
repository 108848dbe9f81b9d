/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the S3 checksums. Check values for "123456789" are the standard
 * ones of each CRC; the base64 values were computed with Python's zlib,
 * hashlib and a bit-by-bit CRC written from the polynomials.
 */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_checksum.h"
#include "test_check.h"

struct known_value {
    enum s3_checksum_alg alg;
    const char *input;
    const char *base64;
};

static const struct known_value known_values[] = {
    {S3_CHECKSUM_CRC32, "123456789", "y/Q5Jg=="},         /* 0xCBF43926 */
    {S3_CHECKSUM_CRC32C, "123456789", "4waSgw=="},        /* 0xE3069283 */
    {S3_CHECKSUM_CRC64NVME, "123456789", "rosUhgp5mIg="}, /* 0xAE8B14860A799888 */
    {S3_CHECKSUM_SHA1, "123456789", "98O8HYCOBHMq32eZZczDTKeuNEE="},
    {S3_CHECKSUM_SHA256, "123456789", "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="},
    {S3_CHECKSUM_CRC32, "hello world", "DUoRhQ=="},
    {S3_CHECKSUM_CRC32C, "hello world", "yZRlqg=="},
    {S3_CHECKSUM_CRC64NVME, "hello world", "jSnVw/bqjr4="},
    {S3_CHECKSUM_SHA1, "hello world", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="},
    {S3_CHECKSUM_SHA256, "hello world", "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="},
    {S3_CHECKSUM_CRC32, "", "AAAAAA=="},
    {S3_CHECKSUM_CRC32C, "", "AAAAAA=="},
    {S3_CHECKSUM_CRC64NVME, "", "AAAAAAAAAAA="},
    {S3_CHECKSUM_SHA256, "", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
};

static void one_shot(enum s3_checksum_alg alg, const uint8_t *data, size_t len,
                     char out[S3_CHECKSUM_BASE64_MAX])
{
    struct s3_checksum c;

    out[0] = '\0';
    CHECK(s3_checksum_init(&c, alg) == CORE_OK);
    CHECK(s3_checksum_update(&c, data, len) == CORE_OK);
    CHECK(s3_checksum_final_base64(&c, out, S3_CHECKSUM_BASE64_MAX) == CORE_OK);
    s3_checksum_cleanup(&c);
}

static void test_checksum_known_values(void)
{
    for (size_t i = 0; i < sizeof(known_values) / sizeof(known_values[0]); i++) {
        const struct known_value *k = &known_values[i];
        char out[S3_CHECKSUM_BASE64_MAX];

        one_shot(k->alg, (const uint8_t *)k->input, strlen(k->input), out);
        CHECK_STR(out, k->base64);
    }
}

/* The trailer example of the S3 API Reference sends 66560 bytes of 'a' with CRC32C "sOO8/Q==". */
static void test_checksum_crc32c_trailer_example(void)
{
    size_t len = 66560;
    uint8_t *data = malloc(len);
    char out[S3_CHECKSUM_BASE64_MAX];

    CHECK(data != NULL);
    if (data == NULL) {
        return;
    }
    memset(data, 'a', len);
    one_shot(S3_CHECKSUM_CRC32C, data, len, out);
    CHECK_STR(out, "sOO8/Q==");
    free(data);
}

static void test_checksum_streaming_equals_one_shot(void)
{
    enum s3_checksum_alg algs[] = {S3_CHECKSUM_CRC32, S3_CHECKSUM_CRC32C, S3_CHECKSUM_CRC64NVME,
                                   S3_CHECKSUM_SHA1, S3_CHECKSUM_SHA256};
    size_t len = 100003;
    uint8_t *data = malloc(len);

    CHECK(data != NULL);
    if (data == NULL) {
        return;
    }
    srand(7);
    for (size_t i = 0; i < len; i++) {
        data[i] = (uint8_t)rand();
    }
    for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        char whole[S3_CHECKSUM_BASE64_MAX];
        char pieces[S3_CHECKSUM_BASE64_MAX];
        struct s3_checksum c;
        size_t off = 0;

        one_shot(algs[a], data, len, whole);
        CHECK(s3_checksum_init(&c, algs[a]) == CORE_OK);
        while (off < len) {
            /* piece sizes 0..16 exercise the byte loop and unaligned slicing-by-8 starts */
            size_t n = (size_t)rand() % 17;

            n = n > len - off ? len - off : n;
            CHECK(s3_checksum_update(&c, data + off, n) == CORE_OK);
            off += n;
        }
        CHECK(s3_checksum_final_base64(&c, pieces, sizeof(pieces)) == CORE_OK);
        s3_checksum_cleanup(&c);
        CHECK_STR(pieces, whole);
    }
    free(data);
}

static void test_checksum_rejects_bad_use(void)
{
    struct s3_checksum c;
    char small[8];

    CHECK(s3_checksum_init(&c, S3_CHECKSUM_NONE) == CORE_INTERNAL);
    s3_checksum_cleanup(&c);
    CHECK(s3_checksum_init(&c, (enum s3_checksum_alg)99) == CORE_INTERNAL);
    s3_checksum_cleanup(&c);

    /* "AAAAAA==" needs 9 bytes with its NUL */
    CHECK(s3_checksum_init(&c, S3_CHECKSUM_CRC32) == CORE_OK);
    CHECK(s3_checksum_final_base64(&c, small, sizeof(small)) == CORE_TOO_LARGE);
    s3_checksum_cleanup(&c);
    s3_checksum_cleanup(NULL);
}

static void test_checksum_names(void)
{
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-crc32", 20) == S3_CHECKSUM_CRC32);
    CHECK(s3_checksum_alg_from_header("X-Amz-Checksum-CRC32C", 21) == S3_CHECKSUM_CRC32C);
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-crc64nvme", 24) == S3_CHECKSUM_CRC64NVME);
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-sha1", 19) == S3_CHECKSUM_SHA1);
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-sha256", 21) == S3_CHECKSUM_SHA256);
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-algorithm", 24) == S3_CHECKSUM_NONE);
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-mode", 19) == S3_CHECKSUM_NONE);
    /* a prefix of a valid name is not that name */
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-crc32c", 20) == S3_CHECKSUM_CRC32);
    CHECK(s3_checksum_alg_from_header("x-amz-checksum-crc3", 19) == S3_CHECKSUM_NONE);

    CHECK(s3_checksum_alg_from_name("CRC32", 5) == S3_CHECKSUM_CRC32);
    CHECK(s3_checksum_alg_from_name("crc32c", 6) == S3_CHECKSUM_CRC32C);
    CHECK(s3_checksum_alg_from_name("CRC64NVME", 9) == S3_CHECKSUM_CRC64NVME);
    CHECK(s3_checksum_alg_from_name("SHA1", 4) == S3_CHECKSUM_SHA1);
    CHECK(s3_checksum_alg_from_name("SHA256", 6) == S3_CHECKSUM_SHA256);
    CHECK(s3_checksum_alg_from_name("MD5", 3) == S3_CHECKSUM_NONE);
    CHECK(s3_checksum_alg_from_name("", 0) == S3_CHECKSUM_NONE);

    CHECK_STR(s3_checksum_header_name(S3_CHECKSUM_CRC64NVME), "x-amz-checksum-crc64nvme");
    CHECK_STR(s3_checksum_header_name(S3_CHECKSUM_SHA256), "x-amz-checksum-sha256");
    CHECK(s3_checksum_header_name(S3_CHECKSUM_NONE) == NULL);
}

int main(void)
{
    RUN_TEST(test_checksum_known_values);
    RUN_TEST(test_checksum_crc32c_trailer_example);
    RUN_TEST(test_checksum_streaming_equals_one_shot);
    RUN_TEST(test_checksum_rejects_bad_use);
    RUN_TEST(test_checksum_names);
    return test_finish();
}
