/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GetObject and HeadObject with partNumber on a client's multipart object.
 * Format version 1 records no part sizes, and some backends (Ceph RGW 16.2)
 * ignore partNumber, so s3seal finds the part in the stored object itself.
 *
 * Every part but the last contains whole 64 KiB chunks, so the stored object is
 * a row of 65572-byte chunks and chunk g starts at g * 65572. Each chunk
 * header carries its part number p and its sequence number s within the
 * part, so one header gives where its part starts (g - s). Part numbers grow
 * along the object. s3seal reads single 20-byte headers with ranged GETs
 * ("probes"): chunk 0, the last chunk, then a guess that assumes equal part
 * sizes, walking back from a later part's start, and bisection. A probe that
 * is not a bisection is always followed by one, so the count stays below
 * PROXY_PART_PROBES_MAX for any object S3 can store. Typical objects
 * (equal parts) take 2 to 4 probes.
 *
 * The headers are read before any tag is checked, so they only choose which
 * chunks to fetch. The GET then goes through the ranged read of
 * proxy_response.c, whose reader accepts only chunks of the requested part,
 * starting at sequence 0 and ending exactly with its FINAL chunk, all
 * authenticated. A wrong boundary makes that read fail instead of passing on
 * other bytes. HeadObject returns the sizes the headers give without reading
 * any chunk. Those sizes are as trustworthy as the stored size that a plain
 * HeadObject reports.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_log.h"
#include "proxy/proxy.h"

/* Reads the part count from a multipart ETag, "<md5>-<count>" with or without quotes; 0 when it has none. */
static uint32_t etag_part_count(const struct proxy_head *head)
{
    const struct s3_header *h = proxy_head_find(head, "etag");
    char text[80];
    char *dash;
    char *end = NULL;
    unsigned long count;

    if (h == NULL || h->value_len >= sizeof(text)) {
        return 0;
    }
    memcpy(text, h->value, h->value_len);
    text[h->value_len] = '\0';
    dash = strrchr(text, '-');
    if (dash == NULL || dash[1] < '0' || dash[1] > '9') {
        return 0;
    }
    count = strtoul(dash + 1, &end, 10);
    if ((*end != '\0' && strcmp(end, "\"") != 0) || count == 0 || count > CRYPTO_PART_NUMBER_MAX) {
        return 0;
    }
    return (uint32_t)count;
}

/* Sends the request the way it goes for any object that is not a client's multipart object. */
static enum core_err retry_without_search(struct proxy_request *req)
{
    return proxy_response_retry(req, req->target.op == S3_OP_GET_OBJECT ? PROXY_FETCH_WHOLE : PROXY_FETCH_DIRECT);
}

/* Sets up the search from the first probe's response: the stored size and the part count. */
static enum core_err start_search(struct proxy_request *req, struct proxy_upstream *up)
{
    struct proxy_part_search *ps = &req->part;
    uint64_t first = 0;
    uint64_t stored = 0;

    if (!proxy_response_content_range(&up->head, &first, &stored) || first != 0 ||
        !proxy_part_search_init(ps, req->part_request, stored)) {
        proxy_response_log_integrity(req, "stored size is not a valid encrypted size");
        up->failure = S3_ERR_OBJECT_INTEGRITY;
        return CORE_CRYPTO;
    }
    ps->count = etag_part_count(&up->head);
    return CORE_OK;
}

/*
 * Handles the head of a probe's response. The first probe also decides
 * whether a search is needed: only a client's multipart object needs one.
 * Any other object, an empty one (416) or an error goes the usual way.
 */
