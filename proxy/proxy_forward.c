/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds the request s3seal sends to the backend: the client's path and query
 * in canonical form, the client headers that still describe the body being
 * sent, s3seal's envelope metadata, and a fresh SigV4 signature made with the
 * backend credentials. The client's own Authorization never leaves s3seal.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/core_log.h"
#include "proxy/proxy.h"
#include "s3/s3_uri.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define FORWARD_HEADERS_MAX (PROXY_HEADERS_MAX + 16)
#define URI_MAX (3 * 4096 + 16)

/* Headers that S3 stores with an object and returns with it. */
static bool is_object_metadata(const struct s3_header *h)
{
    static const char *const names[] = {"content-type", "cache-control", "content-disposition",
                                        "content-encoding", "content-language", "expires"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (proxy_header_is(h, names[i])) {
            return true;
        }
    }
    return proxy_header_has_prefix(h, "x-amz-meta-");
}

/* Headers that belong to one hop, or that s3seal computes itself. */
static bool is_dropped_header(const struct proxy_request *req, const struct s3_header *h)
{
    static const char *const always[] = {
        "authorization", "host", "connection", "keep-alive", "proxy-connection", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade", "expect", "content-length", "x-amz-date",
        "x-amz-content-sha256", "x-amz-decoded-content-length", "x-amz-trailer", "content-encoding",
    };

    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
        if (proxy_header_is(h, always[i])) {
            return true;
        }
    }
    /* a customer key wraps s3seal's data key; the backend never sees it */
    if (s3_ssec_is_header(h->name, h->name_len)) {
        return true;
    }

    /* s3seal verified these over the plaintext; the backend gets ciphertext, or a buffered body with its own MD5 */
    if (req->body_mode == PROXY_BODY_SEAL || req->body_mode == PROXY_BODY_BUFFER ||
        req->body_mode == PROXY_BODY_PLAIN) {
        if (proxy_header_is(h, "content-md5") || proxy_header_has_prefix(h, "x-amz-checksum-") ||
            proxy_header_is(h, "x-amz-sdk-checksum-algorithm")) {
            return true;
        }
    }

    /* s3seal runs a copy itself: a HEAD of the source, then an upload that copies its parts */
    if ((req->target.op == S3_OP_COPY_OBJECT || req->target.op == S3_OP_UPLOAD_PART_COPY) &&
        (proxy_header_has_prefix(h, "x-amz-copy-source") || proxy_header_is(h, "x-amz-metadata-directive") ||
         proxy_header_is(h, "x-amz-tagging-directive"))) {
        return true;
    }
    /* with COPY, the source's metadata and content headers replace the client's */
    if (req->copy != NULL && !req->copy->replace_metadata && is_object_metadata(h)) {
        return true;
    }

    /* s3seal maps the client's range to ciphertext chunks, or applies it itself on HEAD */
    if (proxy_header_is(h, "range") && (req->target.op == S3_OP_HEAD_OBJECT || req->target.op == S3_OP_GET_OBJECT)) {
        /* only a plaintext object gets the client's range as it was sent */
        return req->target.op == S3_OP_HEAD_OBJECT || req->fetch != PROXY_FETCH_DIRECT;
    }

    /* the backend's checksums describe ciphertext, which the client never sees */
    if (req->target.op == S3_OP_GET_OBJECT || req->target.op == S3_OP_HEAD_OBJECT) {
        if (proxy_header_is(h, "x-amz-checksum-mode")) {
            return true;
        }
    }
    return false;
}

static bool is_signed_header(const struct s3_header *h)
{
    return proxy_header_has_prefix(h, "x-amz-") || proxy_header_is(h, "host") ||
           proxy_header_is(h, "content-type") || proxy_header_is(h, "content-md5");
}

struct header_list {
    struct s3_header items[FORWARD_HEADERS_MAX];
    size_t count;
};

static enum core_err add_header(struct header_list *list, const char *name, const char *value)
{
    if (list->count == FORWARD_HEADERS_MAX) {
        return CORE_TOO_LARGE;
    }
    list->items[list->count].name = name;
    list->items[list->count].name_len = strlen(name);
    list->items[list->count].value = value;
    list->items[list->count].value_len = strlen(value);
    list->count++;
    return CORE_OK;
}

