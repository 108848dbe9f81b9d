/* SPDX-License-Identifier: Apache-2.0 */
/* Finding one part of a multipart object from its chunk headers; see proxy_part_search.h and proxy_part.c. */
#include "proxy/proxy_part_search.h"

#include "crypto/crypto_multi.h"

/* Fields of a chunk header; only crypto_multi_chunk_len has checked them. */
struct chunk_header {
    uint32_t part;
    uint32_t seq;
    uint32_t plain_len;
    bool final;
};

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool proxy_part_search_init(struct proxy_part_search *ps, uint32_t number, uint64_t stored)
{
    uint64_t plain = 0;

    if (stored == 0 || !crypto_size_decrypted(stored, &plain)) {
        return false;
    }
    ps->number = number;
    ps->stored = stored;
    /* rounds up without adding first: the size comes from the backend and may be close to UINT64_MAX */
    ps->chunks = stored / CRYPTO_CHUNK_CIPHER_MAX + (stored % CRYPTO_CHUNK_CIPHER_MAX != 0 ? 1 : 0);
    ps->lo = 0;
    ps->hi = ps->chunks - 1;
    ps->probe = 0;
    return true;
}

/* Checks a probed header against the layout of an aligned multipart object of ps->stored bytes. */
static bool parse_header(const struct proxy_part_search *ps, struct chunk_header *h)
{
    size_t chunk_len = 0;
    uint64_t g = ps->probe;

    if (ps->fill != CRYPTO_CHUNK_HEADER_LEN || crypto_multi_chunk_len(ps->header, &chunk_len) != CORE_OK) {
        return false;
    }
    h->final = (ps->header[1] & CRYPTO_CHUNK_FLAG_FINAL) != 0;
    h->plain_len = (uint32_t)(chunk_len - CRYPTO_CHUNK_OVERHEAD);
    h->part = read_be32(ps->header + 4);
    h->seq = read_be32(ps->header + 8);
    if (h->part == 0 || h->part > CRYPTO_PART_NUMBER_MAX || h->seq > g) {
        return false;
    }
    if (g + 1 < ps->chunks) {
        /* every chunk but the object's last is a full one */
        return chunk_len == CRYPTO_CHUNK_CIPHER_MAX;
    }
    return h->final && g * CRYPTO_CHUNK_CIPHER_MAX + chunk_len == ps->stored;
}

/*
 * Guesses the part size from the last part's start, for the common object
 * whose parts before the last all have one size and contiguous numbers.
 */
static void guess_part_size(struct proxy_part_search *ps, const struct chunk_header *h)
{
    uint64_t last_start = ps->probe - h->seq;
    uint32_t parts_before = h->part > ps->first_part ? h->part - ps->first_part : 0;

    ps->part_size = parts_before > 0 && last_start % parts_before == 0 ? last_start / parts_before : 0;
}

static enum proxy_part_step found(struct proxy_part_search *ps, const struct chunk_header *h)
{
    ps->end = ps->probe;
    ps->end_len = h->plain_len;
    return PROXY_PART_FOUND;
}

/* Narrows the search for the part's first chunk with one header. */
static enum proxy_part_step observe_before_start(struct proxy_part_search *ps, const struct chunk_header *h)
{
    uint64_t part_start = ps->probe - h->seq;

    if (h->part == ps->number) {
        if (part_start < ps->lo) {
            return PROXY_PART_INCONSISTENT;
        }
        ps->start = part_start;
        ps->found_start = true;
        ps->guessed = false;
        ps->bisect_next = false; /* happens once per search, so the bound on probes remains valid */
        if (h->final) {
            return found(ps, h);
        }
        ps->lo = ps->probe + 1;
    } else if (h->part < ps->number) {
        ps->lo = ps->probe + 1;
    } else if (part_start == 0) {
        return PROXY_PART_MISSING; /* a later part starts the object */
    } else if (part_start - 1 < ps->hi) {
        ps->hi = part_start - 1;
    }
    return ps->lo > ps->hi ? PROXY_PART_MISSING : PROXY_PART_CONTINUE;
}

/* Narrows the search for the part's FINAL chunk with one header. */
static enum proxy_part_step observe_after_start(struct proxy_part_search *ps, const struct chunk_header *h)
{
    uint64_t part_start = ps->probe - h->seq;

    if (h->part == ps->number) {
        if (part_start != ps->start) {
            return PROXY_PART_INCONSISTENT;
        }
        if (h->final) {
            return found(ps, h);
        }
        ps->lo = ps->probe + 1;
    } else if (h->part < ps->number || part_start <= ps->start) {
        return PROXY_PART_INCONSISTENT;
    } else if (part_start - 1 < ps->hi) {
        ps->hi = part_start - 1;
    }
    return ps->lo > ps->hi ? PROXY_PART_INCONSISTENT : PROXY_PART_CONTINUE;
}

static enum proxy_part_step observe(struct proxy_part_search *ps, const struct chunk_header *h)
{
    if (!ps->started) {
        ps->started = true;
        ps->first_part = h->part;
        if (h->seq != 0) {
            return PROXY_PART_INCONSISTENT;
        }
        if (ps->number < h->part) {
            return PROXY_PART_MISSING;
        }
    }
    if (ps->probe + 1 == ps->chunks && ps->probe > 0) {
        guess_part_size(ps, h);
    }
    return ps->found_start ? observe_after_start(ps, h) : observe_before_start(ps, h);
}

/* Chooses the chunk of the next probe, in the order the comment at the top of proxy_part.c gives. */
static uint64_t next_probe(struct proxy_part_search *ps)
{
    uint64_t guess;

    if (ps->probes == 1 && ps->chunks > 1) {
        return ps->chunks - 1;
    }
    if (!ps->bisect_next && ps->part_size > 0 && !ps->guessed) {
        ps->guessed = true;
        guess = ps->found_start ? ps->start + ps->part_size - 1
                                : (uint64_t)(ps->number - ps->first_part) * ps->part_size;
        if (guess >= ps->lo && guess <= ps->hi) {
            ps->bisect_next = true;
            return guess;
        }
    }
    if (!ps->bisect_next && ps->hi + 1 < ps->chunks) {
        /* hi is the last chunk before a later part: the end of the part just before it */
        ps->bisect_next = true;
        return ps->hi;
    }
    ps->bisect_next = false;
    return ps->lo + (ps->hi - ps->lo) / 2;
}

enum proxy_part_step proxy_part_observe(struct proxy_part_search *ps)
{
    struct chunk_header h;
    enum proxy_part_step step;

    if (!parse_header(ps, &h)) {
        return PROXY_PART_INCONSISTENT;
    }
    ps->probes++;
    step = observe(ps, &h);
    if (step != PROXY_PART_CONTINUE) {
        return step;
    }
    if (ps->probes >= PROXY_PART_PROBES_MAX) {
        return PROXY_PART_INCONSISTENT;
    }
    ps->probe = next_probe(ps);
    return PROXY_PART_CONTINUE;
}
