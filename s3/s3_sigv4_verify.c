/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification of SigV4 client requests, signed in the Authorization header
 * or as a presigned URL: parses the signature parameters, checks the signed
 * headers, payload hash and request time, then recomputes the signature and
 * compares it in constant time.
 */
#include "s3/s3_sigv4.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "s3/s3_sigv4_internal.h"
#include "s3/s3_uri.h"

/* The Authorization header split into its parts; views into the header value. */
struct auth_fields {
    const char *credential;
    size_t credential_len;
    const char *signed_headers;
    size_t signed_len;
    const char *signature;
    size_t signature_len;
};

static const char *const payload_hash_names[] = {
    "UNSIGNED-PAYLOAD",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
};

static enum core_err reject(struct s3_auth *a, enum core_err err, enum s3_error_code code,
                            const char *message)
{
    a->error = code;
    a->message = message;
    return err;
}

static enum core_err malformed(struct s3_auth *a, const char *message)
{
    return reject(a, CORE_CLIENT, S3_ERR_AUTHORIZATION_HEADER_MALFORMED, message);
}

static bool is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && memcmp(s, prefix, n) == 0;
}

static bool equals(const char *s, size_t len, const char *text)
{
    return len == strlen(text) && memcmp(s, text, len) == 0;
}

/* Copies len bytes into a NUL-terminated field of size cap; false if they do not fit. */
static bool copy_field(char *field, size_t cap, const char *s, size_t len)
{
    if (len >= cap) {
        return false;
    }
    memcpy(field, s, len);
    field[len] = '\0';
    return true;
}

static size_t count_headers(const struct s3_request *req, const char *lower_name)
{
    size_t n = 0;
    size_t name_len = strlen(lower_name);

    for (size_t i = 0; i < req->header_count; i++) {
        const struct s3_header *h = &req->headers[i];

        n += h->name_len == name_len && strncasecmp(h->name, lower_name, name_len) == 0;
    }
    return n;
}

/* Returns true if the raw query has X-Amz-Algorithm, X-Amz-Credential or X-Amz-Signature, the parameters of a presigned URL. */
static bool query_is_presigned(const struct s3_request *req)
{
    const char *q;
    size_t len;
    size_t start = 0;

    if (!s3_request_query(req, &q, &len)) {
        return false;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i < len && q[i] != '&') {
            continue;
        }
        if (starts_with(q + start, i - start, "X-Amz-Algorithm=") ||
            starts_with(q + start, i - start, "X-Amz-Credential=") ||
            starts_with(q + start, i - start, "X-Amz-Signature=")) {
            return true;
        }
        start = i + 1;
    }
    return false;
}

static enum core_err find_authorization(const struct s3_request *req, struct s3_auth *out,
                                        const struct s3_header **h)
{
    *h = s3_request_find_header(req, "authorization");
    if (*h == NULL) {
        return reject(out, CORE_AUTH, S3_ERR_ACCESS_DENIED, "The request has no Authorization header.");
    }
    if (count_headers(req, "authorization") > 1) {
        return malformed(out, "The request has more than one Authorization header.");
    }
    return CORE_OK;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) {
        (*len)--;
    }
}

static bool store_once(const char **field, size_t *field_len, const char *value, size_t len)
{
    if (*field != NULL) {
        return false;
    }
    *field = value;
    *field_len = len;
    return true;
}

/* Stores one "Name=value" component; false for an unknown or repeated name. */
static bool store_component(const char *s, size_t len, struct auth_fields *f)
{
    static const char credential[] = "Credential=";
    static const char signed_headers[] = "SignedHeaders=";
    static const char signature[] = "Signature=";

    if (starts_with(s, len, credential)) {
        size_t n = sizeof(credential) - 1;

        return store_once(&f->credential, &f->credential_len, s + n, len - n);
    }
    if (starts_with(s, len, signed_headers)) {
        size_t n = sizeof(signed_headers) - 1;

        return store_once(&f->signed_headers, &f->signed_len, s + n, len - n);
    }
    if (starts_with(s, len, signature)) {
        size_t n = sizeof(signature) - 1;

        return store_once(&f->signature, &f->signature_len, s + n, len - n);
    }
    return false;
}

