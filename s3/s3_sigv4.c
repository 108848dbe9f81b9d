/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SigV4 canonical request, string to sign, signing key and signature, and
 * signing of backend requests. Verification of client requests is in
 * s3_sigv4_verify.c.
 */
#include "s3/s3_sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto_mac.h"
#include "s3/s3_sigv4_internal.h"

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool name_equals_lower(const struct s3_header *h, const char *lower_name, size_t len)
{
    if (h->name_len != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (lower(h->name[i]) != lower_name[i]) {
            return false;
        }
    }
    return true;
}

/* Appends value with leading and trailing blanks removed and inner runs of blanks as one space. */
static enum core_err append_trimmed(struct s3_buf *b, const char *value, size_t len)
{
    size_t start = 0;
    size_t end = len;

    while (start < end && is_blank(value[start])) {
        start++;
    }
    while (end > start && is_blank(value[end - 1])) {
        end--;
    }
    for (size_t i = start; i < end; i++) {
        if (is_blank(value[i])) {
            if (is_blank(value[i - 1])) {
                continue;
            }
            CORE_TRY(s3_buf_append_char(b, ' '));
            continue;
        }
        CORE_TRY(s3_buf_append_char(b, value[i]));
    }
    return CORE_OK;
}

static enum core_err append_header_line(struct s3_buf *b, const char *name, size_t name_len,
                                        const struct s3_header *headers, size_t count)
{
    bool first = true;

    CORE_TRY(s3_buf_append(b, name, name_len));
    CORE_TRY(s3_buf_append_char(b, ':'));
    for (size_t i = 0; i < count; i++) {
        if (!name_equals_lower(&headers[i], name, name_len)) {
            continue;
        }
        if (!first) {
            CORE_TRY(s3_buf_append_char(b, ','));
        }
        CORE_TRY(append_trimmed(b, headers[i].value, headers[i].value_len));
        first = false;
    }
    return s3_buf_append_char(b, '\n');
}

enum core_err s3_sigv4_append_canonical(struct s3_buf *b, const char *method, const char *uri,
                                        const char *query, const char *signed_headers, size_t signed_len,
                                        const struct s3_header *headers, size_t header_count,
                                        const char *payload_hash)
{
    size_t start = 0;

    CORE_TRY(s3_buf_append_str(b, method));
    CORE_TRY(s3_buf_append_char(b, '\n'));
    CORE_TRY(s3_buf_append_str(b, uri));
    CORE_TRY(s3_buf_append_char(b, '\n'));
    CORE_TRY(s3_buf_append_str(b, query));
    CORE_TRY(s3_buf_append_char(b, '\n'));

    for (size_t i = 0; i <= signed_len; i++) {
        if (i < signed_len && signed_headers[i] != ';') {
            continue;
        }
        CORE_TRY(append_header_line(b, signed_headers + start, i - start, headers, header_count));
        start = i + 1;
    }

    CORE_TRY(s3_buf_append_char(b, '\n'));
    CORE_TRY(s3_buf_append(b, signed_headers, signed_len));
    CORE_TRY(s3_buf_append_char(b, '\n'));
    return s3_buf_append_str(b, payload_hash);
}

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0F];
    }
    out[2 * len] = '\0';
}

static enum core_err hmac_sha256(const void *key, size_t key_len, const char *data, uint8_t out[32])
{
    return crypto_hmac_sha256(key, key_len, data, strlen(data), out);
}

static enum core_err derive_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                                        uint8_t key[32])
{
    char k_secret[4 + S3_SIGV4_SECRET_MAX];
    char date[9];
    uint8_t k_date[32];
    uint8_t k_region[32];
    uint8_t k_service[32];
    size_t secret_len = strlen(secret);
    enum core_err err;

    CORE_ENSURE(secret_len <= S3_SIGV4_SECRET_MAX, CORE_CONFIG);
    memcpy(k_secret, "AWS4", 4);
    memcpy(k_secret + 4, secret, secret_len);
    memcpy(date, date8, 8);
    date[8] = '\0';

    err = hmac_sha256(k_secret, 4 + secret_len, date, k_date);
    if (err == CORE_OK) {
        err = hmac_sha256(k_date, sizeof(k_date), region, k_region);
    }
    if (err == CORE_OK) {
        err = hmac_sha256(k_region, sizeof(k_region), service, k_service);
    }
    if (err == CORE_OK) {
        err = hmac_sha256(k_service, sizeof(k_service), "aws4_request", key);
    }