static enum core_err add_envelope(struct header_list *list, const struct crypto_envelope_headers *env)
{
    CORE_TRY(add_header(list, "x-amz-meta-" CRYPTO_META_VERSION, env->version));
    CORE_TRY(add_header(list, "x-amz-meta-" CRYPTO_META_KMS, env->kms));
    CORE_TRY(add_header(list, "x-amz-meta-" CRYPTO_META_DEK, env->dek));
    CORE_TRY(add_header(list, "x-amz-meta-" CRYPTO_META_COMMITMENT, env->commitment));
    if (env->multipart[0] != '\0') {
        CORE_TRY(add_header(list, "x-amz-meta-" CRYPTO_META_MULTIPART, env->multipart));
    } else {
        CORE_TRY(add_header(list, "x-amz-meta-" CRYPTO_META_LENGTH, env->length));
    }
    CORE_TRY(add_header(list, "x-amz-meta-" CRYPTO_META_MAC, env->mac));
    return CORE_OK;
}

struct upstream_target {
    char path[URI_MAX];
    char query[URI_MAX];
    size_t path_len;
    size_t query_len;
};

static uint64_t upstream_body_length(const struct proxy_request *req)
{
    switch (req->step) {
    case PROXY_STEP_CREATE:
    case PROXY_STEP_ABORT:
    case PROXY_STEP_CHECK_PARTS:
    case PROXY_STEP_COPY_HEAD:
    case PROXY_STEP_PART_COPY:
        return 0;
    case PROXY_STEP_PART:
        return crypto_size_encrypted(req->plain_expected);
    case PROXY_STEP_COMPLETE:
        return evbuffer_get_length(req->step_body);
    default:
        break;
    }
    switch (req->body_mode) {
    case PROXY_BODY_SEAL:
        return crypto_size_encrypted(req->plain_expected);
    case PROXY_BODY_PLAIN:
        return req->plain_expected;
    case PROXY_BODY_BUFFER:
        return req->plain_received;
    default:
        return 0;
    }
}

/*
 * Copies Content-Encoding without the aws-chunked coding, which describes
 * only how the client framed this request. Returns false when nothing is
 * left to send.
 */
static bool clean_content_encoding(const struct proxy_request *req, char *out, size_t cap)
{
    const struct s3_header *h = proxy_head_find(&req->head, "content-encoding");
    size_t used = 0;
    size_t pos = 0;

    if (h == NULL) {
        return false;
    }
    while (pos < h->value_len) {
        size_t end = pos;
        size_t start;
        size_t stop;

        while (end < h->value_len && h->value[end] != ',') {
            end++;
        }
        start = pos;
        stop = end;
        while (start < stop && h->value[start] == ' ') {
            start++;
        }
        while (stop > start && h->value[stop - 1] == ' ') {
            stop--;
        }
        if (stop > start && !(stop - start == 11 && strncasecmp(h->value + start, "aws-chunked", 11) == 0) &&
            used + (stop - start) + 2 < cap) {
            if (used > 0) {
                out[used++] = ',';
            }
            memcpy(out + used, h->value + start, stop - start);
            used += stop - start;
        }
        pos = end + 1;
    }
    out[used] = '\0';
    return used > 0;
}

