/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Percent-decoding and the URI encoding of AWS Signature Version 4, and the
 * canonical path and query string built from them. Used for signing and for
 * extracting bucket names and object keys.
 */
#ifndef S3_URI_H
#define S3_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core_err.h"

/*
 * Output size rule for every function here: out receives at most cap - 1
 * bytes plus a terminating NUL, and *out_len excludes the NUL. Encoding grows
 * the input at most threefold, so cap = 3 * len + 1 always suffices; decoding
 * never grows it. A too small cap returns CORE_TOO_LARGE.
 */

/*
 * Percent-decodes in[0..len) once into out. '+' stays '+' because S3 paths
 * and SigV4 queries do not use form encoding. A '%' not followed by two hex
 * digits returns CORE_CLIENT. Decoded bytes may include NUL.
 */
enum core_err s3_uri_decode(const char *in, size_t len, char *out, size_t cap,
                            size_t *out_len) CORE_WARN_UNUSED;

/*
 * Encodes in[0..len) as SigV4 UriEncode does: A-Z a-z 0-9 - . _ ~ are kept,
 * '/' is kept only when keep_slash is true, every other byte becomes %XX with
 * upper-case hex digits.
 */
enum core_err s3_uri_encode(const char *in, size_t len, bool keep_slash, char *out, size_t cap,
                            size_t *out_len) CORE_WARN_UNUSED;

/*
 * Builds the SigV4 canonical URI for S3 from a raw request path: decoded
 * once, then encoded with '/' kept. The path is never normalised, so "a//b",
 * "/./" and a trailing '/' stay distinct keys. An empty path becomes "/".
 * Invalid escapes return CORE_CLIENT.
 * NOTE: "%2F" in a path becomes '/', so a client that signed the key with
 * "%2F" kept encoded fails verification. AWS SDKs send and sign '/' as is.
 */
enum core_err s3_uri_canonical_path(const char *raw_path, size_t len, char *out, size_t cap,
                                    size_t *out_len) CORE_WARN_UNUSED;

/*
 * Builds the SigV4 canonical query string from a raw query (the part after
 * '?'): split on '&', empty parameters dropped, each name and value decoded
 * then encoded without keeping '/', a parameter without '=' given an empty
 * value, pairs sorted by encoded name then encoded value and joined as
 * name=value with '&'. skip_signature drops X-Amz-Signature, which a
 * presigned URL signs without. Invalid escapes return CORE_CLIENT; more than
 * S3_URI_MAX_QUERY_PARAMS parameters return CORE_TOO_LARGE.
 */
enum core_err s3_uri_canonical_query(const char *raw_query, size_t len, bool skip_signature, char *out,
                                     size_t cap, size_t *out_len) CORE_WARN_UNUSED;

#define S3_URI_MAX_QUERY_PARAMS 1024

/* Returns the value of one hex digit (either case), or -1 for any other character. */
int s3_hex_value(char c);

#endif
