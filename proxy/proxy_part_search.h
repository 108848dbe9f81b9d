/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The search for the stored chunks of one part of a client's multipart
 * object, from single chunk headers read one at a time (probes). Pure
 * functions, no I/O: proxy_part.c sends the probes. See proxy_part.c for
 * the rule and why it is safe to read headers before their tags are checked.
 */
#ifndef PROXY_PART_SEARCH_H
#define PROXY_PART_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto_stream.h"

/*
 * Above the bound of about 4 * log2(chunks) + 4 probes for 2^27 chunks
 * (8.8 TB), more than the largest object S3 stores (5 TiB).
 */
#define PROXY_PART_PROBES_MAX 128

/* Outcome of one probe. */
enum proxy_part_step {
    PROXY_PART_CONTINUE = 0, /* probe again, at chunk ps->probe */
    PROXY_PART_FOUND,        /* start, end and end_len are set */
    PROXY_PART_MISSING,      /* the object has no part with that number */
    PROXY_PART_INCONSISTENT, /* the headers contradict each other or the stored size, or too many probes */
};

/* State of one search; zero it, then call proxy_part_search_init. */
struct proxy_part_search {
    uint32_t number;       /* part number the client requested */
    uint32_t count;        /* parts in the object, from the "-N" ETag suffix; 0 when absent */
    uint32_t first_part;   /* part number of chunk 0 */
    uint64_t stored;       /* stored size of the object */
    uint64_t chunks;       /* stored chunks in the object */
    uint64_t probe;        /* chunk the probe in flight reads */
    uint8_t header[CRYPTO_CHUNK_HEADER_LEN]; /* its header, as far as it arrived */
    size_t fill;
    unsigned probes;       /* probes answered so far */
    bool started;          /* the first probe (chunk 0) was answered */
    bool found_start;      /* start is known, and the search is for the part's final chunk */
    uint64_t lo;           /* the chunk searched for lies in lo..hi */
    uint64_t hi;
    uint64_t start;        /* first chunk of the part */
    uint64_t end;          /* final chunk of the part */
    uint32_t end_len;      /* plaintext bytes of the final chunk */
    uint64_t part_size;    /* chunks per part when all parts before the last have one size, else 0 */
    bool guessed;          /* the guess from part_size was probed in this phase */
    bool bisect_next;      /* the previous probe was not a bisection, so this one must be */
};

/*
 * Prepares a search for part `number` in a stored object of `stored` bytes,
 * whose first probe reads chunk 0. Returns false when `stored` is not the
 * stored size of any object (0, or a size that decrypts to no length).
 */
bool proxy_part_search_init(struct proxy_part_search *ps, uint32_t number, uint64_t stored);

/*
 * Takes the header in ps->header (ps->fill bytes) of chunk ps->probe and
 * narrows the search. On PROXY_PART_CONTINUE, ps->probe is set to the
 * chunk to read next.
 */
enum proxy_part_step proxy_part_observe(struct proxy_part_search *ps);

#endif
