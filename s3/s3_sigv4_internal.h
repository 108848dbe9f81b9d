/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Steps of SigV4 shared by signing (s3_sigv4.c) and verifying
 * (s3_sigv4_verify.c). Private to the s3 module.
 */
#ifndef S3_SIGV4_INTERNAL_H
#define S3_SIGV4_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core_err.h"
#include "s3/s3_buf.h"
#include "s3/s3_request.h"

/* The canonical request has no inherent limit; this bounds memory per request. */
#define S3_SIGV4_CANONICAL_MAX (256 * 1024)

/*
 * Appends the canonical request to b. signed_headers is the lower-case,
 * sorted list separated by ';'. For each name, the values of every header
 * of that name (in any case) are trimmed, inner runs of blanks become one
 * space, and the values are joined with ','. A signed name without a header
 * gets an empty value, so s3_sigv4_verify rejects that case beforehand.
 */
enum core_err s3_sigv4_append_canonical(struct s3_buf *b, const char *method, const char *uri,
                                        const char *query, const char *signed_headers, size_t signed_len,
                                        const struct s3_header *headers, size_t header_count,
                                        const char *payload_hash) CORE_WARN_UNUSED;

/* Derives the signing key from the secret and the scope parts; date8 is YYYYMMDD. */
enum core_err s3_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                                   const char *service, uint8_t key[32]) CORE_WARN_UNUSED;

/* Writes the lower-case hex HMAC-SHA256 of string_to_sign under key, NUL-terminated. */
enum core_err s3_sigv4_signature_hex(const uint8_t key[32], const char *string_to_sign,
                                     char out[65]) CORE_WARN_UNUSED;

/* Parses exactly YYYYMMDDTHHMMSSZ; false for any other text or an impossible date. */
bool s3_sigv4_parse_amz_date(const char *s, size_t len, time_t *t);

/* Parses exactly an IMF-fixdate with the correct weekday; false otherwise. */
bool s3_sigv4_parse_http_date(const char *s, size_t len, time_t *t);

#endif
