/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the open side of the chunk format: crypto_stream
 * (one stream of a known plaintext length, optionally from a later chunk)
 * and crypto_multi_open (the parts of a multipart object, each chunk's
 * length read from its header). The data key is fixed, so make_seeds.c can
 * write valid streams as seeds.
 *
 * Input: byte 0 picks the reader (bit 0) and from_start of the multipart
 * reader (bit 1). For the single-stream reader, bytes 1-2 are the part
 * number, bytes 3-6 the plaintext length and byte 7 the first chunk. The
 * rest is the stored bytes, read chunk by chunk as proxy/ reads them.
 *
 * Two properties are checked. A failed open leaves no decrypted byte in the
 * plaintext buffer, which is filled with a marker before each call. A chunk
 * that opens must be byte for byte the chunk that sealing its plaintext
 * writes, so no unauthenticated byte of a chunk can change the output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_multi.h"
#include "crypto/crypto_stream.h"
#include "fuzz_fixtures.h"

#define INPUT_HEADER_LEN 8
#define MARKER 0xa5
/* plaintext lengths up to three chunks reach the full, middle and final chunk rules */
#define PLAIN_LEN_LIMIT (3 * CRYPTO_CHUNK_PLAIN_MAX)
/* chunks that resealing skips with filler; a valid chunk further in cannot come from a seed */
#define RESEAL_SEQ_LIMIT 4

#define OFF_PART 4
#define OFF_SEQ 8
#define OFF_STREAM_ID 12

struct buffers {
    uint8_t plain[CRYPTO_CHUNK_PLAIN_MAX];
    uint8_t sealed[CRYPTO_CHUNK_CIPHER_MAX];
    uint8_t filler[CRYPTO_CHUNK_PLAIN_MAX]; /* zeros: the plaintext of skipped chunks */
};

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A failed open must leave only the marker or the wipe's zeros behind. */
static void check_failed(const struct buffers *b, size_t plain_len)
{
    if (plain_len != 0) {
        abort();
    }
    for (size_t i = 0; i < sizeof(b->plain); i++) {
        if (b->plain[i] != MARKER && b->plain[i] != 0) {
            abort();
        }
    }
}

/*
 * Seals chunk seq of a stream whose plaintext is plain_total bytes, with the
 * stream id and part number of the chunk that opened, and compares the result
 * with that chunk. Earlier chunks are sealed from the zero filler.
 */
static void check_resealed(struct buffers *b, const uint8_t *chunk, size_t chunk_len, uint64_t seq,
                           uint64_t plain_total, const uint8_t *plain, size_t plain_len)
{
    struct crypto_stream seal = {0};
    size_t n = 0;

    if (crypto_stream_seal_init(&seal, fuzz_dek, read_be32(chunk + OFF_PART), chunk + OFF_STREAM_ID,
                                plain_total) != CORE_OK) {
        abort();
    }
    for (uint64_t i = 0; i < seq; i++) {
        if (crypto_stream_seal_chunk(&seal, b->filler, crypto_stream_next_plain_len(&seal), b->sealed,
                                     sizeof(b->sealed), &n) != CORE_OK) {
            abort();
        }
    }
    if (crypto_stream_seal_chunk(&seal, plain, plain_len, b->sealed, sizeof(b->sealed), &n) != CORE_OK ||
        n != chunk_len || memcmp(b->sealed, chunk, chunk_len) != 0) {
        abort();
    }
    crypto_stream_cleanup(&seal);
}

