/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The life of client connections on a worker: the connection limit, the
 * keep-alive and request header deadlines, the error sent for a stalled body, the
 * graceful stop (drain) and the swap of the configuration after a reload.
 * Everything here runs on the worker's own loop, except
 * proxy_life_post_generation, which the main thread calls.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/core_log.h"
#include "proxy/proxy.h"

/*
 * Connections accepted beyond S3SEAL_MAX_CONNECTIONS still get a 503 SlowDown
 * they can read, but only this many more: past that a connection is closed
 * at once, so a flood cannot grow memory without bound.
 */
#define PROXY_BUSY_EXTRA 64

enum core_err proxy_life_worker_init(struct proxy_worker *w)
{
    if (pthread_mutex_init(&w->msg_lock, NULL) != 0) {
        core_log(CORE_LOG_ERROR, "proxy", "cannot create the message lock of worker %d", w->index);
        return CORE_NOMEM;
    }
    w->msg_lock_ready = true;
    return CORE_OK;
}

void proxy_life_worker_cleanup(struct proxy_worker *w)
{
    if (w->drain_timer != NULL) {
        event_free(w->drain_timer);
        w->drain_timer = NULL;
    }
    if (w->msg_lock_ready) {
        pthread_mutex_destroy(&w->msg_lock);
        w->msg_lock_ready = false;
    }
    proxy_gen_unref(w->pending_gen);
    w->pending_gen = NULL;
    proxy_gen_unref(w->gen);
    w->gen = NULL;
    w->cfg = NULL;
    w->tls = NULL;
}

void proxy_life_post_generation(struct proxy_worker *w, struct proxy_generation *gen)
{
    struct proxy_generation *replaced;

    pthread_mutex_lock(&w->msg_lock);
    replaced = w->pending_gen;
    w->pending_gen = proxy_gen_ref(gen);
    pthread_mutex_unlock(&w->msg_lock);

    /* two reloads before the worker woke up: the older one was never in use here */
    proxy_gen_unref(replaced);
}

/* New requests take the new generation; requests already running keep the one they started with. */
static void take_generation(struct proxy_worker *w)
{
    struct proxy_generation *next;
    struct proxy_generation *old = w->gen;

    pthread_mutex_lock(&w->msg_lock);
    next = w->pending_gen;
    w->pending_gen = NULL;
    pthread_mutex_unlock(&w->msg_lock);
    if (next == NULL) {
        return;
    }
    w->gen = next;
    w->cfg = next->cfg;
    w->tls = next->tls;
    proxy_gen_unref(old);
    core_log(CORE_LOG_DEBUG, "proxy", "worker %d took configuration generation %u", w->index, next->number);
}

static void log_cut(const struct proxy_conn *c)
{
    const struct proxy_request *req = c->req;

    core_log(CORE_LOG_WARN, "proxy", "drain deadline passed; cutting the request %s %s r=%s peer=%s op=%s",
             req->method != NULL ? req->method : "-", req->target.bucket != NULL ? req->target.bucket : "-",
             req->id, c->peer, req->target.op != S3_OP_UNKNOWN ? s3_op_name(req->target.op) : "-");
}

/* The drain deadline: whatever still runs is cut, and the loop ends. */
static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_worker *w = arg;
    struct proxy_conn *c = w->conns;

    (void)fd;
    (void)what;
    while (c != NULL) {
        struct proxy_conn *next = c->next;

        if (c->req != NULL) {
            log_cut(c);
        }
        proxy_conn_close(c);
        c = next;
    }
    event_base_loopbreak(w->base);
}

/*
 * Stops accepting, closes connections that wait for a request, and lets the
 * others finish their request: advance() closes each after its response.
 */
static void start_drain(struct proxy_worker *w)
{
    struct proxy_conn *c = w->conns;
    struct timeval deadline = {w->cfg->drain_timeout_s, 0};
    size_t closed = 0;

    if (w->draining) {
        return;
    }
    w->draining = true;

    /* connections the kernel queued for this socket but the loop never accepted are reset */
    if (w->listener != NULL) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
    }
    while (c != NULL) {
        struct proxy_conn *next = c->next;

        if (c->req == NULL && c->state == PROXY_CONN_READING_HEAD) {
            proxy_conn_close(c);
            closed++;
        }
        c = next;
    }
    core_log(CORE_LOG_INFO, "proxy", "worker %d draining: closed %zu idle connections, %zu still busy", w->index,
             closed, w->conn_count);
    if (w->conn_count == 0) {
        event_base_loopbreak(w->base);
        return;
    }
    w->drain_timer = evtimer_new(w->base, on_drain_deadline, w);
    if (w->drain_timer == NULL || evtimer_add(w->drain_timer, &deadline) != 0) {
        core_log(CORE_LOG_ERROR, "proxy", "cannot set the drain deadline of worker %d; cutting at once", w->index);
        on_drain_deadline(-1, 0, w);
    }
}

void proxy_life_on_command(struct proxy_worker *w, char cmd)
{
    switch (cmd) {
    case PROXY_CMD_RELOAD:
        take_generation(w);
        break;
    case PROXY_CMD_DRAIN:
        start_drain(w);
        break;
    case PROXY_CMD_CUT:
        start_drain(w);
        on_drain_deadline(-1, 0, w);
        break;
    case PROXY_CMD_STOP:
    default:
        event_base_loopbreak(w->base);
        break;
    }
}