/* Presigned-URL parameters authenticate the client to s3seal; the backend request is signed anew. */
static bool is_presign_parameter(const char *name, size_t len)
{
    static const char *const names[] = {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

static void drop_presign_parameters(const char *query, size_t len, bool drop_part_number, char *out, size_t cap,
                                    size_t *out_len)
{
    size_t pos = 0;
    size_t used = 0;

    while (pos < len) {
        const char *amp = memchr(query + pos, '&', len - pos);
        size_t end = amp != NULL ? (size_t)(amp - query) : len;
        const char *eq = memchr(query + pos, '=', end - pos);
        size_t name_len = eq != NULL ? (size_t)(eq - (query + pos)) : end - pos;

        bool part_number = name_len == 10 && memcmp(query + pos, "partNumber", 10) == 0;

        if (!is_presign_parameter(query + pos, name_len) && !(drop_part_number && part_number) &&
            used + (end - pos) + 1 < cap) {
            if (used > 0) {
                out[used++] = '&';
            }
            memcpy(out + used, query + pos, end - pos);
            used += end - pos;
        }
        pos = end + 1;
    }
    out[used] = '\0';
    *out_len = used;
}

/* Writes the raw query of a backend request s3seal makes on its own. */
static enum core_err step_query(const struct proxy_request *req, char *out, size_t cap, size_t *len)
{
    char id[URI_MAX];
    size_t id_len = 0;
    int n;

    CORE_TRY(s3_uri_encode(req->backend_upload_id, strlen(req->backend_upload_id), false, id, sizeof(id), &id_len));
    switch (req->step) {
    case PROXY_STEP_CREATE:
        n = snprintf(out, cap, "uploads");
        break;
    case PROXY_STEP_CHECK_PARTS:
        n = snprintf(out, cap, "max-parts=1000&uploadId=%s", id);
        break;
    case PROXY_STEP_COPY_HEAD:
        n = 0;
        out[0] = '\0';
        if (req->copy->source_version[0] != '\0') {
            CORE_TRY(s3_uri_encode(req->copy->source_version, strlen(req->copy->source_version), false, id,
                                   sizeof(id), &id_len));
            n = snprintf(out, cap, "versionId=%s", id);
        }
        break;
    case PROXY_STEP_PART_COPY:
        n = snprintf(out, cap, "partNumber=%" PRIu32 "&uploadId=%s", req->copy->parts_done + 1, id);
        break;
    case PROXY_STEP_PART:
        n = snprintf(out, cap, "partNumber=1&uploadId=%s", id);
        break;
    default:
        n = snprintf(out, cap, "uploadId=%s", id);
        break;
    }
    if (n < 0 || (size_t)n >= cap) {
        return CORE_TOO_LARGE;
    }
    *len = (size_t)n;
    return CORE_OK;
}

const char *proxy_forward_method(const struct proxy_request *req)
{
    switch (req->step) {
    case PROXY_STEP_CREATE:
    case PROXY_STEP_COMPLETE:
        return "POST";
    case PROXY_STEP_PART:
        return "PUT";
    case PROXY_STEP_ABORT:
        return "DELETE";
    case PROXY_STEP_CHECK_PARTS:
        return "GET";
    case PROXY_STEP_COPY_HEAD:
        return "HEAD";
    case PROXY_STEP_PART_COPY:
        return "PUT";
    default:
        /* a chunk header read for a partNumber request is a GET, also for a client's HEAD */
        return req->fetch == PROXY_FETCH_PART_PROBE ? "GET" : req->upstream_method;
    }
}

/* The backend path and query of a CopyObject source, for the HEAD that reads its envelope. */
static enum core_err source_target(const struct proxy_request *req, struct upstream_target *t, char *scratch,
                                   size_t scratch_cap)
{
    const struct proxy_copy *copy = req->copy;
    size_t bucket_len = 0;
    size_t key_len = 0;
    size_t query_len = 0;

    t->path[0] = '/';
    CORE_TRY(s3_uri_encode(copy->source_bucket, strlen(copy->source_bucket), false, t->path + 1,
                           sizeof(t->path) - 2, &bucket_len));
    t->path[1 + bucket_len] = '/';
    CORE_TRY(s3_uri_encode(copy->source_key, copy->source_key_len, true, t->path + 2 + bucket_len,
                           sizeof(t->path) - 2 - bucket_len, &key_len));
    t->path_len = 2 + bucket_len + key_len;
    CORE_TRY(step_query(req, scratch, scratch_cap, &query_len));
    t->query[0] = '\0';
    t->query_len = 0;
    if (query_len > 0) {
        CORE_TRY(s3_uri_canonical_query(scratch, query_len, false, t->query, sizeof(t->query), &t->query_len));
    }
    return CORE_OK;
}

/*
 * Builds the backend path and query. The backend is always addressed
 * path-style, so a virtual-hosted request gets its bucket put in front.
 */
static enum core_err canonical_target(const struct proxy_request *req, struct upstream_target *t)
{
    static __thread char filtered[URI_MAX];
    const char *target = req->s3.target;
    size_t len = req->s3.target_len;
    const char *question = memchr(target, '?', len);
    size_t path_len = question ? (size_t)(question - target) : len;
    size_t query_len = question ? len - path_len - 1 : 0;
    size_t prefix = 0;
    size_t filtered_len = 0;

    if (req->step == PROXY_STEP_COPY_HEAD) {
        return source_target(req, t, filtered, sizeof(filtered));
    }
    if (req->target.addressing == S3_ADDRESSING_VIRTUAL_HOST && req->target.bucket != NULL) {
        t->path[0] = '/';
        CORE_TRY(s3_uri_encode(req->target.bucket, strlen(req->target.bucket), false, t->path + 1,
                               sizeof(t->path) - 1, &prefix));
        prefix++;
        if (path_len == 1 && target[0] == '/') {
            path_len = 0; /* "/" on a bucket host is the bucket itself */
        }
    }
    if (path_len > 0) {
        CORE_TRY(s3_uri_canonical_path(target, path_len, t->path + prefix, sizeof(t->path) - prefix, &t->path_len));
    } else {
        t->path_len = 0;
        t->path[prefix] = '\0';
    }
    t->path_len += prefix;

    t->query[0] = '\0';
    t->query_len = 0;
    if (req->step != PROXY_STEP_DIRECT) {
        CORE_TRY(step_query(req, filtered, sizeof(filtered), &filtered_len));
    } else if (question != NULL) {
        /* s3seal serves a part of an encrypted object itself; only a plaintext object's goes through */
        bool drop_part_number = req->part_request != 0 &&
                                (req->target.op == S3_OP_HEAD_OBJECT || req->fetch != PROXY_FETCH_DIRECT);

        drop_presign_parameters(question + 1, query_len, drop_part_number, filtered, sizeof(filtered),
                                &filtered_len);
        if (req->backend_upload_id[0] != '\0') {
            static __thread char replaced[URI_MAX];

            CORE_TRY(s3_query_replace(filtered, filtered_len, "uploadId", req->backend_upload_id, replaced,
                                      sizeof(replaced), &filtered_len));
            memcpy(filtered, replaced, filtered_len + 1);
        }
    }
    if (filtered_len > 0) {
        CORE_TRY(s3_uri_canonical_query(filtered, filtered_len, false, t->query, sizeof(t->query), &t->query_len));
    }
    return CORE_OK;
}

/*
 * Writes the Range that fetches the chunks covering the client's range. A
 * suffix of n plaintext bytes lies in at most ceil(n / 65536) + 1 chunks, so
 * that many chunks from the end always cover it.
 */
static void format_chunk_range(const struct s3_range *range, char *out, size_t cap)
{
    uint64_t chunk = 0;
    uint64_t cipher_first = 0;
    uint64_t cipher_last = 0;

    switch (range->kind) {
    case S3_RANGE_FROM_TO:
        crypto_range_map(range->first, range->last, &chunk, &cipher_first, &cipher_last);
        snprintf(out, cap, "bytes=%" PRIu64 "-%" PRIu64, cipher_first, cipher_last);
        break;
    case S3_RANGE_FROM:
        crypto_range_map(range->first, range->first, &chunk, &cipher_first, &cipher_last);
        snprintf(out, cap, "bytes=%" PRIu64 "-", cipher_first);
        break;
    default: {
        uint64_t chunks = range->suffix / CRYPTO_CHUNK_PLAIN_MAX + 2;
        uint64_t limit = UINT64_MAX / 2 / CRYPTO_CHUNK_CIPHER_MAX;

        snprintf(out, cap, "bytes=-%" PRIu64, (chunks < limit ? chunks : limit) * CRYPTO_CHUNK_CIPHER_MAX);
        break;
    }
    }
}

static void write_head(struct evbuffer *out, const struct proxy_request *req, const struct upstream_target *t,
                       const struct header_list *list, const char *authorization)
{
    evbuffer_add_printf(out, "%s %.*s%s%.*s HTTP/1.1\r\n", proxy_forward_method(req), (int)t->path_len, t->path,
                        t->query_len ? "?" : "", (int)t->query_len, t->query);
    for (size_t i = 0; i < list->count; i++) {
        evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)list->items[i].name_len, list->items[i].name,
                            (int)list->items[i].value_len, list->items[i].value);
    }
    evbuffer_add_printf(out, "Authorization: %s\r\n\r\n", authorization);
}

