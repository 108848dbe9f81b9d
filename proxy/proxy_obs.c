/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request observation: the access log line and the counters the request path moves. Every function here
 * runs on the worker thread that owns the connection, so it writes only that worker's counters.
 */
#include "proxy/proxy_obs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core_log.h"
#include "proxy/proxy.h"

/* Maximum access log line length: an escaped 1024-byte key takes 3072 bytes, the other fields under 1 KiB. */
#define ACCESS_LINE_MAX 4608

/* A bounded string that counts what did not fit, as snprintf does. */
struct line {
    char *out;
    size_t cap;
    size_t len;
};

static void line_printf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line_printf(struct line *l, const char *fmt, ...)
{
    size_t room = l->len < l->cap ? l->cap - l->len : 0;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(room > 0 ? l->out + l->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        l->len += (size_t)n;
    }
}

static void line_byte(struct line *l, char c)
{
    if (l->len + 1 < l->cap) {
        l->out[l->len] = c;
        l->out[l->len + 1] = '\0';
    }
    l->len++;
}

static bool is_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '/';
}

/* Writes " name=value" with value percent-encoded, or " name=-" when value is NULL. */
static void line_escaped(struct line *l, const char *name, const char *value, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    line_printf(l, " %s=", name);
    if (value == NULL) {
        line_byte(l, '-');
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];

        if (is_plain(c)) {
            line_byte(l, (char)c);
        } else {
            line_byte(l, '%');
            line_byte(l, hex[c >> 4]);
            line_byte(l, hex[c & 15]);
        }
    }
}

const char *proxy_access_end_name(enum proxy_end end)
{
    switch (end) {
    case PROXY_END_DONE:
        return "done";
    case PROXY_END_CLIENT:
        return "client";
    case PROXY_END_BACKEND:
        return "backend";
    case PROXY_END_S3SEAL:
        return "s3seal";
    default:
        return "s3seal";
    }
}

size_t proxy_access_format(const struct proxy_access_entry *e, char *out, size_t cap)
{
    struct line l = {.out = out, .cap = cap, .len = 0};
    char stamp[32] = "-";
    struct tm tm;
    time_t seconds = e->start.tv_sec;

    if (cap > 0) {
        out[0] = '\0';
    }
    if (gmtime_r(&seconds, &tm) != NULL) {
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    }
    line_printf(&l, "time=%s.%03ldZ r=%s client=%s op=%s", stamp, e->start.tv_nsec / 1000000L,
                e->request_id != NULL ? e->request_id : "-", e->client != NULL ? e->client : "-",
                e->op != NULL ? e->op : "-");
    line_escaped(&l, "bucket", e->bucket, e->bucket != NULL ? strlen(e->bucket) : 0);
    line_escaped(&l, "key", e->key, e->key_len);
    if (e->status != 0) {
        line_printf(&l, " status=%d", e->status);
    } else {
        line_printf(&l, " status=-");
    }
    line_printf(&l, " bytes_in=%llu bytes_out=%llu duration_ms=%llu.%03llu", (unsigned long long)e->bytes_in,
                (unsigned long long)e->bytes_out, (unsigned long long)(e->duration_us / 1000),
                (unsigned long long)(e->duration_us % 1000));
    if (e->upstream_status != 0) {
        line_printf(&l, " upstream_status=%d", e->upstream_status);
    } else {
        line_printf(&l, " upstream_status=-");
    }
    line_printf(&l, " end=%s", proxy_access_end_name(e->end));
    return l.len;
}

static int64_t monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct proxy_metrics *worker_metrics(const struct proxy_request *req)
{
    return req->conn->worker->metrics;
}

/* Counts bytes the parser consumed (drained from the input) and bytes queued for the client. */
static void on_input_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct proxy_conn_obs *obs = arg;

    (void)buf;
    if (info->n_deleted > 0) {
        obs->bytes_in += info->n_deleted;
        proxy_metrics_add(&obs->metrics->bytes_in, info->n_deleted);
    }
}

static void on_output_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct proxy_conn_obs *obs = arg;

    (void)buf;
    if (info->n_added > 0) {
        obs->bytes_out += info->n_added;
        proxy_metrics_add(&obs->metrics->bytes_out, info->n_added);
    }
}

void proxy_obs_conn_open(struct proxy_conn *c)
{
    struct proxy_conn_obs *obs = &c->obs;

    obs->metrics = c->worker->metrics;
    if (obs->metrics == NULL) {
        return;
    }
    proxy_metrics_add(&obs->metrics->connections_opened, 1);
    obs->in_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input_change, obs);
    obs->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), on_output_change, obs);
}