    OPENSSL_cleanse(k_secret, sizeof(k_secret));
    OPENSSL_cleanse(k_date, sizeof(k_date));
    OPENSSL_cleanse(k_region, sizeof(k_region));
    OPENSSL_cleanse(k_service, sizeof(k_service));
    return err;
}

/*
 * Signing keys this thread derived, for reuse. A key depends only on the
 * secret, the day, the region and the service, so every request of one
 * client on one day shares it, and a proxied request needs two (the
 * client's and the backend's). Deriving one costs four HMAC-SHA256 calls,
 * about 12 µs with OpenSSL 3.0 on the machine of docs/PERFORMANCE.md.
 * Being per thread, the cache takes no lock.
 * NOTE: entries contain a copy of each secret. They stay in the thread's
 * memory until a newer entry replaces them, and thread exit does not wipe them.
 */
#define SIGNING_KEY_CACHE_SLOTS 8

struct signing_key_entry {
    bool used;
    char secret[S3_SIGV4_SECRET_MAX + 1];
    char date8[9];
    char region[64];
    char service[16];
    uint8_t key[32];
};

static _Thread_local struct signing_key_entry signing_keys[SIGNING_KEY_CACHE_SLOTS];
static _Thread_local size_t signing_key_next;

static bool entry_matches(const struct signing_key_entry *e, const char *secret, const char *date8,
                          const char *region, const char *service)
{
    return e->used && strncmp(e->date8, date8, 8) == 0 && strcmp(e->region, region) == 0 &&
           strcmp(e->service, service) == 0 && strcmp(e->secret, secret) == 0;
}

static void remember_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                                 const uint8_t key[32])
{
    struct signing_key_entry *e = &signing_keys[signing_key_next];

    if (strlen(region) >= sizeof(e->region) || strlen(service) >= sizeof(e->service) ||
        strlen(secret) >= sizeof(e->secret)) {
        return; /* too long to cache; such a key is derived each time */
    }
    OPENSSL_cleanse(e, sizeof(*e));
    memcpy(e->secret, secret, strlen(secret) + 1);
    memcpy(e->date8, date8, 8);
    e->date8[8] = '\0';
    memcpy(e->region, region, strlen(region) + 1);
    memcpy(e->service, service, strlen(service) + 1);
    memcpy(e->key, key, 32);
    e->used = true;
    signing_key_next = (signing_key_next + 1) % SIGNING_KEY_CACHE_SLOTS;
}

enum core_err s3_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                                   const char *service, uint8_t key[32])
{
    for (size_t i = 0; i < SIGNING_KEY_CACHE_SLOTS; i++) {
        if (entry_matches(&signing_keys[i], secret, date8, region, service)) {
            memcpy(key, signing_keys[i].key, 32);
            return CORE_OK;
        }
    }
    CORE_TRY(derive_signing_key(secret, date8, region, service, key));
    remember_signing_key(secret, date8, region, service, key);
    return CORE_OK;
}

enum core_err s3_sigv4_signature_hex(const uint8_t key[32], const char *string_to_sign, char out[65])
{
    uint8_t mac[32];

    CORE_TRY(hmac_sha256(key, 32, string_to_sign, mac));
    hex_encode(mac, sizeof(mac), out);
    OPENSSL_cleanse(mac, sizeof(mac));
    return CORE_OK;
}

enum core_err s3_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canonical_request,
                                      size_t canonical_len, char *out, size_t cap)
{
    uint8_t digest[32];
    char digest_hex[65];
    int n;

    CORE_TRY(crypto_sha256(canonical_request, canonical_len, digest));
    hex_encode(digest, sizeof(digest), digest_hex);

    n = snprintf(out, cap, "%s\n%s\n%s\n%s", S3_SIGV4_ALGORITHM, amz_date, scope, digest_hex);
    CORE_ENSURE(n >= 0 && (size_t)n < cap, CORE_TOO_LARGE);
    return CORE_OK;
}

