/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections to the backend: a per-worker pool of idle keep-alive
 * connections, and the llhttp response parser that hands each response to
 * proxy_response.c. Reading stops while the client's output is above the
 * high-water mark, so a fast backend cannot fill memory behind a slow client.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_log.h"
#include "proxy/proxy.h"
#include "proxy/proxy_obs.h"

#define IDLE_MAX 64

static void process_input(struct proxy_upstream *up);

struct evbuffer *proxy_upstream_output(struct proxy_upstream *up)
{
    return bufferevent_get_output(up->bev);
}

static void unlink_idle(struct proxy_upstream *up)
{
    struct proxy_upstream **p = &up->worker->idle;

    while (*p != NULL) {
        if (*p == up) {
            *p = up->next;
            up->worker->idle_count--;
            break;
        }
        p = &(*p)->next;
    }
    up->next = NULL;
}

static void upstream_free(struct proxy_upstream *up)
{
    unlink_idle(up);
    if (up->bev != NULL) {
        bufferevent_free(up->bev);
    }
    proxy_head_cleanup(&up->head);
    free(up);
}

void proxy_upstream_release(struct proxy_upstream *up, bool reusable)
{
    if (up->req != NULL && up->req->up == up) {
        up->req->up = NULL;
    }
    if (up->req != NULL && up->req->source_up == up) {
        up->req->source_up = NULL;
    }
    up->is_source = false;
    up->paused_for_key = false;
    up->req = NULL;
    if (up->in_parser) {
        up->release_pending = true;
        up->release_reusable = reusable;
        return;
    }
    if (!reusable || up->worker->idle_count >= IDLE_MAX) {
        upstream_free(up);
        return;
    }
    /* keep reading while idle so a close by the backend frees the connection at once */
    bufferevent_set_timeouts(up->bev, NULL, NULL);
    up->paused_for_client = false;
    up->next = up->worker->idle;
    up->worker->idle = up;
    up->worker->idle_count++;
}

void proxy_upstream_drop_pool(struct proxy_worker *w)
{
    while (w->idle != NULL) {
        upstream_free(w->idle);
    }
}

/*
 * Ends the request with an error response, or a cut connection if the response already started. kind
 * counts the failure against the backend; PROXY_UPSTREAM_ERR_COUNT means s3seal itself rejected the
 * response (a stored object that failed verification), which is no backend error.
 */
static void fail_request(struct proxy_upstream *up, enum s3_error_code code, enum proxy_upstream_error kind,
                         const char *why)
{
    struct proxy_request *req = up->req;

    if (kind != PROXY_UPSTREAM_ERR_COUNT) {
        proxy_obs_upstream_error(up->worker, req, kind);
    }
    proxy_upstream_release(up, false);
    if (req == NULL) {
        return;
    }
    core_log(CORE_LOG_ERROR, "proxy", "backend request failed: %s r=%s", why, req->id);
    if (req->response_started) {
        proxy_conn_abort(req->conn, "backend response failed");
        proxy_conn_maybe_free(req->conn);
        return;
    }
    proxy_conn_send_error(req, code, NULL, NULL, 0);
}

