/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the part search of partNumber reads
 * (proxy/proxy_part_search.h). Bytes 0-1 give the part number requested
 * (1 to 10000) and bytes 2-9 the stored size of the object (big-endian).
 * Each following 20 bytes are the chunk header that the backend returns to
 * the next probe, and the last probe may get a short header. The search must
 * only ask for chunks inside the object, stop within its probe bound, and
 * report a part that lies inside the object's plaintext.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_part_search.h"

#define INPUT_HEADER_LEN 10

static uint64_t read_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void check_found(const struct proxy_part_search *ps)
{
    uint64_t plain = 0;

    if (!crypto_size_decrypted(ps->stored, &plain) || ps->start > ps->end || ps->end >= ps->chunks ||
        ps->end_len == 0 || ps->end_len > CRYPTO_CHUNK_PLAIN_MAX) {
        abort();
    }
    /* proxy_part.c serves plaintext bytes start * 64 KiB up to this end */
    if (ps->end * CRYPTO_CHUNK_PLAIN_MAX + ps->end_len > plain) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_part_search ps;
    uint32_t number;
    uint64_t stored;
    uint64_t plain = 0;
    enum proxy_part_step step = PROXY_PART_CONTINUE;

    if (size < INPUT_HEADER_LEN) {
        return 0;
    }
    number = 1 + (uint32_t)((data[0] << 8 | data[1]) % CRYPTO_PART_NUMBER_MAX);
    stored = read_be64(data + 2);
    data += INPUT_HEADER_LEN;
    size -= INPUT_HEADER_LEN;

    memset(&ps, 0, sizeof(ps));
    if (!proxy_part_search_init(&ps, number, stored)) {
        if (stored != 0 && crypto_size_decrypted(stored, &plain)) {
            abort();
        }
        return 0;
    }
    while (step == PROXY_PART_CONTINUE && size > 0) {
        if (ps.probe >= ps.chunks) {
            abort();
        }
        ps.fill = size < CRYPTO_CHUNK_HEADER_LEN ? size : CRYPTO_CHUNK_HEADER_LEN;
        memcpy(ps.header, data, ps.fill);
        data += ps.fill;
        size -= ps.fill;
        step = proxy_part_observe(&ps);
        if (ps.probes > PROXY_PART_PROBES_MAX) {
            abort();
        }
    }
    if (step == PROXY_PART_FOUND) {
        check_found(&ps);
    }
    return 0;
}
