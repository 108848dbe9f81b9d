/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of data keys wrapped under SSE-C customer keys (kms/kms_ssec.h). */
#include <stdio.h>
#include <string.h>

#include "kms/kms_ssec.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static const uint8_t CONTEXT[] = "bucket/key";

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7);
    }
}

static void test_round_trip_and_fresh_salt(void)
{
    uint8_t key[KMS_SSEC_KEY_LEN];
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_SSEC_BLOB_LEN];
    uint8_t again[KMS_SSEC_BLOB_LEN];
    size_t len = 0;

    fill(key, sizeof(key), 1);
    fill(dek, sizeof(dek), 2);
    CHECK(kms_ssec_wrap(key, dek, CONTEXT, sizeof(CONTEXT), blob, sizeof(blob), &len) == CORE_OK);
    CHECK(len == KMS_SSEC_BLOB_LEN);
    CHECK(kms_ssec_unwrap(key, blob, len, CONTEXT, sizeof(CONTEXT), out) == CORE_OK);
    CHECK(memcmp(out, dek, sizeof(dek)) == 0);

    /* each wrap draws a new salt and nonce */
    CHECK(kms_ssec_wrap(key, dek, CONTEXT, sizeof(CONTEXT), again, sizeof(again), &len) == CORE_OK);
    CHECK(memcmp(blob, again, sizeof(blob)) != 0);
    CHECK(kms_ssec_wrap(key, dek, CONTEXT, sizeof(CONTEXT), blob, KMS_SSEC_BLOB_LEN - 1, &len) == CORE_TOO_LARGE);
}

static void test_rejections(void)
{
    uint8_t key[KMS_SSEC_KEY_LEN];
    uint8_t other[KMS_SSEC_KEY_LEN];
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_SSEC_BLOB_LEN];
    size_t len = 0;

    fill(key, sizeof(key), 3);
    fill(other, sizeof(other), 4);
    fill(dek, sizeof(dek), 5);
    CHECK(kms_ssec_wrap(key, dek, CONTEXT, sizeof(CONTEXT), blob, sizeof(blob), &len) == CORE_OK);

    memset(out, 0xaa, sizeof(out));
    CHECK(kms_ssec_unwrap(other, blob, len, CONTEXT, sizeof(CONTEXT), out) == CORE_CRYPTO);
    CHECK(out[0] == 0);
    CHECK(out[KMS_DEK_LEN - 1] == 0);
    CHECK(kms_ssec_unwrap(key, blob, len, CONTEXT, sizeof(CONTEXT) - 1, out) == CORE_CRYPTO);
    CHECK(kms_ssec_unwrap(key, blob, len - 1, CONTEXT, sizeof(CONTEXT), out) == CORE_CRYPTO);

    /* every bit of the blob is covered: the version, salt and nonce by the key and nonce, the rest by the tag */
    for (size_t bit = 0; bit < len * 8; bit++) {
        blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(kms_ssec_unwrap(key, blob, len, CONTEXT, sizeof(CONTEXT), out) == CORE_CRYPTO);
        blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK(kms_ssec_unwrap(key, blob, len, CONTEXT, sizeof(CONTEXT), out) == CORE_OK);
}

static void test_kms_id(void)
{
    CHECK(kms_ssec_is_id(KMS_SSEC_ID));
    CHECK(!kms_ssec_is_id("file:k1"));
    CHECK(!kms_ssec_is_id("ssec:"));
    CHECK(!kms_ssec_is_id(NULL));
}

int main(void)
{
    test_round_trip_and_fresh_salt();
    test_rejections();
    test_kms_id();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all SSE-C wrap checks passed\n");
    return 0;
}