static enum core_err split_authorization(const struct s3_header *h, struct auth_fields *f,
                                         struct s3_auth *out)
{
    const char *v = h->value;
    size_t len = h->value_len;
    size_t alg_len = strlen(S3_SIGV4_ALGORITHM);
    size_t start;

    memset(f, 0, sizeof(*f));
    trim(&v, &len);
    if (!starts_with(v, len, S3_SIGV4_ALGORITHM) || len == alg_len || (v[alg_len] != ' ')) {
        return reject(out, CORE_CLIENT, S3_ERR_INVALID_REQUEST,
                      "The authorization mechanism is not supported. Use AWS4-HMAC-SHA256.");
    }

    start = alg_len + 1;
    for (size_t i = start; i <= len; i++) {
        const char *part = v + start;
        size_t part_len = i - start;

        if (i < len && v[i] != ',') {
            continue;
        }
        start = i + 1;
        trim(&part, &part_len);
        if (!store_component(part, part_len, f)) {
            return malformed(out, "The Authorization header has an unknown or repeated component.");
        }
    }
    if (!f->credential || !f->signed_headers || !f->signature) {
        return malformed(out, "The Authorization header must have Credential, SignedHeaders and Signature.");
    }
    return CORE_OK;
}

static bool is_region_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Parses Credential=AK/YYYYMMDD/region/s3/aws4_request into out. */
static enum core_err parse_credential(const struct auth_fields *f, struct s3_auth *out)
{
    const char *parts[5];
    size_t lens[5];
    size_t n = 0;
    size_t start = 0;

    for (size_t i = 0; i <= f->credential_len; i++) {
        if (i < f->credential_len && f->credential[i] != '/') {
            continue;
        }
        if (n == 5) {
            return malformed(out, "The Credential must be access-key-id/date/region/s3/aws4_request.");
        }
        parts[n] = f->credential + start;
        lens[n++] = i - start;
        start = i + 1;
    }
    if (n != 5 || lens[0] == 0 ||
        !copy_field(out->access_key_id, sizeof(out->access_key_id), parts[0], lens[0])) {
        return malformed(out, "The Credential must be access-key-id/date/region/s3/aws4_request.");
    }
    for (size_t i = 0; i < lens[0]; i++) {
        /* visible ASCII only, so the key id is safe to pass on as a C string and to log */
        if (parts[0][i] < '!' || parts[0][i] > '~') {
            return malformed(out, "The Credential access key id contains an invalid character.");
        }
    }
    if (lens[1] != 8 || !all_digits(parts[1], 8)) {
        return malformed(out, "The Credential date must be YYYYMMDD.");
    }
    if (lens[2] == 0 || !copy_field(out->region, sizeof(out->region), parts[2], lens[2])) {
        return malformed(out, "The Credential region is empty or too long.");
    }
    for (size_t i = 0; i < lens[2]; i++) {
        if (!is_region_char(parts[2][i])) {
            return malformed(out, "The Credential region contains an invalid character.");
        }
    }
    if (!equals(parts[3], lens[3], "s3")) {
        return malformed(out, "The Credential service must be s3.");
    }
    if (!equals(parts[4], lens[4], "aws4_request")) {
        return malformed(out, "The Credential must end with aws4_request.");
    }
    snprintf(out->scope, sizeof(out->scope), "%.8s/%s/s3/aws4_request", parts[1], out->region);
    return CORE_OK;
}

static bool is_header_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

static int compare_slices(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

    return c != 0 ? c : (a_len > b_len) - (a_len < b_len);
}