static enum core_err sign(const struct proxy_request *req, const struct upstream_target *t,
                          const struct header_list *list, const char *amz_date, const char *payload_hash,
                          char *authorization, size_t cap)
{
    const struct proxy_config *cfg = req->cfg;
    struct header_list signed_list = {.count = 0};
    struct s3_sign_params p = {
        .method = proxy_forward_method(req),
        .canonical_uri = t->path,
        .canonical_query = t->query,
        .payload_hash = payload_hash,
        .region = cfg->backend_region,
        .service = "s3",
        .access_key_id = cfg->backend_access_key_id,
        .secret_access_key = cfg->backend_secret_access_key,
        .amz_date = amz_date,
    };

    for (size_t i = 0; i < list->count; i++) {
        if (is_signed_header(&list->items[i])) {
            signed_list.items[signed_list.count++] = list->items[i];
        }
    }
    p.headers = signed_list.items;
    p.header_count = signed_list.count;
    return s3_sigv4_sign(&p, authorization, cap);
}

/* Copies the source object's metadata and content headers, from its HEAD, for COPY. */
static enum core_err add_source_metadata(const struct proxy_request *req, struct header_list *list)
{
    const struct proxy_head *head = &req->copy->source_head;

    for (size_t i = 0; i < head->count; i++) {
        const struct s3_header *h = &head->views[i];

        if (is_object_metadata(h) && !proxy_header_has_prefix(h, "x-amz-meta-" CRYPTO_META_PREFIX)) {
            CORE_TRY(add_header(list, "", ""));
            list->items[list->count - 1] = *h;
        }
    }
    return CORE_OK;
}

