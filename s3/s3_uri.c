/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Percent-decoding, SigV4 UriEncode and the canonical path and query of the
 * SigV4 canonical request (AWS General Reference, "Create a canonical
 * request for Signature Version 4").
 */
#include "s3/s3_uri.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct query_param {
    const char *name; /* encoded, points into the scratch buffer */
    size_t name_len;
    const char *value; /* encoded, points into the scratch buffer */
    size_t value_len;
};

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int s3_hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

enum core_err s3_uri_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    size_t n = 0;

    *out_len = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];

        if (c == '%') {
            int hi;
            int lo;

            CORE_ENSURE(len - i >= 3, CORE_CLIENT);
            hi = s3_hex_value(in[i + 1]);
            lo = s3_hex_value(in[i + 2]);
            CORE_ENSURE(hi >= 0 && lo >= 0, CORE_CLIENT);
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        CORE_ENSURE(n + 1 < cap, CORE_TOO_LARGE);
        out[n++] = c;
    }
    CORE_ENSURE(cap > 0, CORE_TOO_LARGE);
    out[n] = '\0';
    *out_len = n;
    return CORE_OK;
}

enum core_err s3_uri_encode(const char *in, size_t len, bool keep_slash, char *out, size_t cap,
                            size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    *out_len = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];

        if (is_unreserved(c) || (keep_slash && c == '/')) {
            CORE_ENSURE(n + 1 < cap, CORE_TOO_LARGE);
            out[n++] = (char)c;
            continue;
        }
        CORE_ENSURE(n + 3 < cap, CORE_TOO_LARGE);
        out[n++] = '%';
        out[n++] = hex[c >> 4];
        out[n++] = hex[c & 0x0F];
    }
    CORE_ENSURE(cap > 0, CORE_TOO_LARGE);
    out[n] = '\0';
    *out_len = n;
    return CORE_OK;
}

/* Decodes in and encodes the result into out; tmp must hold len + 1 bytes. */
static enum core_err recode(const char *in, size_t len, bool keep_slash, char *tmp, char *out, size_t cap,
                            size_t *out_len)
{
    size_t decoded_len;

    CORE_TRY(s3_uri_decode(in, len, tmp, len + 1, &decoded_len));
    return s3_uri_encode(tmp, decoded_len, keep_slash, out, cap, out_len);
}

enum core_err s3_uri_canonical_path(const char *raw_path, size_t len, char *out, size_t cap, size_t *out_len)
{
    enum core_err err;
    char *tmp;

    *out_len = 0;
    if (len == 0) {
        CORE_ENSURE(cap >= 2, CORE_TOO_LARGE);
        memcpy(out, "/", 2);
        *out_len = 1;
        return CORE_OK;
    }
    /* origin-form only: absolute-form targets are resolved by proxy/ first */
    CORE_ENSURE(raw_path[0] == '/', CORE_CLIENT);

    tmp = malloc(len + 1);
    CORE_ENSURE(tmp != NULL, CORE_NOMEM);
    err = recode(raw_path, len, true, tmp, out, cap, out_len);
    free(tmp);
    return err;
}

static size_t count_params(const char *q, size_t len)
{
    size_t count = 0;
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || q[i] == '&') {
            count += i > start;
            start = i + 1;
        }
    }
    return count;
}

static int compare_bytes(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

    if (c != 0) {
        return c;
    }
    return (a_len > b_len) - (a_len < b_len);
}

static int compare_params(const void *pa, const void *pb)
{
    const struct query_param *a = pa;
    const struct query_param *b = pb;
    int c = compare_bytes(a->name, a->name_len, b->name, b->name_len);

    return c != 0 ? c : compare_bytes(a->value, a->value_len, b->value, b->value_len);
}

static bool is_signature_param(const char *decoded, size_t len)
{
    static const char name[] = "X-Amz-Signature";

    return len == sizeof(name) - 1 && memcmp(decoded, name, len) == 0;
}

/*
 * Splits the raw query into params and encodes names and values into
 * scratch. scratch must hold 3 * len + 1 bytes and tmp len + 1 bytes.
 */
static enum core_err parse_params(const char *q, size_t len, bool skip_signature, char *tmp, char *scratch,
                                  struct query_param *params, size_t *count)
{
    size_t used = 0;
    size_t n = 0;
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        const char *piece = q + start;
        size_t piece_len = i - start;
        const char *eq;
        size_t name_raw_len;
        size_t decoded_len;
        struct query_param *p = &params[n];

        if (i < len && q[i] != '&') {
            continue;
        }
        start = i + 1;
        if (piece_len == 0) {
            continue;
        }

        eq = memchr(piece, '=', piece_len);
        name_raw_len = eq ? (size_t)(eq - piece) : piece_len;
        CORE_TRY(s3_uri_decode(piece, name_raw_len, tmp, len + 1, &decoded_len));
        if (skip_signature && is_signature_param(tmp, decoded_len)) {
            continue;
        }

        p->name = scratch + used;
        CORE_TRY(s3_uri_encode(tmp, decoded_len, false, scratch + used, 3 * len + 1 - used, &p->name_len));
        used += p->name_len;
        p->value = scratch + used;
        p->value_len = 0;
        if (eq) {
            CORE_TRY(recode(eq + 1, piece_len - name_raw_len - 1, false, tmp, scratch + used,
                            3 * len + 1 - used, &p->value_len));
            used += p->value_len;
        }
        n++;
    }
    *count = n;
    return CORE_OK;
}

static enum core_err put(char *out, size_t cap, size_t *pos, const char *p, size_t n)
{
    CORE_ENSURE(n < cap - *pos, CORE_TOO_LARGE);
    memcpy(out + *pos, p, n);
    *pos += n;
    return CORE_OK;
}

static enum core_err join_params(const struct query_param *params, size_t count, char *out, size_t cap,
                                 size_t *out_len)
{
    size_t pos = 0;

    CORE_ENSURE(cap > 0, CORE_TOO_LARGE);
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            CORE_TRY(put(out, cap, &pos, "&", 1));
        }
        CORE_TRY(put(out, cap, &pos, params[i].name, params[i].name_len));
        CORE_TRY(put(out, cap, &pos, "=", 1));
        CORE_TRY(put(out, cap, &pos, params[i].value, params[i].value_len));
    }
    out[pos] = '\0';
    *out_len = pos;
    return CORE_OK;
}

enum core_err s3_uri_canonical_query(const char *raw_query, size_t len, bool skip_signature, char *out,
                                     size_t cap, size_t *out_len)
{
    enum core_err err = CORE_OK;
    size_t count = count_params(raw_query, len);
    struct query_param *params = NULL;
    char *tmp = NULL;
    char *scratch = NULL;

    *out_len = 0;
    if (count > S3_URI_MAX_QUERY_PARAMS || len > (SIZE_MAX - 1) / 3) {
        return CORE_TOO_LARGE;
    }

    params = calloc(count + 1, sizeof(*params));
    tmp = malloc(len + 1);
    scratch = malloc(3 * len + 1);
    if (params == NULL || tmp == NULL || scratch == NULL) {
        err = CORE_NOMEM;
        goto out;
    }

    err = parse_params(raw_query, len, skip_signature, tmp, scratch, params, &count);
    if (err != CORE_OK) {
        goto out;
    }
    qsort(params, count, sizeof(*params), compare_params);
    err = join_params(params, count, out, cap, out_len);

out:
    free(scratch);
    free(tmp);
    free(params);
    return err;
}