/* Checks that SignedHeaders is lower case, sorted, without duplicates, and contains host. */
static enum core_err check_signed_list(const struct auth_fields *f, struct s3_auth *out)
{
    const char *prev = NULL;
    size_t prev_len = 0;
    size_t start = 0;
    bool has_host = false;

    for (size_t i = 0; i <= f->signed_len; i++) {
        const char *name = f->signed_headers + start;
        size_t len = i - start;

        if (i < f->signed_len && f->signed_headers[i] != ';') {
            if (!is_header_name_char(f->signed_headers[i])) {
                return malformed(out, "SignedHeaders must be lower-case header names separated by ';'.");
            }
            continue;
        }
        start = i + 1;
        if (len == 0 || (prev && compare_slices(prev, prev_len, name, len) >= 0)) {
            return malformed(out, "SignedHeaders must be sorted, without empty or repeated names.");
        }
        has_host = has_host || equals(name, len, "host");
        prev = name;
        prev_len = len;
    }
    if (!has_host) {
        return malformed(out, "SignedHeaders must include host.");
    }
    return CORE_OK;
}

static enum core_err parse_signature(const struct auth_fields *f, struct s3_auth *out)
{
    if (f->signature_len != 64 || !is_lower_hex(f->signature, 64)) {
        return malformed(out, "The Signature must be 64 lower-case hex digits.");
    }
    memcpy(out->signature, f->signature, 64);
    out->signature[64] = '\0';
    return CORE_OK;
}

static bool list_contains(const struct auth_fields *f, const char *name, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i <= f->signed_len; i++) {
        if (i < f->signed_len && f->signed_headers[i] != ';') {
            continue;
        }
        if (i - start == len && strncasecmp(f->signed_headers + start, name, len) == 0) {
            return true;
        }
        start = i + 1;
    }
    return false;
}

/* S3 requires every x-amz-* header to be signed, so that one added in transit is detected. */
static enum core_err check_amz_headers_signed(const struct s3_request *req, const struct auth_fields *f,
                                              struct s3_auth *out)
{
    for (size_t i = 0; i < req->header_count; i++) {
        const struct s3_header *h = &req->headers[i];

        if (h->name_len >= 6 && strncasecmp(h->name, "x-amz-", 6) == 0 &&
            !list_contains(f, h->name, h->name_len)) {
            return reject(out, CORE_AUTH, S3_ERR_ACCESS_DENIED,
                          "There were x-amz-* headers in the request that were not signed.");
        }
    }
    return CORE_OK;
}

static enum core_err check_signed_present(const struct s3_request *req, const struct auth_fields *f,
                                          struct s3_auth *out)
{
    size_t start = 0;

    for (size_t i = 0; i <= f->signed_len; i++) {
        char name[128];

        if (i < f->signed_len && f->signed_headers[i] != ';') {
            continue;
        }
        if (!copy_field(name, sizeof(name), f->signed_headers + start, i - start) ||
            s3_request_find_header(req, name) == NULL) {
            return reject(out, CORE_AUTH, S3_ERR_SIGNATURE_DOES_NOT_MATCH,
                          "A header named in SignedHeaders is missing from the request.");
        }
        start = i + 1;
    }
    return CORE_OK;
}

static bool payload_hash_valid(const char *v, size_t len)
{
    if (len == 64 && is_lower_hex(v, 64)) {
        return true;
    }
    for (size_t i = 0; i < sizeof(payload_hash_names) / sizeof(payload_hash_names[0]); i++) {
        if (equals(v, len, payload_hash_names[i])) {
            return true;
        }
    }
    return false;
}

static enum core_err read_payload_hash(const struct s3_request *req, struct s3_auth *out)
{
    const struct s3_header *h = s3_request_find_header(req, "x-amz-content-sha256");