/* Conditions on the copy source, as a HEAD of the source or on each part copied. */
static enum core_err add_copy_headers(const struct proxy_request *req, struct header_list *list, char *range,
                                      size_t range_cap)
{
    static const char *const conditions[][2] = {
        {"x-amz-copy-source-if-match", "if-match"},
        {"x-amz-copy-source-if-none-match", "if-none-match"},
        {"x-amz-copy-source-if-modified-since", "if-modified-since"},
        {"x-amz-copy-source-if-unmodified-since", "if-unmodified-since"},
    };
    const struct proxy_copy *copy = req->copy;

    if (req->step == PROXY_STEP_COPY_HEAD) {
        for (size_t i = 0; i < sizeof(conditions) / sizeof(conditions[0]); i++) {
            const struct s3_header *h = proxy_head_find(&req->head, conditions[i][0]);

            if (h != NULL) {
                CORE_TRY(add_header(list, conditions[i][1], ""));
                list->items[list->count - 1].value = h->value;
                list->items[list->count - 1].value_len = h->value_len;
            }
        }
        return CORE_OK;
    }

    /* every part must come from the version whose data key was wrapped again */
    CORE_TRY(add_header(list, "x-amz-copy-source", copy->copy_source));
    CORE_TRY(add_header(list, "x-amz-copy-source-if-match", copy->source_etag));
    if (copy->part_count > 1) {
        uint64_t first = (uint64_t)copy->parts_done * PROXY_COPY_PART_MAX;
        uint64_t last = first + PROXY_COPY_PART_MAX - 1;

        if (last >= copy->stored_size) {
            last = copy->stored_size - 1;
        }
        snprintf(range, range_cap, "bytes=%" PRIu64 "-%" PRIu64, first, last);
        CORE_TRY(add_header(list, "x-amz-copy-source-range", range));
    }
    return CORE_OK;
}

/*
 * Opens the GET of a copy source that s3seal reads itself, on a connection
 * of its own next to the destination request: for an encrypted source the
 * chunks that cover the range, otherwise the range itself. If-Match pins the
 * version whose envelope the HEAD read.
 */
enum core_err proxy_forward_source(struct proxy_request *req)
{
    const struct proxy_config *cfg = req->cfg;
    const struct proxy_copy *copy = req->copy;
    static __thread struct upstream_target t;
    static __thread char scratch[URI_MAX];
    struct header_list list = {.count = 0};
    enum proxy_step step = req->step;
    char amz_date[17];
    char range[64];
    char authorization[1024];
    uint64_t chunk = 0;
    uint64_t first = copy->source_first;
    uint64_t last = copy->source_last;
    enum core_err err;