static int compare_names(const struct s3_header *a, const struct s3_header *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;

    for (size_t i = 0; i < n; i++) {
        char ca = lower(a->name[i]);
        char cb = lower(b->name[i]);

        if (ca != cb) {
            return (unsigned char)ca < (unsigned char)cb ? -1 : 1;
        }
    }
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static int compare_header_ptrs(const void *pa, const void *pb)
{
    const struct s3_header *const *a = pa;
    const struct s3_header *const *b = pb;

    return compare_names(*a, *b);
}

/* Appends the sorted, de-duplicated, lower-case names of headers joined with ';'. */
static enum core_err append_signed_headers(struct s3_buf *b, const struct s3_header *headers, size_t count)
{
    enum core_err err = CORE_OK;
    const struct s3_header **sorted = calloc(count ? count : 1, sizeof(*sorted));

    CORE_ENSURE(sorted != NULL, CORE_NOMEM);
    for (size_t i = 0; i < count; i++) {
        sorted[i] = &headers[i];
    }
    qsort(sorted, count, sizeof(*sorted), compare_header_ptrs);

    for (size_t i = 0; i < count && err == CORE_OK; i++) {
        if (i > 0 && compare_names(sorted[i - 1], sorted[i]) == 0) {
            continue;
        }
        if (b->len > 0) {
            err = s3_buf_append_char(b, ';');
        }
        for (size_t j = 0; j < sorted[i]->name_len && err == CORE_OK; j++) {
            err = s3_buf_append_char(b, lower(sorted[i]->name[j]));
        }
    }
    free(sorted);
    return err;
}

static bool has_header(const struct s3_sign_params *p, const char *lower_name)
{
    for (size_t i = 0; i < p->header_count; i++) {
        if (name_equals_lower(&p->headers[i], lower_name, strlen(lower_name))) {
            return true;
        }
    }
    return false;
}

static bool sign_params_valid(const struct s3_sign_params *p)
{
    time_t t;

    if (!p->method || !p->canonical_uri || !p->canonical_query || !p->payload_hash || !p->region ||
        !p->service || !p->access_key_id || !p->secret_access_key || !p->amz_date) {
        return false;
    }
    if (!s3_sigv4_parse_amz_date(p->amz_date, strlen(p->amz_date), &t)) {
        return false;
    }
    for (size_t i = 0; i < p->header_count; i++) {
        if (p->headers[i].name_len == 0) {
            return false;
        }
    }
    return has_header(p, "host") && has_header(p, "x-amz-date") && has_header(p, "x-amz-content-sha256");
}

/* Builds the signed-headers list into names and the canonical request into canonical. */
static enum core_err build_canonical(const struct s3_sign_params *p, struct s3_buf *names,
                                     struct s3_buf *canonical)
{
    CORE_ENSURE(sign_params_valid(p), CORE_INTERNAL);
    CORE_TRY(append_signed_headers(names, p->headers, p->header_count));
    return s3_sigv4_append_canonical(canonical, p->method, p->canonical_uri, p->canonical_query, names->data,
                                     names->len, p->headers, p->header_count, p->payload_hash);
}

enum core_err s3_sigv4_canonical_request(const struct s3_sign_params *p, char **out, size_t *out_len)
{
    struct s3_buf names;
    struct s3_buf canonical;
    enum core_err err;

    *out = NULL;
    *out_len = 0;
    s3_buf_init(&names, S3_SIGV4_CANONICAL_MAX);
    s3_buf_init(&canonical, S3_SIGV4_CANONICAL_MAX);

    err = build_canonical(p, &names, &canonical);
    if (err == CORE_OK) {
        err = s3_buf_take(&canonical, out, out_len);
    }

    s3_buf_cleanup(&canonical);
    s3_buf_cleanup(&names);
    return err;
}

static enum core_err format_scope(const struct s3_sign_params *p, char *scope, size_t cap)
{
    int n = snprintf(scope, cap, "%.8s/%s/%s/aws4_request", p->amz_date, p->region, p->service);

    CORE_ENSURE(n >= 0 && (size_t)n < cap, CORE_TOO_LARGE);
    return CORE_OK;
}

static enum core_err format_authorization(const struct s3_sign_params *p, const char *scope,
                                          const char *signed_headers, const char *signature,
                                          char *authorization, size_t cap)
{
    int n = snprintf(authorization, cap, "%s Credential=%s/%s,SignedHeaders=%s,Signature=%s",
                     S3_SIGV4_ALGORITHM, p->access_key_id, scope, signed_headers, signature);

    CORE_ENSURE(n >= 0 && (size_t)n < cap, CORE_TOO_LARGE);
    return CORE_OK;
}

enum core_err s3_sigv4_sign(const struct s3_sign_params *p, char *authorization, size_t cap)
{
    struct s3_buf names;
    struct s3_buf canonical;
    char scope[160];
    char string_to_sign[320];
    uint8_t key[32];
    char signature[65];
    enum core_err err;

    s3_buf_init(&names, S3_SIGV4_CANONICAL_MAX);
    s3_buf_init(&canonical, S3_SIGV4_CANONICAL_MAX);

    err = build_canonical(p, &names, &canonical);
    if (err != CORE_OK) {
        goto out;
    }
    err = format_scope(p, scope, sizeof(scope));
    if (err != CORE_OK) {
        goto out;
    }
    err = s3_sigv4_string_to_sign(p->amz_date, scope, canonical.data, canonical.len, string_to_sign,
                                  sizeof(string_to_sign));
    if (err != CORE_OK) {
        goto out;
    }
    err = s3_sigv4_signing_key(p->secret_access_key, p->amz_date, p->region, p->service, key);
    if (err != CORE_OK) {
        goto out;
    }
    err = s3_sigv4_signature_hex(key, string_to_sign, signature);
    if (err != CORE_OK) {
        goto out;
    }
    err = format_authorization(p, scope, names.data, signature, authorization, cap);

out:
    OPENSSL_cleanse(key, sizeof(key));
    s3_buf_cleanup(&canonical);
    s3_buf_cleanup(&names);
    return err;
}

/* Writes value as exactly width decimal digits, keeping the low-order ones. */
static void put_digits(char *p, unsigned value, size_t width)
{
    for (size_t i = width; i > 0; i--) {
        p[i - 1] = (char)('0' + value % 10);
        value /= 10;
    }
}

void s3_sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL) {
        /* only for times beyond the range of struct tm, which no valid request carries */
        t = 0;
        gmtime_r(&t, &tm);
    }
    put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
    put_digits(out + 4, (unsigned)(tm.tm_mon + 1), 2);
    put_digits(out + 6, (unsigned)tm.tm_mday, 2);
    out[8] = 'T';
    put_digits(out + 9, (unsigned)tm.tm_hour, 2);
    put_digits(out + 11, (unsigned)tm.tm_min, 2);
    put_digits(out + 13, (unsigned)tm.tm_sec, 2);
    out[15] = 'Z';
    out[16] = '\0';
}

