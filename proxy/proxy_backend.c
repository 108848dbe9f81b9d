/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blocking S3 client for the backend on one libcurl easy handle, which
 * keeps its connection open between requests. Requests are signed with
 * s3/s3_sigv4.h and the backend credentials.
 */
#include "proxy/proxy_backend.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "s3/s3_sigv4.h"
#include "s3/s3_uri.h"

#define SIGNED_HEADERS_MAX 48

struct proxy_backend {
    CURL *curl;                     /* owned */
    const struct proxy_config *cfg; /* borrowed */
};

enum core_err proxy_backend_new(const struct proxy_config *cfg, struct proxy_backend **out)
{
    struct proxy_backend *b = calloc(1, sizeof(*b));

    *out = NULL;
    CORE_ENSURE(b != NULL, CORE_NOMEM);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(b);
        return CORE_INTERNAL;
    }
    b->curl = curl_easy_init();
    if (b->curl == NULL) {
        free(b);
        curl_global_cleanup();
        return CORE_NOMEM;
    }
    b->cfg = cfg;
    *out = b;
    return CORE_OK;
}

void proxy_backend_free(struct proxy_backend *b)
{
    if (b == NULL) {
        return;
    }
    curl_easy_cleanup(b->curl);
    curl_global_cleanup();
    free(b);
}

void proxy_backend_response_cleanup(struct proxy_backend_response *resp)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

const char *proxy_backend_header(const struct proxy_backend_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        if (strcmp(resp->headers[i].name, name) == 0) {
            return resp->headers[i].value;
        }
    }
    return NULL;
}

/* ---- response capture ---- */

struct capture {
    struct proxy_backend_response *resp;
    bool failed_nomem;
    bool too_large;
};

static void drop_headers(struct proxy_backend_response *resp)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    resp->header_count = 0;
}

static bool add_response_header(struct proxy_backend_response *resp, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    const char *value;
    size_t name_len;
    size_t value_len;

    if (colon == NULL) {
        return true; /* the status line or the blank line that ends the head */
    }
    name_len = (size_t)(colon - line);
    value = colon + 1;
    value_len = len - name_len - 1;
    while (value_len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    while (value_len > 0 && isspace((unsigned char)value[value_len - 1])) {
        value_len--;
    }
    if (resp->header_count == resp->header_cap) {
        size_t cap = resp->header_cap ? resp->header_cap * 2 : 32;
        struct proxy_backend_header *grown = realloc(resp->headers, cap * sizeof(*grown));

        if (grown == NULL) {
            return false;
        }
        resp->headers = grown;
        resp->header_cap = cap;
    }
    resp->headers[resp->header_count].name = strndup(line, name_len);
    resp->headers[resp->header_count].value = strndup(value, value_len);
    if (resp->headers[resp->header_count].name == NULL || resp->headers[resp->header_count].value == NULL) {
        free(resp->headers[resp->header_count].name);
        free(resp->headers[resp->header_count].value);
        return false;
    }
    for (char *p = resp->headers[resp->header_count].name; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    resp->header_count++;
    return true;
}

static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
    struct capture *c = arg;
    size_t len = size * count;

    /* a 100 Continue head comes before the final one; keep only the last head */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        drop_headers(c->resp);
    }
    if (!add_response_header(c->resp, data, len)) {
        c->failed_nomem = true;
        return 0;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
    struct capture *c = arg;
    struct proxy_backend_response *resp = c->resp;
    size_t len = size * count;

    if (resp->body_len + len > PROXY_BACKEND_BODY_MAX) {
        c->too_large = true;
        return 0;
    }
    if (resp->body_len + len + 1 > resp->body_cap) {
        size_t cap = resp->body_cap ? resp->body_cap : 16384;
        char *grown;

        while (cap < resp->body_len + len + 1) {
            cap *= 2;
        }
        grown = realloc(resp->body, cap);
        if (grown == NULL) {
            c->failed_nomem = true;
            return 0;
        }
        resp->body = grown;
        resp->body_cap = cap;
    }
    memcpy(resp->body + resp->body_len, data, len);
    resp->body_len += len;
    resp->body[resp->body_len] = '\0';
    return len;
}

/* ---- request ---- */

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char digest[32];
    unsigned int digest_len = 0;

    EVP_Digest(data != NULL ? data : "", len, digest, &digest_len, EVP_sha256(), NULL);
    for (size_t i = 0; i < sizeof(digest); i++) {
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    }
}

