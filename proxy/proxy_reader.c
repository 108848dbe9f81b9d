/* SPDX-License-Identifier: Apache-2.0 */
/* Verifying and decrypting stored objects chunk by chunk; see proxy_reader.h. */
#include "proxy/proxy_reader.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

enum core_err proxy_reader_open(struct proxy_reader *r, const uint8_t dek[KMS_DEK_LEN],
                                const struct crypto_envelope *env, const char *bucket, const char *key,
                                size_t key_len, uint64_t first_chunk)
{
    /*
     * A single-stream object smaller than a chunk needs only its own size:
     * a 1 KiB GET then allocates and wipes 1 KiB, not 64 KiB. Multipart
     * objects may hold full chunks in any part, so they get the maximum.
     */
    r->cipher_cap = CRYPTO_CHUNK_CIPHER_MAX;
    if (!env->multipart && env->plain_len < CRYPTO_CHUNK_PLAIN_MAX) {
        r->cipher_cap = (size_t)env->plain_len + CRYPTO_CHUNK_OVERHEAD;
    }
    r->cipher = malloc(r->cipher_cap);
    CORE_ENSURE(r->cipher != NULL, CORE_NOMEM);
    /* chunks are opened in place, which saves a 64 KiB buffer per stream */
    r->plain = r->cipher + CRYPTO_CHUNK_HEADER_LEN;

    if (crypto_envelope_verify(env, dek, bucket, strlen(bucket), key, key_len) != CORE_OK) {
        r->failure = "envelope authentication failed";
        return CORE_CRYPTO;
    }
    if (env->multipart) {
        r->multi_mode = true;
        return crypto_multi_open_init(&r->multi, dek, first_chunk == 0 || r->part_number != 0);
    }
    return crypto_stream_open_init(&r->single, dek, 0, env->plain_len, first_chunk);
}

/* Bytes to gather next: a chunk of known length, or for a multipart object its header first. */
static size_t next_len(const struct proxy_reader *r)
{
    if (!r->multi_mode) {
        return crypto_stream_next_cipher_len(&r->single);
    }
    if (r->remaining == 0 && crypto_multi_open_at_final(&r->multi)) {
        return 0;
    }
    return r->chunk_len != 0 ? r->chunk_len : CRYPTO_CHUNK_HEADER_LEN;
}

static enum core_err open_chunk(struct proxy_reader *r, size_t len, size_t *opened)
{
    if (r->multi_mode) {
        return crypto_multi_open_chunk(&r->multi, r->cipher, len, r->plain, r->cipher_cap - CRYPTO_CHUNK_OVERHEAD,
                                       opened);
    }
    return crypto_stream_open_chunk(&r->single, r->cipher, len, r->plain, r->cipher_cap - CRYPTO_CHUNK_OVERHEAD,
                                    opened);
}

/*
 * Checks an opened chunk of a single-part read: the chunk must belong to that
 * part, and the range must end exactly at the end of the part's FINAL chunk.
 * The range came from chunk headers read before the chunks were
 * authenticated, so a wrong boundary fails here instead of passing on bytes
 * of another part. used is the plaintext of this chunk up to the end of the range.
 */
static bool part_chunk_valid(struct proxy_reader *r, size_t opened, size_t used)
{
    bool at_final = crypto_multi_open_at_final(&r->multi);

    if (r->part_number == 0 || !r->multi_mode) {
        return true;
    }
    if (r->multi.part_number != r->part_number) {
        r->failure = "chunk belongs to another part than the one requested";
        return false;
    }
    if (at_final != (r->remaining == 0) || (at_final && used != opened)) {
        r->failure = "part does not end where its chunk headers said";
        return false;
    }
    return true;
}

/* Passes the part of an opened chunk that lies inside the range. */
static enum core_err emit_range(struct proxy_reader *r, size_t opened, proxy_reader_emit_fn emit, void *arg)
{
    size_t skip = r->skip_plain < opened ? (size_t)r->skip_plain : opened;
    size_t n = opened - skip;

    if (n > r->remaining) {
        n = (size_t)r->remaining;
    }
    r->skip_plain -= skip;
    r->remaining -= n;
    if (!part_chunk_valid(r, opened, skip + n)) {
        OPENSSL_cleanse(r->plain, opened);
        return CORE_CRYPTO;
    }
    return emit(arg, r->plain + skip, n);
}

enum core_err proxy_reader_feed(struct proxy_reader *r, const uint8_t *data, size_t len, proxy_reader_emit_fn emit,
                                void *arg)
{
    while (len > 0) {
        size_t want;
        size_t take;
        size_t opened = 0;

        if (r->skip_cipher > 0) {
            take = r->skip_cipher < len ? (size_t)r->skip_cipher : len;
            r->skip_cipher -= take;
            data += take;
            len -= take;
            continue;
        }
        if (r->remaining == 0 && r->ranged) {
            return CORE_OK; /* the rest of the response lies after the range */
        }
        want = next_len(r);
        if (want == 0) {
            r->failure = "bytes after the final chunk";
            return CORE_CRYPTO;
        }
        take = want - r->fill < len ? want - r->fill : len;
        memcpy(r->cipher + r->fill, data, take);
        r->fill += take;
        data += take;
        len -= take;
        if (r->fill < want) {
            break;
        }

        if (r->multi_mode && r->chunk_len == 0) {
            /* the header arrived, and with it the length of the whole chunk */
            if (crypto_multi_chunk_len(r->cipher, &r->chunk_len) != CORE_OK) {
                r->failure = "invalid chunk header";
                return CORE_CRYPTO;
            }
            continue;
        }

        r->fill = 0;
        r->chunk_len = 0;
        if (open_chunk(r, want, &opened) != CORE_OK) {
            r->failure = "chunk authentication failed";
            return CORE_CRYPTO;
        }
        CORE_TRY(emit_range(r, opened, emit, arg));
    }
    return CORE_OK;
}

bool proxy_reader_complete(const struct proxy_reader *r)
{
    /* a whole multipart read must end on a FINAL chunk; the single-stream reader checks that itself */
    return r->remaining == 0 &&
           (r->ranged || !r->multi_mode || !r->multi.started || crypto_multi_open_at_final(&r->multi));
}

void proxy_reader_cleanup(struct proxy_reader *r)
{
    crypto_stream_cleanup(&r->single);
    crypto_multi_open_cleanup(&r->multi);
    if (r->cipher != NULL) {
        OPENSSL_clear_free(r->cipher, r->cipher_cap);
        r->cipher = NULL;
    }
    r->plain = NULL;
}