    if (h == NULL) {
        return reject(out, CORE_CLIENT, S3_ERR_INVALID_REQUEST,
                      "Missing required header for this request: x-amz-content-sha256.");
    }
    if (count_headers(req, "x-amz-content-sha256") > 1) {
        return reject(out, CORE_CLIENT, S3_ERR_INVALID_ARGUMENT,
                      "The request has more than one x-amz-content-sha256 header.");
    }
    if (!payload_hash_valid(h->value, h->value_len) ||
        !copy_field(out->payload_hash, sizeof(out->payload_hash), h->value, h->value_len)) {
        return reject(out, CORE_CLIENT, S3_ERR_INVALID_ARGUMENT,
                      "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or 64 lower-case "
                      "hex digits.");
    }
    return CORE_OK;
}

/* Reads x-amz-date, or Date when there is no x-amz-date, into out->request_time and *t. */
static enum core_err read_request_time(const struct s3_request *req, struct s3_auth *out, time_t *t)
{
    const struct s3_header *amz = s3_request_find_header(req, "x-amz-date");
    const struct s3_header *date = s3_request_find_header(req, "date");
    bool valid;

    if (amz && count_headers(req, "x-amz-date") > 1) {
        return reject(out, CORE_CLIENT, S3_ERR_INVALID_ARGUMENT,
                      "The request has more than one x-amz-date header.");
    }
    if (amz) {
        valid = s3_sigv4_parse_amz_date(amz->value, amz->value_len, t);
    } else {
        valid = date && s3_sigv4_parse_http_date(date->value, date->value_len, t);
    }
    if (!valid) {
        return reject(out, CORE_AUTH, S3_ERR_ACCESS_DENIED,
                      "AWS authentication requires a valid Date or x-amz-date header.");
    }
    s3_sigv4_amz_date(*t, out->request_time);
    return CORE_OK;
}

static enum core_err check_time(time_t t, time_t now, struct s3_auth *out)
{
    time_t skew = t > now ? t - now : now - t;

    if (memcmp(out->scope, out->request_time, 8) != 0) {
        return malformed(out, "The Credential date is not the date of x-amz-date.");
    }
    if (skew > S3_SIGV4_MAX_SKEW_SECONDS) {
        return reject(out, CORE_AUTH, S3_ERR_REQUEST_TIME_TOO_SKEWED,
                      "The difference between the request time and the server time is too large.");
    }
    return CORE_OK;
}

static enum core_err canonical_target(const struct s3_request *req, bool presigned, char **uri, char **query)
{
    const char *path;
    const char *raw_query;
    size_t path_len;
    size_t query_len;
    size_t n;

    s3_request_path(req, &path, &path_len);
    s3_request_query(req, &raw_query, &query_len);
    CORE_ENSURE(path_len < S3_SIGV4_CANONICAL_MAX && query_len < S3_SIGV4_CANONICAL_MAX, CORE_TOO_LARGE);

    *uri = malloc(3 * path_len + 2);
    *query = malloc(3 * query_len + 1);
    CORE_ENSURE(*uri != NULL && *query != NULL, CORE_NOMEM);
    CORE_TRY(s3_uri_canonical_path(path, path_len, *uri, 3 * path_len + 2, &n));
    return s3_uri_canonical_query(raw_query, query_len, presigned, *query, 3 * query_len + 1, &n);
}

