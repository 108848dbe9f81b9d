/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of crypto/crypto_mac.c and of the HKDF in crypto/crypto_kdf.c built
 * on it (which SSE-C wrapping uses too): known-answer vectors, the same output as OpenSSL's own HMAC and
 * EVP_KDF "HKDF" on random inputs, and calls from several threads at once.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto/crypto_kdf.h"
#include "crypto/crypto_mac.h"
#include "test_check.h"

#define RANDOM_ROUNDS 200
#define THREADS 4
#define THREAD_ROUNDS 5000

static void hex_to_bytes(const char *hex, uint8_t *out)
{
    for (size_t i = 0; hex[2 * i] != '\0'; i++) {
        unsigned int byte = 0;

        sscanf(hex + 2 * i, "%2x", &byte);
        out[i] = (uint8_t)byte;
    }
}

static void test_sha256_known_answer(void)
{
    uint8_t expected[32];
    uint8_t got[32];

    /* FIPS 180-2, appendix B.1: SHA-256("abc") */
    hex_to_bytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", expected);
    CHECK(crypto_sha256("abc", 3, got) == CORE_OK);
    CHECK(memcmp(got, expected, 32) == 0);
}

static void test_hmac_known_answer(void)
{
    static const char data[] = "what do ya want for nothing?";
    uint8_t expected[32];
    uint8_t got[32];

    /* RFC 4231, test case 2 */
    hex_to_bytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", expected);
    CHECK(crypto_hmac_sha256("Jefe", 4, data, strlen(data), got) == CORE_OK);
    CHECK(memcmp(got, expected, 32) == 0);
}

static void test_hmac_matches_openssl_hmac(void)
{
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        uint8_t key[100];
        uint8_t data[300];
        uint8_t want[32];
        uint8_t got[32];
        unsigned int want_len = 0;
        size_t key_len = (size_t)round % sizeof(key); /* 0 to 99: shorter, equal and longer than a block */
        size_t data_len = (size_t)(round * 7) % sizeof(data);

        CHECK(RAND_bytes(key, sizeof(key)) == 1);
        CHECK(RAND_bytes(data, sizeof(data)) == 1);
        CHECK(HMAC(EVP_sha256(), key, (int)key_len, data, data_len, want, &want_len) != NULL);
        CHECK(crypto_hmac_sha256(key, key_len, data, data_len, got) == CORE_OK);
        CHECK(memcmp(got, want, 32) == 0);
    }
}

/* HKDF-SHA256 through OpenSSL's EVP_KDF, the form crypto_kdf.c used before. */
static void openssl_hkdf(const uint8_t ikm[32], uint8_t *salt, size_t salt_len, uint8_t *info,
                         size_t info_len, uint8_t out[32])
{
    static char digest[] = "SHA256";
    uint8_t key[32];
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM params[5];
    size_t n = 0;

    memcpy(key, ikm, sizeof(key));
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
    if (salt_len > 0) {
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, salt_len);
    }
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len);
    params[n] = OSSL_PARAM_construct_end();
    CHECK(ctx != NULL);
    CHECK(EVP_KDF_derive(ctx, out, 32, params) == 1);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}

