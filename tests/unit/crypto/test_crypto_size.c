/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the plaintext/ciphertext size formulas of crypto/crypto_size.c. */
#include <stdint.h>

#include "crypto/crypto_stream.h"
#include "test_check.h"

#define K CRYPTO_CHUNK_PLAIN_MAX
#define FIVE_GIB 5368709120ULL

static void test_size_encrypted_examples(void)
{
    CHECK(crypto_size_encrypted(0) == 0);
    CHECK(crypto_size_encrypted(1) == 37);
    CHECK(crypto_size_encrypted(65535) == 65571);
    CHECK(crypto_size_encrypted(65536) == 65572);
    CHECK(crypto_size_encrypted(65537) == 65572 + 37);
    CHECK(crypto_size_encrypted(3 * 65536) == 3 * 65572);
    CHECK(crypto_size_encrypted(100ULL * 1024 * 1024) == 104915200);
}

static void test_size_constants_agree(void)
{
    CHECK(CRYPTO_CHUNK_OVERHEAD == CRYPTO_CHUNK_HEADER_LEN + CRYPTO_CHUNK_TAG_LEN);
    CHECK(CRYPTO_CHUNK_CIPHER_MAX == CRYPTO_CHUNK_PLAIN_MAX + CRYPTO_CHUNK_OVERHEAD);
}

static void test_size_max_single_fits_five_gib(void)
{
    CHECK(crypto_size_encrypted(CRYPTO_PLAIN_MAX_SINGLE) == FIVE_GIB);
    CHECK(crypto_size_encrypted(CRYPTO_PLAIN_MAX_SINGLE + 1) > FIVE_GIB);
}

static void test_size_decrypted_inverts_encrypted(void)
{
    static const uint64_t sizes[] = {0,
                                     1,
                                     2,
                                     35,
                                     36,
                                     37,
                                     100,
                                     K - 1,
                                     K,
                                     K + 1,
                                     K + 36,
                                     K + 37,
                                     2 * K,
                                     3 * K - 1,
                                     100ULL * 1024 * 1024,
                                     CRYPTO_PLAIN_MAX_SINGLE,
                                     CRYPTO_PLAIN_MAX_SINGLE - 1,
                                     5ULL << 40};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t plain = UINT64_MAX;

        CHECK(crypto_size_decrypted(crypto_size_encrypted(sizes[i]), &plain));
        CHECK(plain == sizes[i]);
    }

    /* every plaintext length from 0 to two chunks and a bit */
    for (uint64_t p = 0; p <= 2 * K + 100; p++) {
        uint64_t plain = UINT64_MAX;

        if (!crypto_size_decrypted(crypto_size_encrypted(p), &plain) || plain != p) {
            CHECK(!"crypto_size_decrypted(crypto_size_encrypted(p)) == p");
            break;
        }
    }
}

static void test_size_decrypted_rejects_overhead_residues(void)
{
    for (uint64_t full = 0; full < 3; full++) {
        for (uint64_t rest = 1; rest <= CRYPTO_CHUNK_OVERHEAD; rest++) {
            uint64_t plain = 42;

            CHECK(!crypto_size_decrypted(full * CRYPTO_CHUNK_CIPHER_MAX + rest, &plain));
            CHECK(plain == 42);
        }
    }
}

static void test_size_decrypted_at_five_gib(void)
{
    uint64_t plain = 0;

    CHECK(crypto_size_decrypted(FIVE_GIB, &plain));
    CHECK(plain == CRYPTO_PLAIN_MAX_SINGLE);

    /* one byte more is a valid length too, but of a plaintext over the limit */
    CHECK(crypto_size_decrypted(FIVE_GIB + 1, &plain));
    CHECK(plain == CRYPTO_PLAIN_MAX_SINGLE + 1);
}

static void test_size_decrypted_handles_uint64_max(void)
{
    uint64_t plain = 0;
    bool ok = crypto_size_decrypted(UINT64_MAX, &plain);

    /* the result must be exact when accepted, which the round trip proves */
    if (ok) {
        CHECK(plain < UINT64_MAX);
        CHECK(crypto_size_encrypted(plain) == UINT64_MAX);
    }
}

static void test_size_encrypted_saturates(void)
{
    CHECK(crypto_size_encrypted(UINT64_MAX) == UINT64_MAX);
    CHECK(crypto_size_encrypted(UINT64_MAX - K) == UINT64_MAX);
}

static void test_range_map_covers_chunks(void)
{
    /* { first, last, expected first chunk, cipher first, cipher last } */
    static const uint64_t cases[][5] = {
        {0, 0, 0, 0, 65571},
        {65535, 65535, 0, 0, 65571},
        {65535, 65536, 0, 0, 131143},
        {65536, 65536, 1, 65572, 131143},
        {100, 200000, 0, 0, 262287},
        {196608, 196608, 3, 196716, 262287},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t chunk = 0;
        uint64_t cipher_first = 0;
        uint64_t cipher_last = 0;

        crypto_range_map(cases[i][0], cases[i][1], &chunk, &cipher_first, &cipher_last);
        CHECK(chunk == cases[i][2]);
        CHECK(cipher_first == cases[i][3]);
        CHECK(cipher_last == cases[i][4]);
    }
}

int main(void)
{
    RUN(test_size_encrypted_examples);
    RUN(test_size_constants_agree);
    RUN(test_size_max_single_fits_five_gib);
    RUN(test_size_decrypted_inverts_encrypted);
    RUN(test_size_decrypted_rejects_overhead_residues);
    RUN(test_size_decrypted_at_five_gib);
    RUN(test_size_decrypted_handles_uint64_max);
    RUN(test_size_encrypted_saturates);
    RUN(test_range_map_covers_chunks);
    return TEST_RESULT();
}