/* Builds "/bucket[/key]" encoded as the canonical URI of SigV4, which is also sent as the request path. */
static enum core_err build_path(const struct proxy_backend_request *req, char **out)
{
    size_t bucket_len = strlen(req->bucket);
    size_t key_len = req->key != NULL ? strlen(req->key) : 0;
    size_t cap = 3 * (bucket_len + key_len) + 3;
    char *path = malloc(cap);
    size_t used = 0;
    size_t written = 0;

    CORE_ENSURE(path != NULL, CORE_NOMEM);
    path[used++] = '/';
    if (s3_uri_encode(req->bucket, bucket_len, false, path + used, cap - used, &written) != CORE_OK) {
        free(path);
        return CORE_INTERNAL;
    }
    used += written;
    if (req->key != NULL) {
        path[used++] = '/';
        if (s3_uri_encode(req->key, key_len, true, path + used, cap - used, &written) != CORE_OK) {
            free(path);
            return CORE_INTERNAL;
        }
        used += written;
    }
    path[used] = '\0';
    *out = path;
    return CORE_OK;
}

/* Signs the request; fills headers with host, x-amz-date, x-amz-content-sha256 and req's headers. */
static enum core_err sign_request(const struct proxy_backend *b, const struct proxy_backend_request *req,
                                  const char *path, const char *query, const char *amz_date,
                                  const char *payload_hash, char *authorization, size_t cap)
{
    const struct proxy_config *cfg = b->cfg;
    struct s3_header headers[SIGNED_HEADERS_MAX];
    size_t count = 0;

    CORE_ENSURE(req->header_count + 3 <= SIGNED_HEADERS_MAX, CORE_TOO_LARGE);
    headers[count++] = (struct s3_header){"host", 4, cfg->backend_host_header, strlen(cfg->backend_host_header)};
    headers[count++] = (struct s3_header){"x-amz-date", 10, amz_date, strlen(amz_date)};
    headers[count++] = (struct s3_header){"x-amz-content-sha256", 20, payload_hash, strlen(payload_hash)};
    for (size_t i = 0; i < req->header_count; i++) {
        headers[count++] = req->headers[i];
    }

    const struct s3_sign_params p = {
        .method = req->method,
        .canonical_uri = path,
        .canonical_query = query,
        .headers = headers,
        .header_count = count,
        .payload_hash = payload_hash,
        .region = cfg->backend_region,
        .service = "s3",
        .access_key_id = cfg->backend_access_key_id,
        .secret_access_key = cfg->backend_secret_access_key,
        .amz_date = amz_date,
    };
    return s3_sigv4_sign(&p, authorization, cap);
}

/* Appends "Name: value" to list; returns false when out of memory. */
static bool append_header(struct curl_slist **list, const char *name, size_t name_len, const char *value,
                          size_t value_len)
{
    char *line = NULL;
    struct curl_slist *grown;

    /* "Name;" is libcurl's way to send a header with an empty value */
    if (asprintf(&line, value_len > 0 ? "%.*s: %.*s" : "%.*s;%.*s", (int)name_len, name, (int)value_len, value) <
        0) {
        return false;
    }
    grown = curl_slist_append(*list, line);
    free(line);
    if (grown == NULL) {
        return false;
    }
    *list = grown;
    return true;
}

static bool has_header(const struct proxy_backend_request *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++) {
        if (req->headers[i].name_len == strlen(name) && strncasecmp(req->headers[i].name, name, strlen(name)) == 0) {
            return true;
        }
    }
    return false;
}

static enum core_err build_header_list(const struct proxy_backend_request *req, const char *amz_date,
                                       const char *payload_hash, const char *authorization,
                                       struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    bool ok = append_header(&list, "x-amz-date", 10, amz_date, strlen(amz_date)) &&
              append_header(&list, "x-amz-content-sha256", 20, payload_hash, strlen(payload_hash)) &&
              append_header(&list, "Authorization", 13, authorization, strlen(authorization)) &&
              /* libcurl would add Expect: 100-continue to a POST body, and a form Content-Type */
              (curl_slist_append(list, "Expect:") != NULL);

    if (ok && !has_header(req, "content-type")) {
        ok = curl_slist_append(list, "Content-Type:") != NULL;
    }
    for (size_t i = 0; ok && i < req->header_count; i++) {
        ok = append_header(&list, req->headers[i].name, req->headers[i].name_len, req->headers[i].value,
                           req->headers[i].value_len);
    }
    if (!ok) {
        curl_slist_free_all(list);
        return CORE_NOMEM;
    }
    *out = list;
    return CORE_OK;
}