static void test_hkdf_matches_openssl_kdf(void)
{
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        uint8_t dek[32];
        uint8_t stream_id[8];
        uint8_t info[32];
        uint8_t want[32];
        uint8_t got[32];
        uint32_t part = (uint32_t)round * 53;
        size_t info_len = strlen(CRYPTO_KDF_INFO_DATA);

        CHECK(RAND_bytes(dek, sizeof(dek)) == 1);
        CHECK(RAND_bytes(stream_id, sizeof(stream_id)) == 1);

        memcpy(info, CRYPTO_KDF_INFO_COMMIT, strlen(CRYPTO_KDF_INFO_COMMIT));
        openssl_hkdf(dek, NULL, 0, info, strlen(CRYPTO_KDF_INFO_COMMIT), want);
        CHECK(crypto_kdf_commitment(dek, got) == CORE_OK);
        CHECK(memcmp(got, want, 32) == 0);

        memcpy(info, CRYPTO_KDF_INFO_META, strlen(CRYPTO_KDF_INFO_META));
        openssl_hkdf(dek, NULL, 0, info, strlen(CRYPTO_KDF_INFO_META), want);
        CHECK(crypto_kdf_meta_key(dek, got) == CORE_OK);
        CHECK(memcmp(got, want, 32) == 0);

        memcpy(info, CRYPTO_KDF_INFO_DATA, info_len);
        info[info_len++] = CRYPTO_SUITE_AES_256_GCM;
        info[info_len++] = (uint8_t)(part >> 24);
        info[info_len++] = (uint8_t)(part >> 16);
        info[info_len++] = (uint8_t)(part >> 8);
        info[info_len++] = (uint8_t)part;
        openssl_hkdf(dek, stream_id, sizeof(stream_id), info, info_len, want);
        CHECK(crypto_kdf_stream_key(dek, stream_id, CRYPTO_SUITE_AES_256_GCM, part, got) == CORE_OK);
        CHECK(memcmp(got, want, 32) == 0);
    }
}

static void test_hkdf_rfc5869_case1(void)
{
    uint8_t ikm[22];
    uint8_t salt[13];
    uint8_t info[10];
    uint8_t expected[32];
    uint8_t got[32];

    /* RFC 5869, test case A.1: the first 32 of its 42 output bytes */
    memset(ikm, 0x0b, sizeof(ikm));
    hex_to_bytes("000102030405060708090a0b0c", salt);
    hex_to_bytes("f0f1f2f3f4f5f6f7f8f9", info);
    hex_to_bytes("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf", expected);
    CHECK(crypto_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), got) == CORE_OK);
    CHECK(memcmp(got, expected, 32) == 0);
}

/* The SSE-C wrap key's shape: a 16-byte salt and a 19-byte info. */
static void test_hkdf_long_salt_matches(void)
{
    static const char info_text[] = "s3seal ssec wrap v1";

    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        uint8_t ikm[32];
        uint8_t salt[16];
        uint8_t info[sizeof(info_text) - 1];
        uint8_t want[32];
        uint8_t got[32];

        CHECK(RAND_bytes(ikm, sizeof(ikm)) == 1);
        CHECK(RAND_bytes(salt, sizeof(salt)) == 1);
        memcpy(info, info_text, sizeof(info));
        openssl_hkdf(ikm, salt, sizeof(salt), info, sizeof(info), want);
        CHECK(crypto_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), got) == CORE_OK);
        CHECK(memcmp(got, want, 32) == 0);
    }
}

static void test_hkdf_info_too_long(void)
{
    uint8_t ikm[32] = {0};
    uint8_t info[33] = {0};
    uint8_t out[32];

    CHECK(crypto_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, info, sizeof(info), out) == CORE_TOO_LARGE);
}

struct thread_result {
    int mismatches;
};

static void *hmac_many(void *arg)
{
    struct thread_result *result = arg;
    static const char data[] = "what do ya want for nothing?";
    uint8_t expected[32];

    hex_to_bytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", expected);
    for (int i = 0; i < THREAD_ROUNDS; i++) {
        uint8_t got[32];

        if (crypto_hmac_sha256("Jefe", 4, data, strlen(data), got) != CORE_OK ||
            memcmp(got, expected, 32) != 0) {
            result->mismatches++;
        }
    }
    return NULL;
}

/* The shared HMAC template gives the same result to threads that use it at once. */
static void test_hmac_from_threads(void)
{
    pthread_t threads[THREADS];
    struct thread_result results[THREADS];

    memset(results, 0, sizeof(results));
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&threads[i], NULL, hmac_many, &results[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(results[i].mismatches == 0);
    }
}

int main(void)
{
    RUN(test_sha256_known_answer);
    RUN(test_hmac_known_answer);
    RUN(test_hmac_matches_openssl_hmac);
    RUN(test_hkdf_matches_openssl_kdf);
    RUN(test_hkdf_rfc5869_case1);
    RUN(test_hkdf_long_salt_matches);
    RUN(test_hkdf_info_too_long);
    RUN(test_hmac_from_threads);
    return TEST_RESULT();
}