static int on_message_begin(llhttp_t *p)
{
    struct proxy_upstream *up = p->data;

    up->response_begun = true;
    proxy_head_reset(&up->head);
    return up->req == NULL ? -1 : 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_upstream *up = p->data;

    return proxy_head_on_url(&up->head, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_upstream *up = p->data;

    return proxy_head_on_field(&up->head, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_upstream *up = p->data;

    return proxy_head_on_value(&up->head, at, len);
}

static int on_headers_complete(llhttp_t *p)
{
    struct proxy_upstream *up = p->data;
    struct proxy_request *req = up->req;

    if (req == NULL) {
        return -1;
    }
    proxy_head_finish(&up->head);
    if (up->is_source) {
        return proxy_copy_read_head(req, up) == CORE_OK ? 0 : -1;
    }
    req->status = p->status_code;
    req->obs.upstream_status = p->status_code;
    if (proxy_response_head(req, up) != CORE_OK) {
        if (up->failure == S3_ERR_NONE) {
            up->failure = S3_ERR_INTERNAL_ERROR;
        }
        return -1;
    }
    if (req->reader_key_wait) {
        /* the body stays unparsed until the data key arrives */
        up->paused_for_key = true;
        return HPE_PAUSED;
    }
    /* llhttp cannot tell from a HEAD response alone that no body follows */
    return up->sent_head ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_upstream *up = p->data;

    enum core_err err = CORE_INTERNAL;

    if (up->req != NULL) {
        err = up->is_source ? proxy_copy_read_body(up->req, (const uint8_t *)at, len)
                            : proxy_response_body(up->req, (const uint8_t *)at, len);
    }
    if (err != CORE_OK) {
        if (up->failure == S3_ERR_NONE) {
            up->failure = S3_ERR_OBJECT_INTEGRITY;
        }
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct proxy_upstream *up = p->data;
    enum core_err err = CORE_INTERNAL;

    if (up->req != NULL) {
        err = up->is_source ? proxy_copy_read_finish(up->req) : proxy_response_finish(up->req);
    }

    if (err != CORE_OK) {
        if (up->failure == S3_ERR_NONE) {
            up->failure = err == CORE_CRYPTO     ? S3_ERR_OBJECT_INTEGRITY
                          : err == CORE_UPSTREAM ? S3_ERR_UPSTREAM_UNAVAILABLE
                                                 : S3_ERR_INTERNAL_ERROR;
        }
        return -1;
    }
    return HPE_PAUSED;
}

/* Hands the finished response to the client connection and the connection back to the pool. */
static void complete_response(struct proxy_upstream *up)
{
    struct proxy_request *req = up->req;
    bool reusable = llhttp_should_keep_alive(&up->parser) && (up->is_source || req->upstream_sent_all) &&
                    evbuffer_get_length(bufferevent_get_input(up->bev)) == 0;

    if (up->is_source) {
        /* the copy's source is read; the destination request carries on */
        proxy_upstream_release(up, reusable);
        return;
    }
    proxy_upstream_release(up, reusable);
    if (req->copy != NULL && req->copy->key_wait) {
        /* the copy's next step starts when its KMS call ends */
        return;
    }
    if (req->pending_error != S3_ERR_NONE) {
        proxy_conn_send_error(req, req->pending_error, req->pending_message[0] ? req->pending_message : NULL, NULL,
                              0);
        return;
    }
    if (req->retry_pending) {
        proxy_forward_retry(req);
        return;
    }
    proxy_conn_response_done(req->conn);
}

static void finish_parser_call(struct proxy_upstream *up)
{
    up->in_parser = false;
    if (up->release_pending) {
        up->release_pending = false;
        proxy_upstream_release(up, up->release_reusable);
    }
}

/* The output this connection's response feeds: the client's, or for a copy source the destination request's. */
static bool client_output_full(struct proxy_upstream *up)
{
    if (up->req == NULL) {
        return false;
    }
    if (up->is_source) {
        return up->req->up == NULL || evbuffer_get_length(proxy_upstream_output(up->req->up)) > PROXY_LOW_WATER;
    }
    return evbuffer_get_length(proxy_conn_output(up->req->conn)) > PROXY_LOW_WATER;
}

static void process_input(struct proxy_upstream *up)
{
    struct evbuffer *in = bufferevent_get_input(up->bev);

    while (up->req != NULL && !up->paused_for_key) {
        struct evbuffer_iovec v;
        size_t n;
        llhttp_errno_t err;
        struct proxy_request *req = up->req;

        if (client_output_full(up)) {
            up->paused_for_client = true;
            return;
        }
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
            return;
        }
        n = v.iov_len < PROXY_READ_SLICE ? v.iov_len : PROXY_READ_SLICE;

        up->in_parser = true;
        err = llhttp_execute(&up->parser, v.iov_base, n);
        evbuffer_drain(in, err == HPE_OK ? n : (size_t)(llhttp_get_error_pos(&up->parser) - (const char *)v.iov_base));

        if (err == HPE_PAUSED && up->paused_for_key) {
            /* stop reading too, so the backend's bytes wait in its socket, not in memory */
            llhttp_resume(&up->parser);
            bufferevent_disable(up->bev, EV_READ);
            finish_parser_call(up);
            return;
        }
        if (err == HPE_PAUSED) {
            llhttp_resume(&up->parser);
            up->in_parser = false;
            complete_response(up);
            return;
        }
        if (err != HPE_OK) {
            enum s3_error_code code = up->failure != S3_ERR_NONE ? up->failure : S3_ERR_UPSTREAM_UNAVAILABLE;

            up->in_parser = false;
            if (code == S3_ERR_INVALID_RANGE || code == S3_ERR_INVALID_PART_NUMBER || code == S3_ERR_NOT_IMPLEMENTED ||
                code == S3_ERR_INVALID_REQUEST || code == S3_ERR_ACCESS_DENIED) {
                /* a response of s3seal's own, not a backend failure */
                proxy_upstream_release(up, false);
                proxy_conn_send_error(req, code, req->pending_message[0] != '\0' ? req->pending_message : NULL,
                                      NULL, 0);
                return;
            }
            fail_request(up, code,
                         code == S3_ERR_OBJECT_INTEGRITY ? PROXY_UPSTREAM_ERR_COUNT : PROXY_UPSTREAM_ERR_PROTOCOL,
                         err == HPE_USER || err == HPE_CB_HEADERS_COMPLETE ? "response rejected" : llhttp_errno_name(err));
            return;
        }
        finish_parser_call(up);
    }
    if (evbuffer_get_length(in) > 0 && up->req == NULL) {
        /* bytes from the backend with no request outstanding cannot be trusted */
        upstream_free(up);
    }
}

void proxy_upstream_continue(struct proxy_upstream *up)
{
    up->paused_for_key = false;
    bufferevent_enable(up->bev, EV_READ);
    process_input(up);
}

void proxy_upstream_resume_reading(struct proxy_upstream *up)
{
    up->paused_for_client = false;
    process_input(up);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct proxy_upstream *up = arg;

    if (up->req == NULL) {
        core_log(CORE_LOG_INFO, "proxy", "backend sent data on an idle connection; closing it");
        upstream_free(up);
        return;
    }
    if (!up->paused_for_client) {
        /* a TLS connection's socket holds records that only OpenSSL may read */
        if (up->worker->backend_tls == NULL) {
            proxy_socket_read_more(bev);
        }
        process_input(up);
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct proxy_upstream *up = arg;

    (void)bev;
    if (up->req != NULL && up->req->source_up != NULL && up->req->source_up->paused_for_client &&
        up == up->req->up) {
        proxy_upstream_resume_reading(up->req->source_up);
        return;
    }
    if (up->req != NULL && up->req->conn->paused_for_upstream) {
        proxy_conn_resume_reading(up->req->conn);
    }
}

/*
 * A backend may close an idle keep-alive connection just as s3seal sends the
 * next request on it. When that request was a head alone and no byte of a
 * response came back, sends it again once on a new connection. Returns
 * false when the request cannot be sent again this way.
 */
static bool retry_on_new_connection(struct proxy_upstream *up)
{
    struct proxy_request *req = up->req;
    struct proxy_worker *w = up->worker;

    if (req == NULL || !up->reused || !up->replayable || up->response_begun || up->is_source) {
        return false;
    }
    core_log(CORE_LOG_INFO, "proxy", "backend closed a reused connection before responding; sending again r=%s",
             req->id);
    proxy_upstream_release(up, false);

    /* the other idle connections are likely closed too, after a backend restart for instance */
    proxy_upstream_drop_pool(w);
    if (proxy_forward_start(req) != CORE_OK) {
        proxy_conn_send_error(req, S3_ERR_SERVICE_UNAVAILABLE, "cannot reach the backend", NULL, 0);
    }
    return true;
}

static void on_eof(struct proxy_upstream *up)
{
    llhttp_errno_t err;

    if (retry_on_new_connection(up)) {
        return;
    }

    /* a response framed by connection close ends here */
    up->in_parser = true;
    err = llhttp_finish(&up->parser);
    up->in_parser = false;
    if (err == HPE_PAUSED && up->req != NULL) {
        llhttp_resume(&up->parser);
        up->release_pending = false;
        up->reusable = false;
        complete_response(up);
        return;
    }
    fail_request(up, S3_ERR_UPSTREAM_UNAVAILABLE, PROXY_UPSTREAM_ERR_CLOSED, "backend closed the connection early");
}

/* Ends the request of a connection whose TLS handshake or TLS record layer failed, naming the OpenSSL reason. */
static void fail_tls(struct proxy_upstream *up, const char *reason)
{
    char why[768];

    snprintf(why, sizeof(why), "%s with the backend %s:%s: %s",
             up->connected ? "TLS connection failed" : "TLS handshake failed", up->worker->cfg->backend_host,
             up->worker->cfg->backend_port, reason);
    fail_request(up, S3_ERR_SERVICE_UNAVAILABLE, up->connected ? PROXY_UPSTREAM_ERR_CLOSED : PROXY_UPSTREAM_ERR_CONNECT,
                 why);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct proxy_upstream *up = arg;
    char reason[512];

    if (what & BEV_EVENT_CONNECTED) {
        struct timeval timeout = {up->worker->cfg->backend_timeout_s, 0};

        /* the connect timeout ends here; reads and writes get the backend timeout */
        up->connected = true;
        if (up->worker->backend_tls != NULL) {
            proxy_upstream_tls_log_connected(up->worker, bev);
        }
        bufferevent_set_timeouts(bev, &timeout, &timeout);
        return;
    }
    if (up->req == NULL) {
        upstream_free(up);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && !up->req->upstream_sent_all) {
        /* the backend responds only after the whole body arrived, so the write timeout covers the upload */
        bufferevent_enable(bev, EV_READ);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        on_eof(up);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        fail_request(up, S3_ERR_SERVICE_UNAVAILABLE, PROXY_UPSTREAM_ERR_TIMEOUT,
                     up->connected ? "backend timed out"
                                   : "backend connection timed out (S3SEAL_BACKEND_CONNECT_TIMEOUT)");
        return;
    }
    if (up->worker->backend_tls != NULL && proxy_upstream_tls_describe(bev, reason, sizeof(reason))) {
        fail_tls(up, reason);
        return;
    }
    if (retry_on_new_connection(up)) {
        return;
    }
    fail_request(up, S3_ERR_SERVICE_UNAVAILABLE, up->connected ? PROXY_UPSTREAM_ERR_CLOSED : PROXY_UPSTREAM_ERR_CONNECT,
                 up->connected ? "backend connection failed" : "cannot connect to the backend");
}

static void setup_parser(struct proxy_upstream *up)
{
    llhttp_settings_init(&up->settings);
    up->settings.on_message_begin = on_message_begin;
    up->settings.on_status = on_status;
    up->settings.on_header_field = on_header_field;
    up->settings.on_header_value = on_header_value;
    up->settings.on_headers_complete = on_headers_complete;
    up->settings.on_body = on_body;
    up->settings.on_message_complete = on_message_complete;
    llhttp_init(&up->parser, HTTP_RESPONSE, &up->settings);
    up->parser.data = up;
}

static enum core_err connect_new(struct proxy_worker *w, struct proxy_upstream **out)
{
    struct proxy_upstream *up = calloc(1, sizeof(*up));
    int one = 1;

    if (up == NULL) {
        return CORE_NOMEM;
    }
    up->worker = w;
    if (w->backend_tls != NULL) {
        if (proxy_upstream_tls_bev(w, &up->bev) != CORE_OK) {
            free(up);
            return CORE_NOMEM;
        }
    } else {
        up->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (up->bev == NULL) {
        free(up);
        return CORE_NOMEM;
    }
    /*
     * NOTE: the address was resolved once at start-up. Resolving per connection would need an evdns_base
     * per worker and bufferevent_socket_connect_hostname, which this path does not have yet.
     */
    if (bufferevent_socket_connect(up->bev, (struct sockaddr *)&w->backend_addr, w->backend_addr_len) != 0) {
        core_log_errno(CORE_LOG_ERROR, "proxy", "cannot connect to the backend %s:%s", w->cfg->backend_host,
                       w->cfg->backend_port);
        upstream_free(up);
        return CORE_UPSTREAM;
    }
    setsockopt(bufferevent_getfd(up->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    proxy_bufferevent_tune(up->bev);
    *out = up;
    return CORE_OK;
}

enum core_err proxy_upstream_acquire(struct proxy_worker *w, struct proxy_request *req, struct proxy_upstream **out)
{
    struct proxy_upstream *up = w->idle;
    struct timeval timeout = {w->cfg->backend_timeout_s, 0};
    struct timeval connect_timeout = {w->cfg->backend_connect_timeout_s, 0};

    bool reused = up != NULL;

    if (reused) {
        unlink_idle(up);
    } else {
        enum core_err err = connect_new(w, &up);

        if (err == CORE_UPSTREAM) {
            proxy_obs_upstream_error(w, req, PROXY_UPSTREAM_ERR_CONNECT);
        }
        CORE_TRY(err);
    }
    up->reused = reused;
    up->replayable = false;
    up->response_begun = false;

    proxy_head_reset(&up->head);
    setup_parser(up);
    up->req = req;
    up->failure = S3_ERR_NONE;
    up->paused_for_client = false;
    up->release_pending = false;
    bufferevent_setcb(up->bev, on_read, on_write, on_event, up);
    bufferevent_setwatermark(up->bev, EV_READ, 0, PROXY_HIGH_WATER);
    bufferevent_setwatermark(up->bev, EV_WRITE, PROXY_LOW_WATER, 0);
    if (up->connected) {
        bufferevent_set_timeouts(up->bev, &timeout, &timeout);
    } else {
        bufferevent_set_timeouts(up->bev, &connect_timeout, &connect_timeout);
    }
    bufferevent_enable(up->bev, EV_READ | EV_WRITE);
    *out = up;
    return CORE_OK;
}
