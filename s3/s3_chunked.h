/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streaming decoder for aws-chunked request bodies, the body format that
 * x-amz-content-sha256 values STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER and
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER announce. Follows the Amazon S3 API
 * Reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks (Chunked Upload)" and
 * "Signature calculations for trailing headers (chunked uploads)".
 *
 * Wire format, every line ending in CRLF:
 *   <hex size>[;chunk-signature=<64 hex>]   then <size> bytes and CRLF
 *   ... more chunks ...
 *   0[;chunk-signature=<64 hex>]           the final chunk, without data
 *   name:value                             trailer lines (trailer modes)
 *   x-amz-trailer-signature:<64 hex>       (signed trailer mode only)
 *   (empty line)
 *
 * Memory is bounded: no chunk is buffered, only one line of at most
 * S3_CHUNKED_LINE_MAX bytes and the declared trailer values.
 */
#ifndef S3_CHUNKED_H
#define S3_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"
#include "s3/s3_error.h"
#include "s3/s3_sigv4.h"

/* maximum bytes of a chunk size line or trailer line, CRLF included */
#define S3_CHUNKED_LINE_MAX 256
/*
 * Maximum declared size of one chunk. Chunks are streamed, so this is not a
 * memory bound: it rejects absurd sizes early. NOTE: the limit is an
 * estimate of what clients need, well above the 64 KiB chunks of the
 * documented example, and not checked against every SDK.
 */
#define S3_CHUNKED_CHUNK_MAX (16u * 1024 * 1024)
#define S3_CHUNKED_TRAILERS_MAX 4        /* names in x-amz-trailer */
#define S3_CHUNKED_TRAILER_NAME_MAX 64   /* bytes of one trailer name */
#define S3_CHUNKED_TRAILER_VALUE_MAX 128 /* bytes of one trailer value */

enum s3_chunked_mode {
    S3_CHUNKED_SIGNED = 1,       /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    S3_CHUNKED_SIGNED_TRAILER,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    S3_CHUNKED_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

struct s3_chunked;

/*
 * Returns the mode for an x-amz-content-sha256 value, or 0 when the value
 * does not announce an aws-chunked body that this decoder handles. The
 * ECDSA (SigV4a) streaming values also return 0.
 */
enum s3_chunked_mode s3_chunked_mode_from_payload_hash(const char *value);

/*
 * Creates a decoder. For the signed modes, auth is the result of a
 * successful s3_sigv4_verify: the decoder copies the seed signature,
 * signing key, scope and request time, and wipes its copies at free. auth
 * may be NULL in S3_CHUNKED_UNSIGNED_TRAILER mode.
 *
 * declared_trailer is the x-amz-trailer header value or NULL: a
 * comma-separated list of trailer names. Only trailers named there are
 * accepted, and each of them must arrive. In S3_CHUNKED_SIGNED mode it must
 * be NULL or empty.
 *
 * Returns CORE_CLIENT for an invalid declared_trailer (more than
 * S3_CHUNKED_TRAILERS_MAX names, an empty or overlong name, or any trailer
 * in S3_CHUNKED_SIGNED mode). The caller then returns 400 InvalidRequest.
 * Returns CORE_INTERNAL for an invalid mode or a missing or failed auth in
 * a signed mode, CORE_NOMEM, CORE_CRYPTO.
 */
enum core_err s3_chunked_new(enum s3_chunked_mode mode, const struct s3_auth *auth,
                             const char *declared_trailer, struct s3_chunked **out) CORE_WARN_UNUSED;

/*
 * Receives decoded payload bytes. A non-CORE_OK return stops the decoder,
 * and s3_chunked_feed returns that value.
 */
typedef enum core_err (*s3_chunked_sink_fn)(void *arg, const uint8_t *data, size_t len);

/*
 * Consumes all len bytes of in and passes decoded payload bytes to sink as
 * they arrive, possibly in several calls. A chunk's bytes reach the sink
 * before its signature can be checked, because the signature covers the
 * SHA-256 of the whole chunk: the caller must hold back anything it cannot
 * undo until s3_chunked_finish returns CORE_OK.
 *
 * Returns CORE_OK when all input was consumed without error, also when the
 * body is not complete yet. Errors stop the decoder for good, and every
 * later call returns the same value:
 *   CORE_AUTH with s3_chunked_error S3_ERR_SIGNATURE_DOES_NOT_MATCH for a
 *     wrong chunk or trailer signature;
 *   CORE_CLIENT with S3_ERR_INVALID_REQUEST for malformed framing. That is
 *     a size that is not hex, a missing or malformed chunk-signature, a
 *     missing CRLF, a line longer than S3_CHUNKED_LINE_MAX or a chunk
 *     larger than S3_CHUNKED_CHUNK_MAX. It is also a trailer not declared
 *     in x-amz-trailer, a repeated or malformed trailer, a missing trailer
 *     signature, or any byte after the end of the body;
 *   any error the sink returned, with s3_chunked_error S3_ERR_NONE;
 *   CORE_CRYPTO or CORE_INTERNAL if OpenSSL fails.
 */
enum core_err s3_chunked_feed(struct s3_chunked *d, const uint8_t *in, size_t len, s3_chunked_sink_fn sink,
                              void *arg) CORE_WARN_UNUSED;

/*
 * Ends the body: returns CORE_OK only when the final chunk, every declared
 * trailer and, in the signed modes, every signature were received and
 * verified. The final empty line may be missing when everything before it
 * is complete, because some clients end the body after the last trailer
 * line. Returns the stored error after a failed feed, and CORE_CLIENT with
 * S3_ERR_INCOMPLETE_BODY for a body that ends early. The caller compares
 * s3_chunked_decoded_length with x-amz-decoded-content-length itself.
 */
enum core_err s3_chunked_finish(struct s3_chunked *d) CORE_WARN_UNUSED;

/* Returns true once the whole body, final empty line included, was consumed and verified. */
bool s3_chunked_is_done(const struct s3_chunked *d);

/* Returns the number of payload bytes passed to the sink so far. */
uint64_t s3_chunked_decoded_length(const struct s3_chunked *d);

/* Returns the S3 error of the last failure, or S3_ERR_NONE. */
enum s3_error_code s3_chunked_error(const struct s3_chunked *d);

/*
 * Returns the NUL-terminated value of a received trailer, e.g. of
 * "x-amz-checksum-crc32", or NULL if it has not arrived. lower_name must be
 * lower case. Valid until s3_chunked_free. In the signed trailer mode a
 * value is trustworthy only after s3_chunked_finish returned CORE_OK.
 */
const char *s3_chunked_trailer_value(const struct s3_chunked *d, const char *lower_name);

/* Wipes the signing key and signatures and frees d; accepts NULL. */
void s3_chunked_free(struct s3_chunked *d);

#endif
