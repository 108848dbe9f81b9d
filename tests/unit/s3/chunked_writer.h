/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test helper that writes aws-chunked request bodies in every mode, with
 * chunk and trailer signatures computed as the S3 API Reference describes
 * ("Transferring Payload in Multiple Chunks" and "Signature calculations for
 * trailing headers"). It uses OpenSSL directly and no code of s3/, so tests
 * that decode its output check the decoder against a second implementation.
 */
#ifndef CHUNKED_WRITER_H
#define CHUNKED_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "s3/s3_chunked.h"

struct chunked_writer {
    enum s3_chunked_mode mode;
    uint8_t signing_key[32];
    char request_time[17];
    char scope[160];
    char previous_signature[65];
    char trailers[1024]; /* canonical trailer lines "name:value\n" for the trailer signature */
    size_t trailers_len;
    uint8_t *body; /* owned, malloc'd; the body written so far */
    size_t len;
    size_t cap;
};

/* Derives the SigV4 signing key for secret, date8 (YYYYMMDD), region and service s3. */
void chunked_writer_signing_key(const char *secret, const char *date8, const char *region, uint8_t key[32]);

/*
 * Starts an empty body. key, request_time (YYYYMMDDTHHMMSSZ), scope and the
 * seed signature are used by the signed modes and may be NULL in
 * S3_CHUNKED_UNSIGNED_TRAILER mode. Returns 0, or -1 for invalid arguments.
 */
int chunked_writer_init(struct chunked_writer *w, enum s3_chunked_mode mode, const uint8_t key[32],
                        const char *request_time, const char *scope, const char *seed_signature);

/* Appends one chunk; len 0 appends the final chunk. Returns 0, or -1 if memory runs out. */
int chunked_writer_chunk(struct chunked_writer *w, const uint8_t *data, size_t len);

/* Appends a trailer line "name:value". Returns 0, or -1 if it does not fit. */
int chunked_writer_trailer(struct chunked_writer *w, const char *name, const char *value);

/*
 * Appends the trailer signature in S3_CHUNKED_SIGNED_TRAILER mode and the
 * final empty line. Returns 0, or -1 if memory runs out.
 */
int chunked_writer_end(struct chunked_writer *w);

/* Frees the body and wipes the key. */
void chunked_writer_cleanup(struct chunked_writer *w);

#endif