/* Builds the canonical request and string to sign into out and derives the signing key. */
static enum core_err compute_signature(const struct s3_request *req, const struct auth_fields *f,
                                       bool presigned, const struct s3_credential *cred, struct s3_auth *out,
                                       char expected[65])
{
    enum core_err err;
    struct s3_buf canonical;
    char *uri = NULL;
    char *query = NULL;
    size_t len;

    s3_buf_init(&canonical, S3_SIGV4_CANONICAL_MAX);
    err = canonical_target(req, presigned, &uri, &query);
    if (err == CORE_CLIENT) {
        reject(out, CORE_CLIENT, S3_ERR_INVALID_URI, "The request target has an invalid percent-encoding.");
        goto out;
    }
    if (err != CORE_OK) {
        goto out;
    }

    err = s3_sigv4_append_canonical(&canonical, req->method, uri, query, f->signed_headers, f->signed_len,
                                    req->headers, req->header_count, out->payload_hash);
    if (err == CORE_OK) {
        err = s3_buf_take(&canonical, &out->canonical_request, &len);
    }
    if (err == CORE_OK) {
        err = s3_sigv4_string_to_sign(out->request_time, out->scope, out->canonical_request, len,
                                      out->string_to_sign, sizeof(out->string_to_sign));
    }
    if (err == CORE_OK) {
        err = s3_sigv4_signing_key(cred->secret_access_key, out->request_time, out->region, "s3",
                                   out->signing_key);
    }
    if (err == CORE_OK) {
        err = s3_sigv4_signature_hex(out->signing_key, out->string_to_sign, expected);
    }

out:
    free(query);
    free(uri);
    s3_buf_cleanup(&canonical);
    return err;
}

static enum core_err parse_request(const struct s3_request *req, struct auth_fields *f, time_t now,
                                   struct s3_auth *out)
{
    const struct s3_header *h;
    time_t t;

    CORE_TRY(find_authorization(req, out, &h));
    CORE_TRY(split_authorization(h, f, out));
    CORE_TRY(parse_credential(f, out));
    CORE_TRY(check_signed_list(f, out));
    CORE_TRY(parse_signature(f, out));
    CORE_TRY(read_payload_hash(req, out));
    CORE_TRY(check_amz_headers_signed(req, f, out));
    CORE_TRY(check_signed_present(req, f, out));
    CORE_TRY(read_request_time(req, out, &t));
    return check_time(t, now, out);
}

/* The presigned URL parameters, percent-decoded and NUL-terminated. */
struct presigned_params {
    char algorithm[32];
    char credential[256];
    char date[32];
    char expires[16];
    char signed_headers[1024];
    char signature[80];
    unsigned seen; /* one bit per entry of presigned_names */
};

struct presigned_name {
    const char *name;
    size_t offset; /* of the field in struct presigned_params */
    size_t cap;
};

#define PRESIGNED_FIELD(name, field)                                                                         \
    {                                                                                                        \
        name, offsetof(struct presigned_params, field), sizeof(((struct presigned_params *)0)->field)        \
    }

static const struct presigned_name presigned_names[] = {
    PRESIGNED_FIELD("X-Amz-Algorithm", algorithm),
    PRESIGNED_FIELD("X-Amz-Credential", credential),
    PRESIGNED_FIELD("X-Amz-Date", date),
    PRESIGNED_FIELD("X-Amz-Expires", expires),
    PRESIGNED_FIELD("X-Amz-SignedHeaders", signed_headers),
    PRESIGNED_FIELD("X-Amz-Signature", signature),
};

#define PRESIGNED_NAME_COUNT (sizeof(presigned_names) / sizeof(presigned_names[0]))

static enum core_err query_error(struct s3_auth *a, const char *message)
{
    return reject(a, CORE_CLIENT, S3_ERR_AUTHORIZATION_QUERY_PARAMETERS_ERROR, message);
}

/* Stores one query parameter if it is a presigned URL parameter; others are only signed. */
static enum core_err store_presigned_param(const char *piece, size_t len, struct presigned_params *p,
                                           struct s3_auth *out)
{
    const char *eq = memchr(piece, '=', len);
    size_t raw_name_len = eq ? (size_t)(eq - piece) : len;
    char name[32];
    size_t name_len;
    size_t value_len;