bool proxy_life_accept_allowed(const struct proxy_worker *w)
{
    return !w->draining && w->conn_count < (size_t)w->cfg->max_connections + PROXY_BUSY_EXTRA;
}

void proxy_life_conn_added(struct proxy_conn *c)
{
    struct proxy_worker *w = c->worker;

    c->prev = NULL;
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->conn_count++;
    c->over_limit = w->conn_count > (size_t)w->cfg->max_connections;
}

void proxy_life_conn_removed(struct proxy_conn *c)
{
    struct proxy_worker *w = c->worker;

    if (c->timer != NULL) {
        event_free(c->timer);
        c->timer = NULL;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else if (w->conns == c) {
        w->conns = c->next;
    } else {
        /* not in the list: proxy_life_conn_added never ran for it */
        return;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = NULL;
    c->next = NULL;
    w->conn_count--;
    if (w->draining && w->conn_count == 0) {
        event_base_loopbreak(w->base);
    }
}

/*
 * The one timer of a connection. Without a request it is the keep-alive
 * deadline: the connection closes without a word, as idle HTTP connections
 * do. With a request whose head is still arriving it is the header deadline.
 */
static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_conn *c = arg;
    char message[128];

    (void)fd;
    (void)what;
    if (c->state != PROXY_CONN_READING_HEAD) {
        return;
    }
    if (c->req == NULL) {
        core_log(CORE_LOG_DEBUG, "proxy", "closing an idle keep-alive connection peer=%s", c->peer);
        proxy_conn_close(c);
        return;
    }
    snprintf(message, sizeof(message), "the request headers did not arrive within %d seconds",
             c->req->cfg->header_timeout_s);
    c->req->keep_alive = false;
    proxy_conn_send_error(c->req, S3_ERR_REQUEST_TIMEOUT, message, NULL, 0);
}

static void arm_timer(struct proxy_conn *c, int seconds)
{
    struct timeval timeout = {seconds, 0};

    if (c->timer == NULL) {
        c->timer = evtimer_new(c->worker->base, on_conn_timer, c);
    }
    if (c->timer == NULL || evtimer_add(c->timer, &timeout) != 0) {
        /* the bufferevent's read timeout still ends a silent connection */
        core_log(CORE_LOG_ERROR, "proxy", "cannot set a connection timer peer=%s", c->peer);
    }
}

void proxy_life_wait_request(struct proxy_conn *c)
{
    arm_timer(c, c->worker->cfg->keepalive_timeout_s);
}

void proxy_life_request_started(struct proxy_conn *c)
{
    struct proxy_request *req = c->req;

    req->gen = proxy_gen_ref(c->worker->gen);
    req->cfg = req->gen->cfg;
    proxy_head_set_limits(&req->head, (size_t)req->cfg->max_header_size, (size_t)req->cfg->max_header_count,
                          (size_t)req->cfg->max_url_length);
    arm_timer(c, req->cfg->header_timeout_s);
}

void proxy_life_head_done(struct proxy_conn *c)
{
    if (c->timer != NULL) {
        evtimer_del(c->timer);
    }
}

bool proxy_life_refuse_busy(struct proxy_request *req)
{
    if (!req->conn->over_limit) {
        return false;
    }
    req->keep_alive = false;
    proxy_conn_send_error(req, S3_ERR_SLOW_DOWN, "too many connections to this s3seal worker; retry later", NULL,
                          0);
    return true;
}

bool proxy_life_reject_head(struct proxy_request *req)
{
    const struct proxy_head *h = &req->head;
    char message[128];
    char max_size[24];
    struct s3_error_extra extra[1] = {{"MaxSizeAllowed", max_size}};
    size_t extra_count = 0;

    if (!proxy_head_over_limit(h)) {
        return false;
    }
    if (h->url_too_long) {
        snprintf(message, sizeof(message), "the request target is longer than %zu bytes", h->max_url);
    } else if (h->too_many) {
        snprintf(message, sizeof(message), "the request has more than %zu header fields", h->max_count);
    } else {
        snprintf(message, sizeof(message), "the request line and headers exceed %zu bytes", h->max_len);
        snprintf(max_size, sizeof(max_size), "%zu", h->max_len);
        extra_count = 1;
    }
    req->keep_alive = false;
    proxy_conn_send_error(req, S3_ERR_REQUEST_HEADER_SECTION_TOO_LARGE, message, extra, extra_count);
    return true;
}

bool proxy_life_on_read_timeout(struct proxy_conn *c)
{
    char message[128];

    /*
     * A quiet client is fine while it waits for a response (the backend
     * timeout covers that), while s3seal itself stopped reading, and between
     * requests and inside a head, where the connection timer decides.
     */
    if (c->state == PROXY_CONN_WAITING_RESPONSE || c->state == PROXY_CONN_READING_HEAD || c->paused_for_upstream) {
        bufferevent_enable(c->bev, EV_READ);
        return true;
    }
    if (c->state != PROXY_CONN_READING_BODY || c->req == NULL || c->req->response_started) {
        return false;
    }
    snprintf(message, sizeof(message), "the request body stalled for %d seconds", c->req->cfg->body_timeout_s);
    c->req->keep_alive = false;
    proxy_conn_send_error(c->req, S3_ERR_REQUEST_TIMEOUT, message, NULL, 0);
    return true;
}
