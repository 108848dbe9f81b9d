/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The aws-chunked decoder: a byte-driven state machine that frames chunks,
 * streams their data to a sink, and checks the chained chunk signatures
 * and the trailer signature of the signed modes.
 */
#include "s3/s3_chunked.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto_mac.h"
#include "s3/s3_sigv4_internal.h"
#include "s3/s3_uri.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CHUNK_SIGNATURE_EXT ";chunk-signature="
#define TRAILER_SIGNATURE "x-amz-trailer-signature"

enum state {
    ST_LINE,    /* reading a chunk size line, or a trailer line once the final chunk was seen */
    ST_DATA,    /* reading chunk data */
    ST_DATA_CR, /* expecting the CR after chunk data */
    ST_DATA_LF, /* expecting the LF after chunk data */
    ST_DONE,    /* the final empty line was read */
    ST_FAILED,
};

struct trailer {
    char name[S3_CHUNKED_TRAILER_NAME_MAX + 1]; /* lower case */
    char value[S3_CHUNKED_TRAILER_VALUE_MAX + 1];
    bool received;
};

struct s3_chunked {
    enum s3_chunked_mode mode;
    enum state state;
    enum core_err err;        /* stored result once state is ST_FAILED */
    enum s3_error_code error; /* S3 error for err, S3_ERR_NONE for sink and OpenSSL failures */

    char line[S3_CHUNKED_LINE_MAX];
    size_t line_len;
    uint64_t remaining; /* data bytes left in the current chunk */
    uint64_t decoded;
    bool final_chunk_seen;

    /* signed modes; wiped at free */
    uint8_t signing_key[32];
    char request_time[17];
    char scope[160];
    char previous_signature[65]; /* seed signature, then the signature of the last verified chunk */
    char chunk_signature[65];    /* signature announced for the current chunk */
    EVP_MD_CTX *chunk_hash;      /* owned; SHA-256 of the current chunk's data */
    EVP_MD_CTX *trailer_hash;    /* owned; SHA-256 of the canonical trailer lines */

    struct trailer trailers[S3_CHUNKED_TRAILERS_MAX];
    size_t trailer_count;
    bool trailer_signature_seen;
};

static bool is_signed(const struct s3_chunked *d)
{
    return d->mode == S3_CHUNKED_SIGNED || d->mode == S3_CHUNKED_SIGNED_TRAILER;
}

static enum core_err fail(struct s3_chunked *d, enum core_err err, enum s3_error_code code)
{
    d->state = ST_FAILED;
    d->err = err;
    d->error = code;
    return err;
}