    if (s3_uri_decode(piece, raw_name_len, name, sizeof(name), &name_len) != CORE_OK) {
        /* longer than every presigned name, or an invalid escape that canonicalisation rejects later */
        return CORE_OK;
    }
    for (size_t i = 0; i < PRESIGNED_NAME_COUNT; i++) {
        const struct presigned_name *n = &presigned_names[i];
        char *field = (char *)p + n->offset;

        if (!equals(name, name_len, n->name)) {
            continue;
        }
        if (p->seen & (1u << i)) {
            return query_error(out, "A presigned URL parameter appears more than once.");
        }
        p->seen |= 1u << i;
        if (eq == NULL ||
            s3_uri_decode(eq + 1, len - raw_name_len - 1, field, n->cap, &value_len) != CORE_OK ||
            memchr(field, '\0', value_len) != NULL) {
            return query_error(out, "A presigned URL parameter has an invalid or overlong value.");
        }
        return CORE_OK;
    }
    return CORE_OK;
}

static enum core_err read_presigned_params(const struct s3_request *req, struct presigned_params *p,
                                           struct s3_auth *out)
{
    const char *q;
    size_t len;
    size_t start = 0;

    memset(p, 0, sizeof(*p));
    s3_request_query(req, &q, &len);
    for (size_t i = 0; i <= len; i++) {
        if (i < len && q[i] != '&') {
            continue;
        }
        CORE_TRY(store_presigned_param(q + start, i - start, p, out));
        start = i + 1;
    }
    if (p->seen != (1u << PRESIGNED_NAME_COUNT) - 1) {
        return query_error(out, "A presigned URL needs X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, "
                                "X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature.");
    }
    if (strcmp(p->algorithm, S3_SIGV4_ALGORITHM) != 0) {
        return query_error(out, "X-Amz-Algorithm must be AWS4-HMAC-SHA256.");
    }
    return CORE_OK;
}

/* Runs the checks shared with the Authorization header; their malformed-input code becomes the query one. */
static enum core_err check_presigned_fields(const struct s3_request *req, const struct auth_fields *f,
                                            struct s3_auth *out)
{
    enum core_err err = parse_credential(f, out);

    if (err == CORE_OK) {
        err = check_signed_list(f, out);
    }
    if (err == CORE_OK) {
        err = parse_signature(f, out);
    }
    if (err == CORE_OK) {
        err = check_amz_headers_signed(req, f, out);
    }
    if (err == CORE_OK) {
        err = check_signed_present(req, f, out);
    }
    if (out->error == S3_ERR_AUTHORIZATION_HEADER_MALFORMED) {
        out->error = S3_ERR_AUTHORIZATION_QUERY_PARAMETERS_ERROR;
    }
    return err;
}

/*
 * A presigned request signs its body as UNSIGNED-PAYLOAD, unless the client
 * signed an x-amz-content-sha256 header, in which case that value is used.
 */
static enum core_err read_presigned_payload_hash(const struct s3_request *req, const struct auth_fields *f,
                                                 struct s3_auth *out)
{
    static const char name[] = "x-amz-content-sha256";

    if (list_contains(f, name, sizeof(name) - 1)) {
        return read_payload_hash(req, out);
    }
    memcpy(out->payload_hash, "UNSIGNED-PAYLOAD", sizeof("UNSIGNED-PAYLOAD"));
    return CORE_OK;
}

/*
 * A presigned URL is valid from X-Amz-Date until X-Amz-Expires seconds
 * later. Unlike the Authorization header, a past date within the expiry is
 * fine; a date more than the allowed skew in the future is not.
 */
static enum core_err check_presigned_time(const struct presigned_params *p, time_t now, struct s3_auth *out)
{
    size_t expires_len = strlen(p->expires);
    long expires;
    time_t t;

