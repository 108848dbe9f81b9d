/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for proxy/proxy_part_search.c: the search for one part of a
 * multipart object from its chunk headers. Each test builds the chunk
 * headers of a stored object in memory, returns the header of each probed chunk, and
 * checks the part found (or missing) and the number of probes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_part_search.h"
#include "../crypto/test_check.h"

#define MAX_PARTS 64
#define MAX_CHUNKS 20000

/* A stored object: its parts in order and the header of each chunk. */
struct object {
    uint32_t numbers[MAX_PARTS];
    uint64_t plain[MAX_PARTS];
    size_t count;
    uint8_t headers[MAX_CHUNKS][CRYPTO_CHUNK_HEADER_LEN];
    uint64_t chunks;
    uint64_t stored;
};

static struct object obj;

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Lays out parts as s3seal stores them: whole chunks in every part but the last. */
static void build(const uint32_t *numbers, const uint64_t *plain, size_t count)
{
    memset(&obj, 0, sizeof(obj));
    for (size_t i = 0; i < count; i++) {
        uint64_t left = plain[i];
        uint32_t seq = 0;

        obj.numbers[i] = numbers[i];
        obj.plain[i] = plain[i];
        while (left > 0) {
            uint64_t len = left < CRYPTO_CHUNK_PLAIN_MAX ? left : CRYPTO_CHUNK_PLAIN_MAX;
            uint8_t *h = obj.headers[obj.chunks];

            h[0] = CRYPTO_CHUNK_VERSION;
            h[1] = len == left ? CRYPTO_CHUNK_FLAG_FINAL : 0;
            h[2] = (uint8_t)((len - 1) >> 8);
            h[3] = (uint8_t)(len - 1);
            put_be32(h + 4, numbers[i]);
            put_be32(h + 8, seq++);
            memset(h + 12, (int)(i + 1), 8);
            obj.stored += len + CRYPTO_CHUNK_OVERHEAD;
            obj.chunks++;
            left -= len;
        }
    }
    obj.count = count;
}

/* Runs a search against obj, returning each probed chunk's header. */
static enum proxy_part_step search(uint32_t number, struct proxy_part_search *ps)
{
    enum proxy_part_step step;

    memset(ps, 0, sizeof(*ps));
    if (!proxy_part_search_init(ps, number, obj.stored)) {
        return PROXY_PART_INCONSISTENT;
    }
    do {
        if (ps->probe >= obj.chunks) {
            return PROXY_PART_INCONSISTENT;
        }
        memcpy(ps->header, obj.headers[ps->probe], CRYPTO_CHUNK_HEADER_LEN);
        ps->fill = CRYPTO_CHUNK_HEADER_LEN;
        step = proxy_part_observe(ps);
    } while (step == PROXY_PART_CONTINUE);
    return step;
}

static unsigned log2_ceil(uint64_t n)
{
    unsigned bits = 0;

    while ((1ULL << bits) < n) {
        bits++;
    }
    return bits;
}

/* Checks every part of obj and the part numbers it lacks; returns the most probes one search took. */
static unsigned check_all_parts(void)
{
    uint64_t first_chunk = 0;
    unsigned most = 0;
    uint32_t highest = obj.numbers[obj.count - 1];
    struct proxy_part_search ps;

    for (size_t i = 0; i < obj.count; i++) {
        uint64_t chunks = (obj.plain[i] + CRYPTO_CHUNK_PLAIN_MAX - 1) / CRYPTO_CHUNK_PLAIN_MAX;
        uint64_t last_len = obj.plain[i] - (chunks - 1) * CRYPTO_CHUNK_PLAIN_MAX;

        CHECK(search(obj.numbers[i], &ps) == PROXY_PART_FOUND);
        CHECK(ps.start == first_chunk);
        CHECK(ps.end == first_chunk + chunks - 1);
        CHECK(ps.end_len == last_len);
        CHECK(ps.probes <= 4 * log2_ceil(obj.chunks) + 4);
        most = ps.probes > most ? ps.probes : most;
        first_chunk += chunks;
    }
    for (uint32_t n = 1; n <= highest + 1; n++) {
        bool present = false;

        for (size_t i = 0; i < obj.count; i++) {
            present = present || obj.numbers[i] == n;
        }
        if (!present) {
            CHECK(search(n, &ps) == PROXY_PART_MISSING);
        }
    }
    return most;
}

static void test_equal_parts(void)
{
    const uint32_t numbers[] = {1, 2, 3};
    const uint64_t plain[] = {5 << 20, 5 << 20, 1};
    struct proxy_part_search ps;

    build(numbers, plain, 3);
    CHECK(check_all_parts() <= 4);
    CHECK(search(2, &ps) == PROXY_PART_FOUND);
    CHECK(ps.probes == 4);
}

static void test_many_equal_parts(void)
{
    uint32_t numbers[40];
    uint64_t plain[40];

    for (size_t i = 0; i < 40; i++) {
        numbers[i] = (uint32_t)i + 1;
        plain[i] = 8 << 20;
    }
    plain[39] = 12345;
    build(numbers, plain, 40);
    CHECK(check_all_parts() <= 4);
}