static void open_single(struct buffers *b, const uint8_t *head, const uint8_t *data, size_t size)
{
    uint32_t part = (uint32_t)((head[1] << 8 | head[2]) % (CRYPTO_PART_NUMBER_MAX + 1));
    uint64_t plain_total = read_be32(head + 3) % (PLAIN_LEN_LIMIT + 1);
    uint64_t chunks = (plain_total + CRYPTO_CHUNK_PLAIN_MAX - 1) / CRYPTO_CHUNK_PLAIN_MAX;
    uint64_t first_chunk = chunks > 0 ? head[7] % chunks : 0;
    struct crypto_stream s = {0};
    size_t plain_len = 0;
    size_t n;

    if (crypto_stream_open_init(&s, fuzz_dek, part, plain_total, first_chunk) != CORE_OK) {
        abort();
    }
    while ((n = crypto_stream_next_cipher_len(&s)) > 0) {
        uint64_t seq = s.next_seq;
        size_t take = n < size ? n : size;

        memset(b->plain, MARKER, sizeof(b->plain));
        if (crypto_stream_open_chunk(&s, data, take, b->plain, sizeof(b->plain), &plain_len) != CORE_OK) {
            check_failed(b, plain_len);
            break;
        }
        if (take != n || plain_len != n - CRYPTO_CHUNK_OVERHEAD) {
            abort();
        }
        check_resealed(b, data, n, seq, plain_total, b->plain, plain_len);
        data += n;
        size -= n;
    }
    /* bytes after the FINAL chunk are rejected, never decrypted */
    if (crypto_stream_is_complete(&s) && size > 0 &&
        crypto_stream_open_chunk(&s, data, size, b->plain, sizeof(b->plain), &plain_len) == CORE_OK) {
        abort();
    }
    crypto_stream_cleanup(&s);
}

/* Reseals a chunk the multipart reader opened; the header gives its position in its part's stream. */
static void check_multi_chunk(struct buffers *b, const uint8_t *chunk, size_t chunk_len, size_t plain_len)
{
    uint32_t seq = read_be32(chunk + OFF_SEQ);
    bool final = (chunk[1] & CRYPTO_CHUNK_FLAG_FINAL) != 0;
    uint64_t plain_total;

    if (plain_len != chunk_len - CRYPTO_CHUNK_OVERHEAD || (!final && plain_len != CRYPTO_CHUNK_PLAIN_MAX)) {
        abort();
    }
    if (seq >= RESEAL_SEQ_LIMIT) {
        return;
    }
    /* a non-FINAL chunk is sealed as part of a stream that goes on for one more byte */
    plain_total = final ? (uint64_t)seq * CRYPTO_CHUNK_PLAIN_MAX + plain_len
                        : ((uint64_t)seq + 1) * CRYPTO_CHUNK_PLAIN_MAX + 1;
    check_resealed(b, chunk, chunk_len, seq, plain_total, b->plain, plain_len);
}

static void open_multi(struct buffers *b, bool from_start, const uint8_t *data, size_t size)
{
    struct crypto_multi_open m = {0};
    size_t chunk_len = 0;
    size_t plain_len = 0;

    if (crypto_multi_open_init(&m, fuzz_dek, from_start) != CORE_OK) {
        abort();
    }
    while (size >= CRYPTO_CHUNK_HEADER_LEN && crypto_multi_chunk_len(data, &chunk_len) == CORE_OK) {
        size_t take = chunk_len < size ? chunk_len : size;

        memset(b->plain, MARKER, sizeof(b->plain));
        if (crypto_multi_open_chunk(&m, data, take, b->plain, sizeof(b->plain), &plain_len) != CORE_OK) {
            check_failed(b, plain_len);
            break;
        }
        if (take != chunk_len) {
            abort();
        }
        check_multi_chunk(b, data, chunk_len, plain_len);
        data += chunk_len;
        size -= chunk_len;
    }
    crypto_multi_open_cleanup(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buffers *b;

    if (size < INPUT_HEADER_LEN) {
        return 0;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        open_single(b, data, data + INPUT_HEADER_LEN, size - INPUT_HEADER_LEN);
    } else {
        open_multi(b, (data[0] & 2) != 0, data + INPUT_HEADER_LEN, size - INPUT_HEADER_LEN);
    }
    free(b);
    return 0;
}