    if (copy->source_encrypted) {
        crypto_range_map(copy->source_first, copy->source_last, &chunk, &first, &last);
    }
    snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, first, last);
    s3_sigv4_amz_date(time(NULL), amz_date);

    /* the source's path and versionId are built like the HEAD that read its envelope */
    req->step = PROXY_STEP_COPY_HEAD;
    err = source_target(req, &t, scratch, sizeof(scratch));
    req->step = step;
    CORE_TRY(err);

    CORE_TRY(add_header(&list, "host", cfg->backend_host_header));
    CORE_TRY(add_header(&list, "x-amz-date", amz_date));
    CORE_TRY(add_header(&list, "x-amz-content-sha256", EMPTY_SHA256));
    CORE_TRY(add_header(&list, "range", range));
    CORE_TRY(add_header(&list, "if-match", copy->source_etag));
    {
        const struct s3_sign_params p = {
            .method = "GET",
            .canonical_uri = t.path,
            .canonical_query = t.query,
            .headers = list.items,
            .header_count = list.count,
            .payload_hash = EMPTY_SHA256,
            .region = cfg->backend_region,
            .service = "s3",
            .access_key_id = cfg->backend_access_key_id,
            .secret_access_key = cfg->backend_secret_access_key,
            .amz_date = amz_date,
        };

        CORE_TRY(s3_sigv4_sign(&p, authorization, sizeof(authorization)));
    }

    CORE_TRY(proxy_upstream_acquire(req->conn->worker, req, &req->source_up));
    req->source_up->is_source = true;
    req->source_up->sent_head = false;
    evbuffer_add_printf(proxy_upstream_output(req->source_up), "GET %.*s%s%.*s HTTP/1.1\r\n", (int)t.path_len,
                        t.path, t.query_len ? "?" : "", (int)t.query_len, t.query);
    for (size_t i = 0; i < list.count; i++) {
        evbuffer_add_printf(proxy_upstream_output(req->source_up), "%.*s: %.*s\r\n", (int)list.items[i].name_len,
                            list.items[i].name, (int)list.items[i].value_len, list.items[i].value);
    }
    evbuffer_add_printf(proxy_upstream_output(req->source_up), "Authorization: %s\r\n\r\n", authorization);
    return CORE_OK;
}

/*
 * Sends the request to the backend again after s3seal learned more about the
 * object: that it is plaintext, or its size after a 416. Bounded, because a
 * backend that keeps changing the object must not keep a request alive.
 */
void proxy_forward_retry(struct proxy_request *req)
{
    if (req->step != PROXY_STEP_DIRECT || req->next_step != PROXY_STEP_DIRECT) {
        proxy_upload_next(req);
        return;
    }
    req->retry_pending = false;
    req->response_mode = PROXY_RESPONSE_PASS;
    /* the chunk headers read to find a part have their own bound, PROXY_PART_PROBES_MAX */
    if (req->fetch != PROXY_FETCH_PART_PROBE) {
        req->fetch_attempts++;
    }
    req->upstream_method = req->fetch == PROXY_FETCH_PROBE ? "HEAD" : req->method;
    if (req->fetch_attempts > 3) {
        proxy_conn_send_error(req, S3_ERR_SERVICE_UNAVAILABLE, "the object changed while it was read", NULL, 0);
        return;
    }
    if (proxy_forward_start(req) != CORE_OK) {
        proxy_conn_send_error(req, S3_ERR_SERVICE_UNAVAILABLE, "cannot reach the backend", NULL, 0);
    }
}

/*
 * Builds, signs and queues the request head for the backend, then leaves
 * the body to proxy_body.c. Returns CORE_UPSTREAM when no backend connection
 * can be opened.
 */
enum core_err proxy_forward_start(struct proxy_request *req)
{
    const struct proxy_config *cfg = req->cfg;
    static __thread struct upstream_target t;
    struct header_list list = {.count = 0};
    char amz_date[17];
    char length[24];
    char authorization[1024];
    char range[64];
    char encoding[256];
    char copy_range[64];
    uint64_t body_length = upstream_body_length(req);
    const char *payload_hash = body_length > 0 ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256;