enum core_err proxy_part_head(struct proxy_request *req, struct proxy_upstream *up, const struct crypto_envelope *env,
                              bool present)
{
    struct proxy_part_search *ps = &req->part;
    uint64_t first = 0;
    uint64_t total = 0;

    if (!ps->started) {
        if (req->status != 206 || !present || !env->multipart) {
            return retry_without_search(req);
        }
        CORE_TRY(start_search(req, up));
    } else if (req->status != 206 || !present || !env->multipart ||
               !proxy_response_content_range(&up->head, &first, &total) || total != ps->stored) {
        core_log(CORE_LOG_ERROR, "proxy", "object changed while its part %" PRIu32 " was searched r=%s",
                 ps->number, req->id);
        up->failure = S3_ERR_SERVICE_UNAVAILABLE;
        return CORE_UPSTREAM;
    }
    ps->fill = 0;
    req->response_mode = PROXY_RESPONSE_PART_PROBE;
    return CORE_OK;
}

enum core_err proxy_part_body(struct proxy_request *req, const uint8_t *data, size_t len)
{
    struct proxy_part_search *ps = &req->part;
    size_t take = sizeof(ps->header) - ps->fill;

    if (len > take) {
        /* more than the 20 bytes of the Range */
        req->up->failure = S3_ERR_UPSTREAM_UNAVAILABLE;
        return CORE_UPSTREAM;
    }
    memcpy(ps->header + ps->fill, data, len);
    ps->fill += len;
    return CORE_OK;
}

void proxy_part_add_count(const struct proxy_request *req, struct evbuffer *out)
{
    if (req->part_request != 0 && req->part.count > 0) {
        evbuffer_add_printf(out, "x-amz-mp-parts-count: %" PRIu32 "\r\n", req->part.count);
    }
}

/* Writes the HeadObject response for the part found, from the last probe's response head. */
static void send_part_head(struct proxy_request *req, uint64_t first, uint64_t last, uint64_t total)
{
    struct evbuffer *out = proxy_conn_output(req->conn);

    req->response_mode = PROXY_RESPONSE_HEAD;
    proxy_response_write_head(out, req, req->up, true, "206 Partial Content");
    evbuffer_add_printf(out, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", first, last, total);
    proxy_part_add_count(req, out);
    evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n\r\n", last - first + 1);
    req->response_started = true;
}

/*
 * Serves the part found: HeadObject at once, GetObject as the plaintext
 * range of the part, read and checked by proxy_response.c.
 */
static enum core_err serve_part(struct proxy_request *req)
{
    const struct proxy_part_search *ps = &req->part;
    uint64_t first = ps->start * CRYPTO_CHUNK_PLAIN_MAX;
    uint64_t last = ps->end * CRYPTO_CHUNK_PLAIN_MAX + ps->end_len - 1;
    uint64_t total = 0;

    (void)crypto_size_decrypted(ps->stored, &total); /* start_search checked it */
    core_log(CORE_LOG_DEBUG, "proxy", "part %" PRIu32 " is chunks %" PRIu64 "-%" PRIu64 " after %u probes r=%s",
             ps->number, ps->start, ps->end, ps->probes, req->id);
    if (req->target.op == S3_OP_HEAD_OBJECT) {
        send_part_head(req, first, last, total);
        return CORE_OK;
    }
    req->range.kind = S3_RANGE_FROM_TO;
    req->range.first = first;
    req->range.last = last;
    return proxy_response_retry(req, PROXY_FETCH_CHUNKS);
}

enum core_err proxy_part_finish(struct proxy_request *req)
{
    switch (proxy_part_observe(&req->part)) {
    case PROXY_PART_FOUND:
        return serve_part(req);
    case PROXY_PART_MISSING:
        req->pending_error = S3_ERR_INVALID_PART_NUMBER;
        return CORE_OK;
    case PROXY_PART_CONTINUE:
        return proxy_response_retry(req, PROXY_FETCH_PART_PROBE);
    case PROXY_PART_INCONSISTENT:
    default:
        break;
    }
    proxy_response_log_integrity(req, "chunk headers do not describe a valid multipart object");
    req->up->failure = S3_ERR_OBJECT_INTEGRITY;
    return CORE_CRYPTO;
}
