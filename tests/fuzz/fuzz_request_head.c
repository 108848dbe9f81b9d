/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for a message head as s3seal reads it: llhttp feeds the
 * head storage of proxy_head.c (proxy_head_on_url, _on_field, _on_value,
 * _finish and its size and count limits). A request head then goes through
 * S3 classification (s3_op_classify_host and s3_op_classify), which decodes
 * the bucket and key, and through the query parameter lookups of proxy/.
 * An input that starts with "HTTP/" is parsed as a backend response head
 * instead, and its Content-Range is read as proxy_part.c reads it. The input
 * is fed to llhttp in pieces whose sizes come from its first byte, so names
 * and values also arrive split across callbacks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"
#include "s3/s3_multipart.h"
#include "s3/s3_op.h"

/* Parser state shared by the callbacks of one run; lives on the stack of LLVMFuzzerTestOneInput. */
struct head_run {
    struct proxy_head head;
    size_t fields; /* header names llhttp completed, counted apart from the head storage */
    bool complete;
};

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct head_run *run = p->data;

    return proxy_head_on_url(&run->head, at, len);
}

static int on_field(llhttp_t *p, const char *at, size_t len)
{
    struct head_run *run = p->data;

    return proxy_head_on_field(&run->head, at, len);
}

static int on_field_complete(llhttp_t *p)
{
    struct head_run *run = p->data;

    run->fields++;
    return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t len)
{
    struct head_run *run = p->data;

    return proxy_head_on_value(&run->head, at, len);
}

static int on_headers_complete(llhttp_t *p)
{
    struct head_run *run = p->data;

    run->complete = true;
    return HPE_PAUSED;
}

/* Checks that every view of a finished head lies inside its storage and that views do not overlap. */
static void check_views(const struct proxy_head *h)
{
    size_t used = h->url_len;

    if (h->url_off + h->url_len > h->len) {
        abort();
    }
    for (size_t i = 0; i < h->count; i++) {
        const struct s3_header *v = &h->views[i];

        if (v->name < h->data || v->name + v->name_len > h->data + h->len || v->value < h->data ||
            v->value + v->value_len > h->data + h->len) {
            abort();
        }
        /* llhttp hands over names as tokens, so a colon means two fields ran together */
        if (memchr(v->name, ':', v->name_len) != NULL || v->name_len == 0) {
            abort();
        }
        used += v->name_len + v->value_len;
    }
    if (used != h->len || h->len > PROXY_HEAD_MAX) {
        abort();
    }
}

/* Runs the lookups that proxy_conn.c and proxy_part.c make on a request target. */
static void classify_request(const struct proxy_head *h, const char *method)
{
    static const char *const domains[] = {"s3.example.com", "localhost"};
    struct s3_request req = {0};
    struct s3_target target;
    const char *query = NULL;
    size_t query_len = 0;
    char value[64];
    char replaced[512];
    size_t replaced_len = 0;

    req.method = method;
    req.target = h->data + h->url_off;
    req.target_len = h->url_len;
    req.headers = h->views;
    req.header_count = h->count;

    if (s3_op_classify_host(&req, domains, 2, &target) == CORE_OK) {
        if (target.op >= S3_OP_COUNT || (target.key != NULL && target.bucket == NULL) ||
            target.key_len > S3_KEY_MAX || s3_op_name(target.op) == NULL) {
            abort();
        }
    }
    s3_target_cleanup(&target);

    (void)s3_op_classify(&req, &target);
    s3_target_cleanup(&target);

    if (s3_request_query(&req, &query, &query_len)) {
        (void)s3_query_get(query, query_len, "partNumber", value, sizeof(value));
        (void)s3_query_get(query, query_len, "uploadId", value, sizeof(value));
        if (s3_query_replace(query, query_len, "uploadId", "backend.id", replaced, sizeof(replaced),
                             &replaced_len) == CORE_OK &&
            (replaced_len >= sizeof(replaced) || replaced[replaced_len] != '\0')) {
            abort();
        }
    }
    (void)proxy_head_find(h, "authorization");
    (void)proxy_head_find(h, "x-amz-content-sha256");
}

static void read_response(const struct proxy_head *h)
{
    uint64_t first = 0;
    uint64_t total = 0;

    (void)proxy_response_content_range(h, &first, &total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool response;
    llhttp_settings_t settings;
    llhttp_t parser;
    struct head_run run;
    size_t piece;
    llhttp_errno_t err = HPE_OK;

    if (size < 1) {
        return 0;
    }
    piece = 1 + data[0] % 64;
    data++;
    size--;
    response = size >= 5 && memcmp(data, "HTTP/", 5) == 0;

    memset(&run, 0, sizeof(run));
    llhttp_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_status = on_url;
    settings.on_header_field = on_field;
    settings.on_header_field_complete = on_field_complete;
    settings.on_header_value = on_value;
    settings.on_headers_complete = on_headers_complete;
    llhttp_init(&parser, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
    parser.data = &run;

    /* feed pieces until the head is complete, as proxy_conn.c does with its input buffer */
    for (size_t off = 0; off < size && err == HPE_OK && !run.complete; off += piece) {
        size_t n = size - off < piece ? size - off : piece;

        err = llhttp_execute(&parser, (const char *)data + off, n);
    }
    if (run.complete) {
        proxy_head_finish(&run.head);
        check_views(&run.head);
        /* every header line must become one field, also one with an empty value */
        if (run.head.count != run.fields) {
            abort();
        }
        if (response) {
            read_response(&run.head);
        } else {
            classify_request(&run.head, llhttp_method_name(parser.method));
        }
    } else if (run.head.too_large && run.head.len > PROXY_HEAD_MAX) {
        abort();
    }
    proxy_head_cleanup(&run.head);
    return 0;
}
