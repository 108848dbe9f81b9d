/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the strict base64 codec in crypto/crypto_base64.c. */
#include <string.h>

#include "crypto/crypto_base64.h"
#include "test_check.h"

static void test_base64_encodes_rfc4648_examples(void)
{
    /* RFC 4648 section 10 test vectors */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *encoded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char out[16];
        uint8_t back[16];
        size_t n = 0;

        CHECK(crypto_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof(out), &n) ==
              CORE_OK);
        CHECK(n == strlen(encoded[i]));
        CHECK(strcmp(out, encoded[i]) == 0);
        CHECK(crypto_base64_decode(encoded[i], strlen(encoded[i]), back, sizeof(back), &n) == CORE_OK);
        CHECK(n == strlen(plain[i]));
        CHECK(memcmp(back, plain[i], n) == 0);
    }
}

static void test_base64_round_trips_all_byte_values(void)
{
    uint8_t in[256];
    char enc[CRYPTO_BASE64_ENCODED_LEN(256) + 1];
    uint8_t back[256];

    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(255 - i);
    }
    for (size_t len = 0; len <= sizeof(in); len++) {
        size_t n = 0;
        size_t m = 0;

        CHECK(crypto_base64_encode(in, len, enc, sizeof(enc), &n) == CORE_OK);
        CHECK(n == CRYPTO_BASE64_ENCODED_LEN(len));
        CHECK(crypto_base64_decode(enc, n, back, sizeof(back), &m) == CORE_OK);
        CHECK(m == len);
        CHECK(memcmp(back, in, len) == 0);
    }
}

static void test_base64_decode_rejects_malformed(void)
{
    static const char *bad[] = {
        "Zg",       /* missing padding */
        "Zg=",      /* length not a multiple of 4 */
        "Zg===",    /* too much padding */
        "Z===",     /* three padding characters */
        "====",     /* only padding */
        "Zh==",     /* nonzero bits dropped by the padding */
        "Zm9=",     /* nonzero bits dropped by the padding */
        "Zg==Zg==", /* padding before the end */
        "Z=g=",     /* padding inside a group */
        "Zm9v\n",   /* whitespace */
        " Zm9v",    /* whitespace */
        "Zm-v",     /* URL-safe alphabet */
        "Zm_v",     /* URL-safe alphabet */
        "Zm9\x80",  /* byte outside ASCII */
        "Zm9.",     /* punctuation */
    };
    uint8_t out[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 0;

        if (crypto_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n) != CORE_CRYPTO) {
            fprintf(stderr, "malformed base64 \"%s\" was accepted\n", bad[i]);
            CHECK(!"malformed base64 rejected");
        }
    }

    /* an embedded NUL counts as a character outside the alphabet */
    size_t n = 0;
    CHECK(crypto_base64_decode("Zm\0v", 4, out, sizeof(out), &n) == CORE_CRYPTO);
}

static void test_base64_respects_capacity(void)
{
    char small[5];
    uint8_t two[2];
    size_t n = 0;

    CHECK(crypto_base64_encode((const uint8_t *)"foo", 3, small, 4, &n) == CORE_INTERNAL);
    CHECK(crypto_base64_encode((const uint8_t *)"foo", 3, small, 5, &n) == CORE_OK);
    CHECK(crypto_base64_decode("Zm9v", 4, two, sizeof(two), &n) == CORE_TOO_LARGE);
    CHECK(crypto_base64_decode("Zm8=", 4, two, sizeof(two), &n) == CORE_OK);
    CHECK(n == 2);
}

int main(void)
{
    RUN(test_base64_encodes_rfc4648_examples);
    RUN(test_base64_round_trips_all_byte_values);
    RUN(test_base64_decode_rejects_malformed);
    RUN(test_base64_respects_capacity);
    return TEST_RESULT();
}