    CORE_TRY(canonical_target(req, &t));
    s3_sigv4_amz_date(time(NULL), amz_date);
    snprintf(length, sizeof(length), "%" PRIu64, body_length);

    CORE_TRY(add_header(&list, "host", cfg->backend_host_header));
    CORE_TRY(add_header(&list, "x-amz-date", amz_date));
    CORE_TRY(add_header(&list, "x-amz-content-sha256", payload_hash));
    /* a PUT or POST without a body still states its length; Ceph RGW refuses it otherwise */
    if (body_length > 0 || req->body_mode == PROXY_BODY_SEAL || strcmp(proxy_forward_method(req), "PUT") == 0 ||
        strcmp(proxy_forward_method(req), "POST") == 0) {
        CORE_TRY(add_header(&list, "content-length", length));
    }
    if (req->step == PROXY_STEP_COMPLETE) {
        CORE_TRY(add_header(&list, "content-type", "application/xml"));
    }

    if (req->step == PROXY_STEP_COPY_HEAD || req->step == PROXY_STEP_PART_COPY) {
        CORE_TRY(add_copy_headers(req, &list, copy_range, sizeof(copy_range)));
    }
    if (req->step == PROXY_STEP_CREATE && req->copy != NULL && !req->copy->replace_metadata) {
        CORE_TRY(add_source_metadata(req, &list));
    }

    /* the object's own headers go with the request that creates it; the other steps need none */
    if (req->step == PROXY_STEP_DIRECT || req->step == PROXY_STEP_CREATE) {
        for (size_t i = 0; i < req->head.count; i++) {
            if (!is_dropped_header(req, &req->head.views[i])) {
                CORE_TRY(add_header(&list, "", ""));
                list.items[list.count - 1] = req->head.views[i];
            }
        }
        if (req->envelope != NULL) {
            CORE_TRY(add_envelope(&list, req->envelope));
        }
        if (req->multipart_envelope != NULL) {
            CORE_TRY(add_envelope(&list, req->multipart_envelope));
        }
        if (clean_content_encoding(req, encoding, sizeof(encoding))) {
            CORE_TRY(add_header(&list, "content-encoding", encoding));
        }
    }
    if (req->body_mode == PROXY_BODY_BUFFER && req->computed_md5[0] != '\0') {
        CORE_TRY(add_header(&list, "content-md5", req->computed_md5));
    }
    if (req->fetch == PROXY_FETCH_CHUNKS) {
        format_chunk_range(&req->range, range, sizeof(range));
        CORE_TRY(add_header(&list, "range", range));
    }
    if (req->fetch == PROXY_FETCH_PART_PROBE) {
        uint64_t offset = req->part.probe * CRYPTO_CHUNK_CIPHER_MAX;

        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, offset, offset + CRYPTO_CHUNK_HEADER_LEN - 1);
        CORE_TRY(add_header(&list, "range", range));
    }
    CORE_TRY(sign(req, &t, &list, amz_date, payload_hash, authorization, sizeof(authorization)));

    CORE_TRY(proxy_upstream_acquire(req->conn->worker, req, &req->up));
    write_head(proxy_upstream_output(req->up), req, &t, &list, authorization);
    /* the fetch mode may change while the response arrives, so the method of this request is kept here */
    req->up->sent_head = strcmp(proxy_forward_method(req), "HEAD") == 0;
    req->up->replayable = body_length == 0 && req->step != PROXY_STEP_COMPLETE;
    req->upstream_sent_all = body_length == 0;
    if (req->step == PROXY_STEP_COMPLETE) {
        evbuffer_add_buffer(proxy_upstream_output(req->up), req->step_body);
        req->upstream_sent_all = true;
    }
    return CORE_OK;
}

/*
 * Sends the final sealed chunk of a body that ended, and verified, before
 * its backend request was open: an empty object, whose body is complete
 * when its head is.
 */
void proxy_forward_send_held(struct proxy_request *req)
{
    if (req->body_mode != PROXY_BODY_SEAL || !req->body_done || req->body_verified == false) {
        return;
    }
    evbuffer_add(proxy_upstream_output(req->up), req->cipher, req->cipher_held);
    req->cipher_held = 0;
    req->upstream_sent_all = true;
}
