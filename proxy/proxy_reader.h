/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading stored objects: verifies and decrypts the chunks of a backend
 * response in whatever pieces they arrive, and passes on only the plaintext
 * bytes of the requested range. Used for GetObject and for the source of a
 * copy that s3seal reads itself.
 */
#ifndef PROXY_READER_H
#define PROXY_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core_err.h"
#include "crypto/crypto_envelope.h"
#include "crypto/crypto_multi.h"
#include "crypto/crypto_stream.h"
#include "kms/kms.h"

struct proxy_reader {
    struct crypto_stream single;    /* owned; an object written with one PutObject */
    struct crypto_multi_open multi; /* owned; a multipart object, read by its chunk headers */
    bool multi_mode;
    uint8_t *cipher;      /* owned; the chunk being gathered */
    uint8_t *plain;       /* its plaintext, in cipher after the chunk header */
    size_t cipher_cap;    /* bytes allocated at cipher: the largest chunk this object can hold */
    size_t fill;          /* bytes of the chunk gathered so far */
    size_t chunk_len;     /* length of a multipart chunk once its header arrived, else 0 */
    uint64_t skip_cipher; /* response bytes before the first chunk */
    uint64_t skip_plain;  /* plaintext bytes of the first chunk before the range */
    uint64_t remaining;   /* plaintext bytes of the range still to pass on */
    bool ranged;          /* bytes after the range are expected and ignored */
    uint32_t part_number; /* multipart: read only this part, from sequence 0 to its FINAL chunk; 0 for any */
    const char *failure;  /* what failed, for the log line of the caller */
};

typedef enum core_err (*proxy_reader_emit_fn)(void *arg, const uint8_t *plain, size_t len);

/*
 * Verifies the envelope with the object's data key dek, for bucket and key, and prepares reading from
 * chunk first_chunk. Returns CORE_CRYPTO, with r->failure set, when the envelope does not verify. The
 * caller gets dek from the key service (proxy_keys.h) and sets the skip, remaining and ranged fields
 * before feeding.
 */
enum core_err proxy_reader_open(struct proxy_reader *r, const uint8_t dek[KMS_DEK_LEN],
                                const struct crypto_envelope *env, const char *bucket, const char *key,
                                size_t key_len, uint64_t first_chunk) CORE_WARN_UNUSED;

/*
 * Feeds response bytes; passes each verified piece of the range to emit.
 * Returns CORE_CRYPTO, with r->failure set, on any chunk that does not
 * verify and on bytes after the final chunk of a whole-object read.
 */
enum core_err proxy_reader_feed(struct proxy_reader *r, const uint8_t *data, size_t len, proxy_reader_emit_fn emit,
                                void *arg) CORE_WARN_UNUSED;

/* Tells whether the response ended where it should: the whole range passed on, the object not truncated. */
bool proxy_reader_complete(const struct proxy_reader *r);

/* Wipes and frees what the reader owns; safe on a zeroed reader and twice. */
void proxy_reader_cleanup(struct proxy_reader *r);

#endif