static void test_single_part(void)
{
    const uint32_t numbers[] = {1};
    const uint64_t one_chunk[] = {100};
    const uint64_t many_chunks[] = {3 * CRYPTO_CHUNK_PLAIN_MAX + 1};
    struct proxy_part_search ps;

    build(numbers, one_chunk, 1);
    CHECK(search(1, &ps) == PROXY_PART_FOUND);
    CHECK(ps.probes == 1);
    CHECK(search(2, &ps) == PROXY_PART_MISSING);
    build(numbers, many_chunks, 1);
    CHECK(check_all_parts() <= 2);
}

static void test_gaps(void)
{
    const uint32_t numbers[] = {1, 3, 7, 8};
    const uint64_t plain[] = {5 << 20, 6 << 20, 5 << 20, 70000};

    build(numbers, plain, 4);
    check_all_parts();
}

/* Random part sizes and numbers from a fixed seed, so a failure repeats. */
static void test_random_layouts(void)
{
    unsigned seed = 12345;
    unsigned most = 0;

    for (int round = 0; round < 200; round++) {
        uint32_t numbers[MAX_PARTS];
        uint64_t plain[MAX_PARTS];
        size_t count = 1 + (size_t)(rand_r(&seed) % 40);
        uint32_t number = 0;
        uint64_t chunks = 0;

        for (size_t i = 0; i < count; i++) {
            number += 1 + (uint32_t)(rand_r(&seed) % 3);
            numbers[i] = number;
            plain[i] = (uint64_t)(1 + rand_r(&seed) % 300) * CRYPTO_CHUNK_PLAIN_MAX;
            chunks += plain[i] / CRYPTO_CHUNK_PLAIN_MAX;
        }
        plain[count - 1] = 1 + (uint64_t)rand_r(&seed) % (5 * CRYPTO_CHUNK_PLAIN_MAX);
        if (chunks + 5 >= MAX_CHUNKS) {
            continue;
        }
        build(numbers, plain, count);
        {
            unsigned probes = check_all_parts();

            most = probes > most ? probes : most;
        }
    }
    fprintf(stderr, "     random layouts: at most %u probes for one part\n", most);
}

/* Headers that contradict the stored layout end the search instead of finding a part. */
static void test_inconsistent_headers(void)
{
    const uint32_t numbers[] = {1, 2, 3};
    const uint64_t plain[] = {5 << 20, 5 << 20, 1};
    struct proxy_part_search ps;

    /* a short chunk in the middle of the object */
    build(numbers, plain, 3);
    obj.headers[80][2] = 0;
    obj.headers[80][3] = 9;
    CHECK(search(2, &ps) == PROXY_PART_INCONSISTENT);

    /* part 2's first chunk claims sequence 1, so its part would start inside part 1 and then end twice */
    build(numbers, plain, 3);
    put_be32(obj.headers[80] + 8, 1);
    CHECK(search(2, &ps) == PROXY_PART_INCONSISTENT);

    /* the last chunk is not FINAL */
    build(numbers, plain, 3);
    obj.headers[160][1] = 0;
    CHECK(search(3, &ps) == PROXY_PART_INCONSISTENT);

    /* a wrong format version */
    build(numbers, plain, 3);
    obj.headers[0][0] = 2;
    CHECK(search(1, &ps) == PROXY_PART_INCONSISTENT);

    /* a header cut short */
    build(numbers, plain, 3);
    memset(&ps, 0, sizeof(ps));
    CHECK(proxy_part_search_init(&ps, 1, obj.stored));
    memcpy(ps.header, obj.headers[0], CRYPTO_CHUNK_HEADER_LEN);
    ps.fill = CRYPTO_CHUNK_HEADER_LEN - 1;
    CHECK(proxy_part_observe(&ps) == PROXY_PART_INCONSISTENT);

    /* a stored size that no object has */
    memset(&ps, 0, sizeof(ps));
    CHECK(!proxy_part_search_init(&ps, 1, 20));
    CHECK(!proxy_part_search_init(&ps, 1, 0));
}

/* A stored size near UINT64_MAX once wrapped the chunk count to 0, so the first probe lay outside the object. */
static void test_stored_size_near_uint64_max(void)
{
    struct proxy_part_search ps;
    uint8_t header[CRYPTO_CHUNK_HEADER_LEN] = {0x01, 0x00};

    memset(&ps, 0, sizeof(ps));
    CHECK(proxy_part_search_init(&ps, 2, UINT64_MAX));
    CHECK(ps.chunks == UINT64_MAX / CRYPTO_CHUNK_CIPHER_MAX + 1);
    CHECK(ps.probe < ps.chunks);
    CHECK(ps.hi == ps.chunks - 1);

    /* a full chunk 0 of part 1 sends the search on, to a chunk inside the object */
    header[2] = 0xff;
    header[3] = 0xff;
    put_be32(header + 4, 1);
    memcpy(ps.header, header, sizeof(header));
    ps.fill = sizeof(header);
    CHECK(proxy_part_observe(&ps) == PROXY_PART_CONTINUE);
    CHECK(ps.probe < ps.chunks);
}

int main(void)
{
    RUN(test_equal_parts);
    RUN(test_many_equal_parts);
    RUN(test_single_part);
    RUN(test_gaps);
    RUN(test_random_layouts);
    RUN(test_inconsistent_headers);
    RUN(test_stored_size_near_uint64_max);
    return TEST_RESULT();
}