    if (!s3_sigv4_parse_amz_date(p->date, strlen(p->date), &t)) {
        return query_error(out, "X-Amz-Date must be YYYYMMDDTHHMMSSZ.");
    }
    s3_sigv4_amz_date(t, out->request_time);
    if (memcmp(out->scope, out->request_time, 8) != 0) {
        return query_error(out, "The X-Amz-Credential date is not the date of X-Amz-Date.");
    }
    if (expires_len == 0 || expires_len > 6 || !all_digits(p->expires, expires_len)) {
        return query_error(out, "X-Amz-Expires must be a number of seconds from 1 to 604800.");
    }
    expires = strtol(p->expires, NULL, 10);
    if (expires < 1 || expires > S3_SIGV4_PRESIGNED_EXPIRES_MAX) {
        return query_error(out, "X-Amz-Expires must be a number of seconds from 1 to 604800.");
    }
    if (t > now && t - now > S3_SIGV4_MAX_SKEW_SECONDS) {
        return reject(out, CORE_AUTH, S3_ERR_ACCESS_DENIED, "Request is not valid yet.");
    }
    if (now > t && now - t > expires) {
        return reject(out, CORE_AUTH, S3_ERR_ACCESS_DENIED, "Request has expired.");
    }
    return CORE_OK;
}

static enum core_err parse_presigned(const struct s3_request *req, time_t now, struct presigned_params *p,
                                     struct auth_fields *f, struct s3_auth *out)
{
    CORE_TRY(read_presigned_params(req, p, out));
    f->credential = p->credential;
    f->credential_len = strlen(p->credential);
    f->signed_headers = p->signed_headers;
    f->signed_len = strlen(p->signed_headers);
    f->signature = p->signature;
    f->signature_len = strlen(p->signature);

    CORE_TRY(check_presigned_fields(req, f, out));
    CORE_TRY(read_presigned_payload_hash(req, f, out));
    return check_presigned_time(p, now, out);
}

/*
 * S3 accepts one authentication method per request and returns
 * InvalidArgument when the Authorization header and presigned URL
 * parameters come together.
 */
static enum core_err choose_method(const struct s3_request *req, struct s3_auth *out, bool *presigned)
{
    *presigned = query_is_presigned(req);
    if (*presigned && s3_request_find_header(req, "authorization") != NULL) {
        return reject(out, CORE_CLIENT, S3_ERR_INVALID_ARGUMENT,
                      "Only one authentication method is allowed: the Authorization header or presigned "
                      "URL parameters, not both.");
    }
    return CORE_OK;
}

enum core_err s3_sigv4_verify(const struct s3_request *req, s3_credential_lookup_fn lookup, void *arg,
                              time_t now, struct s3_auth *out)
{
    struct auth_fields f;
    struct presigned_params p;
    const struct s3_credential *cred;
    char expected[65];
    bool presigned;
    enum core_err err;

    memset(out, 0, sizeof(*out));
    CORE_TRY(choose_method(req, out, &presigned));
    if (presigned) {
        CORE_TRY(parse_presigned(req, now, &p, &f, out));
    } else {
        CORE_TRY(parse_request(req, &f, now, out));
    }

    cred = lookup(arg, out->access_key_id);
    if (cred == NULL || cred->secret_access_key == NULL) {
        return reject(out, CORE_AUTH, S3_ERR_INVALID_ACCESS_KEY_ID, NULL);
    }

    err = compute_signature(req, &f, presigned, cred, out, expected);
    if (err != CORE_OK) {
        OPENSSL_cleanse(expected, sizeof(expected));
        return out->error != S3_ERR_NONE ? err : reject(out, err, S3_ERR_INTERNAL_ERROR, NULL);
    }
    if (CRYPTO_memcmp(expected, out->signature, 64) != 0) {
        err = reject(out, CORE_AUTH, S3_ERR_SIGNATURE_DOES_NOT_MATCH, NULL);
    }
    OPENSSL_cleanse(expected, sizeof(expected));
    return err;
}

void s3_auth_cleanup(struct s3_auth *a)
{
    if (a == NULL) {
        return;
    }
    free(a->canonical_request);
    a->canonical_request = NULL;
    OPENSSL_cleanse(a->signing_key, sizeof(a->signing_key));
    OPENSSL_cleanse(a->signature, sizeof(a->signature));
}