void proxy_obs_conn_close(struct proxy_conn *c)
{
    struct proxy_conn_obs *obs = &c->obs;

    if (obs->metrics == NULL) {
        return;
    }
    proxy_metrics_add(&obs->metrics->connections_closed, 1);
    if (obs->in_cb != NULL) {
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), obs->in_cb);
        obs->in_cb = NULL;
    }
    if (obs->out_cb != NULL) {
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), obs->out_cb);
        obs->out_cb = NULL;
    }
    obs->metrics = NULL;
}

void proxy_obs_request_begin(struct proxy_request *req)
{
    struct proxy_request_obs *obs = &req->obs;

    clock_gettime(CLOCK_REALTIME, &obs->start_wall);
    obs->start_us = monotonic_us();
    obs->conn_in_start = req->conn->obs.bytes_in;
    obs->conn_out_start = req->conn->obs.bytes_out;
}

void proxy_obs_response_status(struct proxy_request *req, int status)
{
    req->obs.status = status;
}

void proxy_obs_request_end_by(struct proxy_request *req, enum proxy_end end)
{
    if (!req->obs.end_set) {
        req->obs.end = end;
        req->obs.end_set = true;
    }
}

void proxy_obs_access_entry(const struct proxy_request *req, uint64_t duration_us, struct proxy_access_entry *out)
{
    const struct proxy_conn *c = req->conn;

    memset(out, 0, sizeof(*out));
    out->start = req->obs.start_wall;
    out->request_id = req->id;
    out->client = c->peer;
    out->op = s3_op_name(req->target.op);
    out->bucket = req->target.bucket;
    out->key = req->target.key;
    out->key_len = req->target.key_len;
    out->status = req->obs.status;
    out->bytes_in = c->obs.bytes_in - req->obs.conn_in_start;
    out->bytes_out = c->obs.bytes_out - req->obs.conn_out_start;
    out->duration_us = duration_us;
    out->upstream_status = req->obs.upstream_status;
    out->end = req->obs.end;
}

static void write_access_line(const struct proxy_request *req, uint64_t duration_us)
{
    struct proxy_access_entry e;
    char line[ACCESS_LINE_MAX];

    proxy_obs_access_entry(req, duration_us, &e);
    proxy_access_format(&e, line, sizeof(line));
    core_log(CORE_LOG_NOTICE, "access", "%s", line);
}

void proxy_obs_request_end(struct proxy_request *req)
{
    struct proxy_metrics *m = worker_metrics(req);
    int64_t elapsed = monotonic_us() - req->obs.start_us;
    uint64_t duration_us = elapsed > 0 ? (uint64_t)elapsed : 0;

    /* a request that ended before its head was parsed and got no response is only a closed connection */
    if (req->method == NULL && req->obs.status == 0) {
        return;
    }
    if (!req->obs.end_set) {
        req->obs.end = req->response_done ? PROXY_END_DONE : PROXY_END_CLIENT;
    }
    if (m != NULL) {
        size_t op = req->target.op < S3_OP_COUNT ? (size_t)req->target.op : (size_t)S3_OP_UNKNOWN;

        proxy_metrics_add(&m->requests[op][proxy_metrics_status_slot(req->obs.status)], 1);
        proxy_metrics_observe(&m->duration[op], duration_us);
    }
    if (req->conn->worker->cfg->access_log) {
        write_access_line(req, duration_us);
    }
}

void proxy_obs_upstream_error(struct proxy_worker *w, struct proxy_request *req, enum proxy_upstream_error kind)
{
    if (w->metrics != NULL) {
        proxy_metrics_add(&w->metrics->upstream_errors[kind], 1);
    }
    if (req != NULL) {
        proxy_obs_request_end_by(req, PROXY_END_BACKEND);
    }
}

void proxy_obs_auth_failure(struct proxy_request *req)
{
    struct proxy_metrics *m = worker_metrics(req);

    if (m != NULL) {
        proxy_metrics_add(&m->auth_failures, 1);
    }
}

void proxy_obs_integrity_failure(const struct proxy_request *req)
{
    struct proxy_metrics *m = worker_metrics(req);

    if (m != NULL) {
        proxy_metrics_add(&m->integrity_failures, 1);
    }
}

void proxy_obs_encrypted(const struct proxy_request *req, size_t len)
{
    struct proxy_metrics *m = worker_metrics(req);

    if (m != NULL) {
        proxy_metrics_add(&m->bytes_encrypted, len);
    }
}

void proxy_obs_decrypted(const struct proxy_request *req, size_t len)
{
    struct proxy_metrics *m = worker_metrics(req);

    if (m != NULL) {
        proxy_metrics_add(&m->bytes_decrypted, len);
    }
}