static enum core_err malformed(struct s3_chunked *d)
{
    return fail(d, CORE_CLIENT, S3_ERR_INVALID_REQUEST);
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

static char to_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
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

enum s3_chunked_mode s3_chunked_mode_from_payload_hash(const char *value)
{
    if (value == NULL) {
        return 0;
    }
    if (strcmp(value, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0) {
        return S3_CHUNKED_SIGNED;
    }
    if (strcmp(value, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0) {
        return S3_CHUNKED_SIGNED_TRAILER;
    }
    if (strcmp(value, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0) {
        return S3_CHUNKED_UNSIGNED_TRAILER;
    }
    return 0;
}

/* Adds one name of x-amz-trailer, lower-cased; false for an empty, overlong, invalid or repeated name. */
static bool declare_trailer(struct s3_chunked *d, const char *name, size_t len)
{
    struct trailer *t;

    trim(&name, &len);
    if (len == 0 || len > S3_CHUNKED_TRAILER_NAME_MAX || d->trailer_count == S3_CHUNKED_TRAILERS_MAX) {
        return false;
    }
    t = &d->trailers[d->trailer_count];
    for (size_t i = 0; i < len; i++) {
        if (!is_token_char(name[i])) {
            return false;
        }
        t->name[i] = to_lower(name[i]);
    }
    t->name[len] = '\0';
    if (strcmp(t->name, TRAILER_SIGNATURE) == 0) {
        return false;
    }
    for (size_t i = 0; i < d->trailer_count; i++) {
        if (strcmp(d->trailers[i].name, t->name) == 0) {
            return false;
        }
    }
    d->trailer_count++;
    return true;
}

static enum core_err parse_declared(struct s3_chunked *d, const char *declared)
{
    size_t len;
    size_t start = 0;
    const char *all;

    if (declared == NULL) {
        return CORE_OK;
    }
    len = strlen(declared);
    all = declared;
    trim(&all, &len);
    if (len == 0) {
        return CORE_OK;
    }
    CORE_ENSURE(d->mode != S3_CHUNKED_SIGNED, CORE_CLIENT);
    for (size_t i = 0; i <= len; i++) {
        if (i < len && all[i] != ',') {
            continue;
        }
        CORE_ENSURE(declare_trailer(d, all + start, i - start), CORE_CLIENT);
        start = i + 1;
    }
    return CORE_OK;
}

static enum core_err copy_auth(struct s3_chunked *d, const struct s3_auth *auth)
{
    CORE_ENSURE(auth != NULL && auth->error == S3_ERR_NONE, CORE_INTERNAL);
    CORE_ENSURE(strlen(auth->signature) == 64 && strlen(auth->request_time) == 16, CORE_INTERNAL);
    CORE_ENSURE(strlen(auth->scope) > 0 && strlen(auth->scope) < sizeof(d->scope), CORE_INTERNAL);

    memcpy(d->signing_key, auth->signing_key, sizeof(d->signing_key));
    memcpy(d->previous_signature, auth->signature, sizeof(d->previous_signature));
    memcpy(d->request_time, auth->request_time, sizeof(d->request_time));
    memcpy(d->scope, auth->scope, strlen(auth->scope) + 1);

    d->chunk_hash = EVP_MD_CTX_new();
    d->trailer_hash = EVP_MD_CTX_new();
    CORE_ENSURE(d->chunk_hash != NULL && d->trailer_hash != NULL, CORE_NOMEM);
    CORE_ENSURE(EVP_DigestInit_ex(d->trailer_hash, crypto_md_sha256(), NULL) == 1, CORE_CRYPTO);
    return CORE_OK;
}

enum core_err s3_chunked_new(enum s3_chunked_mode mode, const struct s3_auth *auth,
                             const char *declared_trailer, struct s3_chunked **out)
{
    enum core_err err = CORE_OK;
    struct s3_chunked *d;

    *out = NULL;
    if (mode != S3_CHUNKED_SIGNED && mode != S3_CHUNKED_SIGNED_TRAILER &&
        mode != S3_CHUNKED_UNSIGNED_TRAILER) {
        return CORE_INTERNAL;
    }
    d = calloc(1, sizeof(*d));
    CORE_ENSURE(d != NULL, CORE_NOMEM);
    d->mode = mode;
    d->state = ST_LINE;

    err = parse_declared(d, declared_trailer);
    if (err == CORE_OK && is_signed(d)) {
        err = copy_auth(d, auth);
    }
    if (err != CORE_OK) {
        goto out;
    }
    *out = d;
    d = NULL;

out:
    s3_chunked_free(d);
    return err;
}

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static enum core_err final_hex(EVP_MD_CTX *ctx, char out[65])
{
    uint8_t digest[32];
    unsigned n = 0;

    CORE_ENSURE(EVP_DigestFinal_ex(ctx, digest, &n) == 1 && n == 32, CORE_CRYPTO);
    hex_encode(digest, 32, out);
    return CORE_OK;
}

/*
 * Checks announced against HMAC-SHA256(signing key, string to sign) where
 * the string to sign is algorithm, request time, scope, previous signature
 * and the given hash lines, each on its own line. On a match announced
 * becomes the previous signature of the next link in the chain.
 */
static enum core_err check_link(struct s3_chunked *d, const char *algorithm, const char *hashes,
                                const char announced[65])
{
    char string_to_sign[512];
    char expected[65];
    int n;
    enum core_err err;

    n = snprintf(string_to_sign, sizeof(string_to_sign), "%s\n%s\n%s\n%s\n%s", algorithm, d->request_time,
                 d->scope, d->previous_signature, hashes);
    if (n < 0 || (size_t)n >= sizeof(string_to_sign)) {
        return fail(d, CORE_INTERNAL, S3_ERR_INTERNAL_ERROR);
    }
    err = s3_sigv4_signature_hex(d->signing_key, string_to_sign, expected);
    if (err != CORE_OK) {
        return fail(d, err, S3_ERR_INTERNAL_ERROR);
    }
    if (CRYPTO_memcmp(expected, announced, 64) != 0) {
        OPENSSL_cleanse(expected, sizeof(expected));
        return fail(d, CORE_AUTH, S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    }
    OPENSSL_cleanse(expected, sizeof(expected));
    memcpy(d->previous_signature, announced, 65);
    return CORE_OK;
}

/* Verifies the signature of the chunk whose data was just hashed; the final chunk hashes no data. */
static enum core_err verify_chunk(struct s3_chunked *d, bool empty)
{
    char hashes[64 + 1 + 64 + 1];
    char data_hash[65];

    if (!is_signed(d)) {
        return CORE_OK;
    }
    if (empty) {
        memcpy(data_hash, EMPTY_SHA256, sizeof(data_hash));
    } else if (final_hex(d->chunk_hash, data_hash) != CORE_OK) {
        return fail(d, CORE_CRYPTO, S3_ERR_INTERNAL_ERROR);
    }
    snprintf(hashes, sizeof(hashes), "%s\n%s", EMPTY_SHA256, data_hash);
    return check_link(d, "AWS4-HMAC-SHA256-PAYLOAD", hashes, d->chunk_signature);
}

static enum core_err verify_trailer_signature(struct s3_chunked *d, const char *value, size_t len)
{
    char announced[65];
    char trailer_hash[65];

    if (d->mode != S3_CHUNKED_SIGNED_TRAILER || d->trailer_signature_seen || len != 64 ||
        !is_lower_hex(value, 64)) {
        return malformed(d);
    }
    memcpy(announced, value, 64);
    announced[64] = '\0';
    d->trailer_signature_seen = true;
    if (final_hex(d->trailer_hash, trailer_hash) != CORE_OK) {
        return fail(d, CORE_CRYPTO, S3_ERR_INTERNAL_ERROR);
    }
    return check_link(d, "AWS4-HMAC-SHA256-TRAILER", trailer_hash, announced);
}

/* Parses the hex size at the start of a size line; *used is the number of hex digits. */
static bool parse_size(const char *s, size_t len, uint64_t *size, size_t *used)
{
    uint64_t v = 0;
    size_t i = 0;

    while (i < len && s3_hex_value(s[i]) >= 0) {
        v = v * 16 + (uint64_t)s3_hex_value(s[i]);
        if (v > S3_CHUNKED_CHUNK_MAX) {
            return false;
        }
        i++;
    }
    *size = v;
    *used = i;
    return i > 0;
}

static enum core_err on_size_line(struct s3_chunked *d, const char *line, size_t len)
{
    const size_t ext_len = sizeof(CHUNK_SIGNATURE_EXT) - 1;
    uint64_t size;
    size_t used;

    if (!parse_size(line, len, &size, &used)) {
        return malformed(d);
    }
    line += used;
    len -= used;
    if (is_signed(d)) {
        if (len != ext_len + 64 || memcmp(line, CHUNK_SIGNATURE_EXT, ext_len) != 0 ||
            !is_lower_hex(line + ext_len, 64)) {
            return malformed(d);
        }
        memcpy(d->chunk_signature, line + ext_len, 64);
        d->chunk_signature[64] = '\0';
    } else if (len != 0) {
        return malformed(d);
    }

    if (size == 0) {
        d->final_chunk_seen = true;
        return verify_chunk(d, true);
    }
    if (is_signed(d) && EVP_DigestInit_ex(d->chunk_hash, crypto_md_sha256(), NULL) != 1) {
        return fail(d, CORE_CRYPTO, S3_ERR_INTERNAL_ERROR);
    }
    d->remaining = size;
    d->state = ST_DATA;
    return CORE_OK;
}

static struct trailer *find_trailer(struct s3_chunked *d, const char *name, size_t len)
{
    for (size_t i = 0; i < d->trailer_count; i++) {
        if (strlen(d->trailers[i].name) == len && memcmp(d->trailers[i].name, name, len) == 0) {
            return &d->trailers[i];
        }
    }
    return NULL;
}

static bool trailers_complete(const struct s3_chunked *d)
{
    for (size_t i = 0; i < d->trailer_count; i++) {
        if (!d->trailers[i].received) {
            return false;
        }
    }
    return d->mode != S3_CHUNKED_SIGNED_TRAILER || d->trailer_signature_seen;
}

/* Stores a declared trailer and adds its canonical form "name:value\n" to the trailer hash. */
static enum core_err store_trailer(struct s3_chunked *d, const char *name, size_t name_len, const char *value,
                                   size_t value_len)
{
    struct trailer *t = find_trailer(d, name, name_len);

    if (t == NULL || t->received || d->trailer_signature_seen || value_len > S3_CHUNKED_TRAILER_VALUE_MAX) {
        return malformed(d);
    }
    for (size_t i = 0; i < value_len; i++) {
        if (value[i] < ' ' || value[i] > '~') {
            return malformed(d);
        }
    }
    memcpy(t->value, value, value_len);
    t->value[value_len] = '\0';
    t->received = true;

    if (d->mode == S3_CHUNKED_SIGNED_TRAILER &&
        (EVP_DigestUpdate(d->trailer_hash, t->name, name_len) != 1 ||
         EVP_DigestUpdate(d->trailer_hash, ":", 1) != 1 ||
         EVP_DigestUpdate(d->trailer_hash, t->value, value_len) != 1 ||
         EVP_DigestUpdate(d->trailer_hash, "\n", 1) != 1)) {
        return fail(d, CORE_CRYPTO, S3_ERR_INTERNAL_ERROR);
    }
    return CORE_OK;
}

static enum core_err on_trailer_line(struct s3_chunked *d, const char *line, size_t len)
{
    char name[S3_CHUNKED_TRAILER_NAME_MAX];
    const char *colon;
    const char *value;
    size_t name_len;
    size_t value_len;

    if (len == 0) {
        if (!trailers_complete(d)) {
            return malformed(d);
        }
        d->state = ST_DONE;
        return CORE_OK;
    }

    colon = memchr(line, ':', len);
    name_len = colon ? (size_t)(colon - line) : 0;
    if (name_len == 0 || name_len > sizeof(name)) {
        return malformed(d);
    }
    for (size_t i = 0; i < name_len; i++) {
        if (!is_token_char(line[i])) {
            return malformed(d);
        }
        name[i] = to_lower(line[i]);
    }
    value = colon + 1;
    value_len = len - name_len - 1;
    trim(&value, &value_len);

    if (name_len == sizeof(TRAILER_SIGNATURE) - 1 && memcmp(name, TRAILER_SIGNATURE, name_len) == 0) {
        return verify_trailer_signature(d, value, value_len);
    }
    return store_trailer(d, name, name_len, value, value_len);
}

/* Collects bytes up to LF; dispatches the line without its CRLF. Returns the bytes consumed. */
static size_t read_line(struct s3_chunked *d, const uint8_t *in, size_t len, enum core_err *err)
{
    const uint8_t *lf = memchr(in, '\n', len);
    size_t take = lf ? (size_t)(lf - in) + 1 : len;

    *err = CORE_OK;
    if (take > sizeof(d->line) - d->line_len) {
        *err = malformed(d);
        return take;
    }
    memcpy(d->line + d->line_len, in, take);
    d->line_len += take;
    if (lf == NULL) {
        return take;
    }

    /* strict CRLF: a bare LF or a CR inside the line is malformed */
    if (d->line_len < 2 || d->line[d->line_len - 2] != '\r' ||
        memchr(d->line, '\r', d->line_len - 2) != NULL) {
        *err = malformed(d);
        return take;
    }
    len = d->line_len - 2;
    d->line_len = 0;
    *err = d->final_chunk_seen ? on_trailer_line(d, d->line, len) : on_size_line(d, d->line, len);
    return take;
}

static size_t read_data(struct s3_chunked *d, const uint8_t *in, size_t len, s3_chunked_sink_fn sink,
                        void *arg, enum core_err *err)
{
    size_t take = len < d->remaining ? len : (size_t)d->remaining;

    *err = CORE_OK;
    if (is_signed(d) && EVP_DigestUpdate(d->chunk_hash, in, take) != 1) {
        *err = fail(d, CORE_CRYPTO, S3_ERR_INTERNAL_ERROR);
        return take;
    }
    *err = sink(arg, in, take);
    if (*err != CORE_OK) {
        fail(d, *err, S3_ERR_NONE);
        return take;
    }
    d->remaining -= take;
    d->decoded += take;
    if (d->remaining == 0) {
        d->state = ST_DATA_CR;
        *err = verify_chunk(d, false);
    }
    return take;
}

static enum core_err expect_byte(struct s3_chunked *d, uint8_t got, char expected, enum state next)
{
    if (got != (uint8_t)expected) {
        return malformed(d);
    }
    d->state = next;
    return CORE_OK;
}

enum core_err s3_chunked_feed(struct s3_chunked *d, const uint8_t *in, size_t len, s3_chunked_sink_fn sink,
                              void *arg)
{
    enum core_err err = CORE_OK;

    while (len > 0 && err == CORE_OK) {
        size_t used = 1;

        switch (d->state) {
        case ST_LINE:
            used = read_line(d, in, len, &err);
            break;
        case ST_DATA:
            used = read_data(d, in, len, sink, arg, &err);
            break;
        case ST_DATA_CR:
            err = expect_byte(d, in[0], '\r', ST_DATA_LF);
            break;
        case ST_DATA_LF:
            err = expect_byte(d, in[0], '\n', ST_LINE);
            break;
        case ST_DONE:
            err = malformed(d);
            break;
        case ST_FAILED:
        default:
            return d->err;
        }
        in += used;
        len -= used;
    }
    return d->state == ST_FAILED ? d->err : err;
}

enum core_err s3_chunked_finish(struct s3_chunked *d)
{
    if (d->state == ST_FAILED) {
        return d->err;
    }
    if (d->state == ST_DONE) {
        return CORE_OK;
    }
    /* a body cut right after a complete last trailer line lacks only the empty line */
    if (d->state == ST_LINE && d->final_chunk_seen && d->line_len == 0 && trailers_complete(d)) {
        d->state = ST_DONE;
        return CORE_OK;
    }
    return fail(d, CORE_CLIENT, S3_ERR_INCOMPLETE_BODY);
}

bool s3_chunked_is_done(const struct s3_chunked *d)
{
    return d->state == ST_DONE;
}

uint64_t s3_chunked_decoded_length(const struct s3_chunked *d)
{
    return d->decoded;
}

enum s3_error_code s3_chunked_error(const struct s3_chunked *d)
{
    return d->error;
}

const char *s3_chunked_trailer_value(const struct s3_chunked *d, const char *lower_name)
{
    for (size_t i = 0; i < d->trailer_count; i++) {
        if (d->trailers[i].received && strcmp(d->trailers[i].name, lower_name) == 0) {
            return d->trailers[i].value;
        }
    }
    return NULL;
}

void s3_chunked_free(struct s3_chunked *d)
{
    if (d == NULL) {
        return;
    }
    EVP_MD_CTX_free(d->chunk_hash);
    EVP_MD_CTX_free(d->trailer_hash);
    OPENSSL_cleanse(d, sizeof(*d));
    free(d);
}
