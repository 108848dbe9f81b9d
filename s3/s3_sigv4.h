/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AWS Signature Version 4 for S3: verifying the Authorization header of a
 * client request and signing requests that s3seal sends to the backend.
 * Follows the Amazon S3 API Reference, "Authenticating Requests (AWS
 * Signature Version 4)".
 */
#ifndef S3_SIGV4_H
#define S3_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core_err.h"
#include "s3/s3_error.h"
#include "s3/s3_request.h"

#define S3_SIGV4_ALGORITHM        "AWS4-HMAC-SHA256"
#define S3_SIGV4_MAX_SKEW_SECONDS (15 * 60) /* S3 rejects requests more than 15 minutes off */
#define S3_SIGV4_SECRET_MAX       256       /* maximum secret access key length, in bytes */
/* S3 limit on X-Amz-Expires of a presigned URL: seven days, in seconds */
#define S3_SIGV4_PRESIGNED_EXPIRES_MAX 604800

struct s3_credential {
    const char *access_key_id;
    const char *secret_access_key;
};

/*
 * Returns the credential for access_key_id, or NULL if the key is unknown.
 * The result is borrowed and must stay valid until s3_sigv4_verify returns.
 */
typedef const struct s3_credential *(*s3_credential_lookup_fn)(void *arg, const char *access_key_id);

/* The outcome of s3_sigv4_verify. Every string field is NUL-terminated. */
struct s3_auth {
    enum s3_error_code error; /* S3_ERR_NONE on success */
    const char *message;      /* static English detail for the error body, or NULL */
    char access_key_id[129];
    char payload_hash[80]; /* x-amz-content-sha256 as sent: 64 hex, UNSIGNED-PAYLOAD or STREAMING-* */
    char request_time[17]; /* the request time as YYYYMMDDTHHMMSSZ, set as soon as it was parsed */
    char region[64];
    char signature[65];      /* hex; kept for streaming chunk signatures; never log it */
    char scope[160];         /* date/region/s3/aws4_request */
    uint8_t signing_key[32]; /* derived key for chunk signatures; wiped by s3_auth_cleanup */
    /*
     * Owned, malloc'd canonical request and the string to sign, set once
     * the signature was computed. S3 returns both in a SignatureDoesNotMatch
     * body to help clients debug; they hold header values, so never log them.
     */
    char *canonical_request;
    char string_to_sign[320];
};

/*
 * Verifies a SigV4 request, signed in the Authorization header:
 *   AWS4-HMAC-SHA256 Credential=AK/date/region/s3/aws4_request,
 *   SignedHeaders=h1;h2, Signature=hex
 * SignedHeaders must be sorted and include host, and every x-amz-* header of
 * the request must be signed. x-amz-content-sha256 is required; its value
 * must be 64 lower-case hex digits, UNSIGNED-PAYLOAD or a STREAMING-* value
 * (which of those proxy/ supports is its decision). The request time comes
 * from x-amz-date, else from Date. The region is not checked against a
 * configured one: the caller compares out->region.
 *
 * Or signed as a presigned URL, when the query has X-Amz-Algorithm,
 * X-Amz-Credential or X-Amz-Signature. Then X-Amz-Algorithm must be
 * AWS4-HMAC-SHA256, and X-Amz-Credential, X-Amz-Date, X-Amz-Expires (1 to
 * S3_SIGV4_PRESIGNED_EXPIRES_MAX seconds), X-Amz-SignedHeaders and
 * X-Amz-Signature must be present once each. The canonical query omits
 * X-Amz-Signature. out->payload_hash is UNSIGNED-PAYLOAD unless the client
 * signed an x-amz-content-sha256 header. The URL is valid from X-Amz-Date
 * minus S3_SIGV4_MAX_SKEW_SECONDS until X-Amz-Date plus X-Amz-Expires.
 *
 * Returns CORE_OK with out->error == S3_ERR_NONE when the signature matches.
 * Returns CORE_AUTH with out->error set for AccessDenied (no Authorization
 * header or presigned parameters, no valid date, unsigned x-amz-* header, a
 * presigned URL that expired or whose date is too far in the future),
 * InvalidAccessKeyId, RequestTimeTooSkewed (Authorization header only, more
 * than S3_SIGV4_MAX_SKEW_SECONDS from now) and SignatureDoesNotMatch.
 * Returns CORE_CLIENT with out->error set for malformed input:
 * AuthorizationHeaderMalformed, AuthorizationQueryParametersError for
 * presigned parameters, InvalidArgument (also for a request with both an
 * Authorization header and presigned parameters), InvalidRequest,
 * InvalidURI. Also CORE_NOMEM, CORE_TOO_LARGE, CORE_INTERNAL. The caller
 * must call s3_auth_cleanup on out whatever the result.
 */
enum core_err s3_sigv4_verify(const struct s3_request *req, s3_credential_lookup_fn lookup, void *arg,
                              time_t now, struct s3_auth *out) CORE_WARN_UNUSED;

/* Frees the canonical request and wipes the signing key and signature; accepts NULL. */
void s3_auth_cleanup(struct s3_auth *a);

struct s3_sign_params {
    const char *method;
    const char *canonical_uri;   /* from s3_uri_canonical_path */
    const char *canonical_query; /* from s3_uri_canonical_query; "" for none */
    /*
     * Exactly the headers to sign, in any order and case; repeated names are
     * joined with ','. Must include host, x-amz-date and x-amz-content-sha256.
     */
    const struct s3_header *headers;
    size_t header_count;
    const char *payload_hash; /* the x-amz-content-sha256 value */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key_id;
    const char *secret_access_key;
    const char *amz_date; /* YYYYMMDDTHHMMSSZ, equal to the x-amz-date header */
};

/*
 * Writes the full Authorization header value for p into authorization.
 * Returns CORE_TOO_LARGE if cap is too small, CORE_INTERNAL if p lacks a
 * required field or header, CORE_CONFIG for a secret longer than
 * S3_SIGV4_SECRET_MAX, CORE_NOMEM.
 */
enum core_err s3_sigv4_sign(const struct s3_sign_params *p, char *authorization, size_t cap) CORE_WARN_UNUSED;

/*
 * Builds the canonical request for p, as s3_sigv4_sign signs it. On CORE_OK
 * *out is a malloc'd NUL-terminated string the caller frees with free().
 */
enum core_err s3_sigv4_canonical_request(const struct s3_sign_params *p, char **out,
                                         size_t *out_len) CORE_WARN_UNUSED;

/*
 * Writes "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex SHA-256 of the
 * canonical request>" into out. Returns CORE_TOO_LARGE if cap is too small.
 */
enum core_err s3_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canonical_request,
                                      size_t canonical_len, char *out, size_t cap) CORE_WARN_UNUSED;

/* Formats t in UTC as YYYYMMDDTHHMMSSZ. */
void s3_sigv4_amz_date(time_t t, char out[17]);

/*
 * Formats t as an IMF-fixdate for the Date header, e.g.
 * "Fri, 24 May 2013 00:00:00 GMT". cap must be at least 30.
 */
enum core_err s3_http_date(time_t t, char *out, size_t cap) CORE_WARN_UNUSED;

#endif