static void set_method(CURL *curl, const struct proxy_backend_request *req)
{
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        return;
    }
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        return;
    }
    /* PUT, POST and DELETE send their body, if any, from memory with a Content-Length */
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
}

/* Applies the backend TLS settings the event-loop connections use (proxy_upstream_tls.c); TLS 1.2 or newer. */
static void set_tls(CURL *curl, const struct proxy_config *cfg)
{
    if (!cfg->backend_tls) {
        return;
    }
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (cfg->backend_tls_insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        return;
    }
    if (cfg->backend_ca_file != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->backend_ca_file);
    }
}

static enum core_err perform(struct proxy_backend *b, const struct proxy_backend_request *req, const char *url,
                             struct curl_slist *headers, struct proxy_backend_response *resp)
{
    CURL *curl = b->curl;
    struct capture capture = {.resp = resp};
    char detail[CURL_ERROR_SIZE] = "";
    CURLcode rc;

    curl_easy_reset(curl);
    /* names the cause, such as the certificate verification error, where curl_easy_strerror gives only the class */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, b->cfg->backend_tls ? "https" : "http");
    set_tls(curl, b->cfg);
    /* the backend URL is the only host ever contacted: no proxy from the environment, no redirects */
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)b->cfg->backend_timeout_s);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout_s);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &capture);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &capture);
    set_method(curl, req);

    rc = curl_easy_perform(curl);
    if (capture.failed_nomem) {
        snprintf(resp->error, sizeof(resp->error), "out of memory while reading the response");
        return CORE_NOMEM;
    }
    if (capture.too_large) {
        snprintf(resp->error, sizeof(resp->error), "response body larger than %d bytes", PROXY_BACKEND_BODY_MAX);
        return CORE_TOO_LARGE;
    }
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s %s failed: %s", req->method, url,
                 detail[0] != '\0' ? detail : curl_easy_strerror(rc));
        return CORE_UPSTREAM;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    return CORE_OK;
}

enum core_err proxy_backend_send(struct proxy_backend *b, const struct proxy_backend_request *req,
                                 struct proxy_backend_response *resp)
{
    enum core_err err;
    char *path = NULL;
    char *url = NULL;
    char query[8192] = "";
    size_t query_len = 0;
    char amz_date[17];
    char payload_hash[65];
    char authorization[1024];
    struct curl_slist *headers = NULL;

    memset(resp, 0, sizeof(*resp));
    err = build_path(req, &path);
    if (err == CORE_OK && req->query != NULL && req->query[0] != '\0') {
        err = s3_uri_canonical_query(req->query, strlen(req->query), false, query, sizeof(query), &query_len);
    }
    if (err != CORE_OK) {
        snprintf(resp->error, sizeof(resp->error), "cannot build the request path or query: %s",
                 core_err_str(err));
        goto out;
    }

    s3_sigv4_amz_date(time(NULL), amz_date);
    sha256_hex(req->body, req->body_len, payload_hash);
    err = sign_request(b, req, path, query, amz_date, payload_hash, authorization, sizeof(authorization));
    if (err == CORE_OK) {
        err = build_header_list(req, amz_date, payload_hash, authorization, &headers);
    }
    if (err == CORE_OK && asprintf(&url, "%s://%s%s%s%s", b->cfg->backend_tls ? "https" : "http",
                                   b->cfg->backend_host_header, path,
                                   query_len > 0 ? "?" : "", query) < 0) {
        url = NULL;
        err = CORE_NOMEM;
    }
    if (err != CORE_OK) {
        snprintf(resp->error, sizeof(resp->error), "cannot sign the request: %s", core_err_str(err));
        goto out;
    }
    err = perform(b, req, url, headers, resp);

out:
    curl_slist_free_all(headers);
    OPENSSL_cleanse(authorization, sizeof(authorization));
    free(url);
    free(path);
    return err;
}