enum core_err s3_http_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    int n;

    CORE_ENSURE(gmtime_r(&t, &tm) != NULL, CORE_INTERNAL);
    n = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", day_names[tm.tm_wday], tm.tm_mday,
                 month_names[tm.tm_mon], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
    CORE_ENSURE(n >= 0 && (size_t)n < cap, CORE_TOO_LARGE);
    return CORE_OK;
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

static int digits_value(const char *s, size_t len)
{
    int v = 0;

    for (size_t i = 0; i < len; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool s3_sigv4_parse_amz_date(const char *s, size_t len, time_t *t)
{
    struct tm tm = {0};
    char again[17];

    if (len != 16 || s[8] != 'T' || s[15] != 'Z' || !all_digits(s, 8) || !all_digits(s + 9, 6)) {
        return false;
    }
    tm.tm_year = digits_value(s, 4) - 1900;
    tm.tm_mon = digits_value(s + 4, 2) - 1;
    tm.tm_mday = digits_value(s + 6, 2);
    tm.tm_hour = digits_value(s + 9, 2);
    tm.tm_min = digits_value(s + 11, 2);
    tm.tm_sec = digits_value(s + 13, 2);
    *t = timegm(&tm);

    /* timegm normalises out-of-range fields, so a date that changes on the round trip was invalid */
    s3_sigv4_amz_date(*t, again);
    return memcmp(again, s, 16) == 0;
}

static int month_index(const char *s)
{
    for (int i = 0; i < 12; i++) {
        if (memcmp(s, month_names[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

bool s3_sigv4_parse_http_date(const char *s, size_t len, time_t *t)
{
    /* "Fri, 24 May 2013 00:00:00 GMT": fixed positions */
    struct tm tm = {0};
    char again[30];

    if (len != 29 || !all_digits(s + 5, 2) || !all_digits(s + 12, 4) || !all_digits(s + 17, 2) ||
        !all_digits(s + 20, 2) || !all_digits(s + 23, 2)) {
        return false;
    }
    tm.tm_mday = digits_value(s + 5, 2);
    tm.tm_mon = month_index(s + 8);
    tm.tm_year = digits_value(s + 12, 4) - 1900;
    tm.tm_hour = digits_value(s + 17, 2);
    tm.tm_min = digits_value(s + 20, 2);
    tm.tm_sec = digits_value(s + 23, 2);
    if (tm.tm_mon < 0) {
        return false;
    }
    *t = timegm(&tm);

    /* the round trip also checks the weekday and every separator */
    if (s3_http_date(*t, again, sizeof(again)) != CORE_OK) {
        return false;
    }
    return memcmp(again, s, 29) == 0;
}
