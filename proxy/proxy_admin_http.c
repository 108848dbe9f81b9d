/* SPDX-License-Identifier: Apache-2.0 */
/* The admin listener: /metrics, /healthz and /readyz on a thread of their own; see proxy_admin_http.h. */
#include "proxy/proxy_admin_http.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/core_log.h"
#include "proxy/proxy.h"
#include "proxy/proxy_metrics.h"

struct proxy_admin_http {
    const struct proxy_config *cfg;     /* borrowed */
    const struct proxy_worker *workers; /* borrowed */
    int worker_count;
    struct proxy_keys *keys;            /* borrowed */
    struct event_base *base;            /* owned */
    struct evhttp *http;                /* owned */
    evutil_socket_t stop_fds[2];        /* owned; the main thread writes to [1] to stop the loop */
    struct event *stop_event;           /* owned */
    pthread_t thread;
    bool thread_started;

    /* the last /readyz result, reused for PROXY_ADMIN_READY_CACHE_MS; admin thread only */
    int64_t ready_checked_ms;
    bool ready_known;
    bool ready;
    char ready_reason[200];
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_text(struct evhttp_request *r, int code, const char *reason, const char *content_type,
                      struct evbuffer *body)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(r);

    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_send_reply(r, code, reason, body);
}

static void send_line(struct evhttp_request *r, int code, const char *reason, const char *line)
{
    struct evbuffer *body = evbuffer_new();

    if (body == NULL) {
        core_log(CORE_LOG_ERROR, "admin", "out of memory while answering %s", evhttp_request_get_uri(r));
        evhttp_send_error(r, 500, "Internal Server Error");
        return;
    }
    evbuffer_add_printf(body, "%s\n", line);
    send_text(r, code, reason, "text/plain; charset=utf-8", body);
    evbuffer_free(body);
}

static void serve_metrics(struct proxy_admin_http *a, struct evhttp_request *r)
{
    struct proxy_metrics_snapshot *s = calloc(1, sizeof(*s));
    struct evbuffer *body = evbuffer_new();

    if (s != NULL && body != NULL) {
        for (int i = 0; i < a->worker_count; i++) {
            proxy_metrics_accumulate(a->workers[i].metrics, s);
        }
        proxy_keys_get_stats(a->keys, &s->keys);
        proxy_keys_get_kms_metrics(a->keys, s);
    }
    if (s == NULL || body == NULL || proxy_metrics_format(s, body) != CORE_OK) {
        core_log(CORE_LOG_ERROR, "admin", "out of memory while formatting /metrics");
        evhttp_send_error(r, 500, "Internal Server Error");
    } else {
        send_text(r, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
    }
    if (body != NULL) {
        evbuffer_free(body);
    }
    free(s);
}

/* Waits until fd is ready for events or the deadline passes; returns false on timeout or error. */
static bool wait_fd(int fd, short events, int64_t deadline_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int64_t left = deadline_ms - monotonic_ms();
    int rc;

    if (left <= 0) {
        return false;
    }
    do {
        rc = poll(&p, 1, (int)left);
    } while (rc < 0 && errno == EINTR);
    return rc == 1 && (p.revents & events) != 0;
}

/* Opens a non-blocking connection to the backend within the deadline; returns the socket or -1. */
static int connect_backend(const struct proxy_worker *w, const struct proxy_config *cfg, int64_t deadline_ms,
                           char *reason, size_t cap)
{
    int fd = socket(w->backend_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int error = 0;
    socklen_t len = sizeof(error);

    if (fd < 0) {
        snprintf(reason, cap, "cannot create a socket for the backend check: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&w->backend_addr, (socklen_t)w->backend_addr_len) != 0 &&
        errno != EINPROGRESS) {
        snprintf(reason, cap, "cannot connect to the backend %s:%s: %s", cfg->backend_host,
                 cfg->backend_port, strerror(errno));
        close(fd);
        return -1;
    }
    if (!wait_fd(fd, POLLOUT, deadline_ms)) {
        snprintf(reason, cap, "the backend %s:%s did not accept a connection within %d ms", cfg->backend_host,
                 cfg->backend_port, PROXY_ADMIN_BACKEND_TIMEOUT_MS);
        close(fd);
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
        snprintf(reason, cap, "cannot connect to the backend %s:%s: %s", cfg->backend_host,
                 cfg->backend_port, strerror(error != 0 ? error : errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Waits for the socket in the direction a non-blocking TLS call needs (SSL_get_error). Returns false on
 * another error or past the deadline.
 */
static bool tls_wait(SSL *ssl, int fd, int rc, int64_t deadline_ms)
{
    int error = SSL_get_error(ssl, rc);

    if (error == SSL_ERROR_WANT_READ) {
        return wait_fd(fd, POLLIN, deadline_ms);
    }
    if (error == SSL_ERROR_WANT_WRITE) {
        return wait_fd(fd, POLLOUT, deadline_ms);
    }
    return false;
}

/*
 * Sends request and reads the first bytes of the response over TLS, with the certificate checks of the
 * backend connections. Returns the bytes read, or -1 with reason set.
 */
static ssize_t tls_exchange(const struct proxy_worker *w, const struct proxy_config *cfg, int fd, const char *request,
                            size_t len, char *response, size_t want, int64_t deadline_ms, char *reason, size_t cap)
{
    SSL *ssl = proxy_upstream_tls_ssl(w->backend_tls, cfg);
    size_t got = 0;
    int rc;

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        snprintf(reason, cap, "cannot set up TLS for the backend check");
        return -1;
    }
    while ((rc = SSL_connect(ssl)) != 1) {
        if (!tls_wait(ssl, fd, rc, deadline_ms)) {
            snprintf(reason, cap, "TLS handshake with the backend %s:%s failed: %s", cfg->backend_host,
                     cfg->backend_port, X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
            SSL_free(ssl);
            return -1;
        }
    }
    while ((rc = SSL_write(ssl, request, (int)len)) <= 0) {
        if (!tls_wait(ssl, fd, rc, deadline_ms)) {
            snprintf(reason, cap, "cannot send the check request to the backend %s:%s", cfg->backend_host,
                     cfg->backend_port);
            SSL_free(ssl);
            return -1;
        }
    }
    while (got < want) {
        rc = SSL_read(ssl, response + got, (int)(want - got));
        if (rc > 0) {
            got += (size_t)rc;
        } else if (!tls_wait(ssl, fd, rc, deadline_ms)) {
            break;
        }
    }
    SSL_free(ssl);
    return (ssize_t)got;
}

/* Sends request and reads the first bytes of the response over plain TCP; returns the bytes read or -1. */
static ssize_t plain_exchange(const struct proxy_config *cfg, int fd, const char *request, size_t len,
                              char *response, size_t want, int64_t deadline_ms, char *reason, size_t cap)
{
    size_t got = 0;

    if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len) {
        snprintf(reason, cap, "cannot send the check request to the backend %s:%s", cfg->backend_host,
                 cfg->backend_port);
        return -1;
    }
    while (got < want && wait_fd(fd, POLLIN, deadline_ms)) {
        ssize_t r = recv(fd, response + got, want - got, 0);

        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/*
 * Checks that the backend answers HTTP, over TLS for an https:// backend: an unsigned HEAD / gets a status
 * line back. Any status counts, because S3 rejects an unsigned request with 403 and that still proves it
 * serves requests.
 */
static bool backend_answers(const struct proxy_admin_http *a, char *reason, size_t cap)
{
    /* a reload swaps the workers' configuration; the start-up one outlives this thread */
    const struct proxy_config *cfg = a->cfg;
    const struct proxy_worker *w = &a->workers[0];
    int64_t deadline = monotonic_ms() + PROXY_ADMIN_BACKEND_TIMEOUT_MS;
    char request[512];
    char response[16] = {0};
    ssize_t got = 0;
    int n;
    int fd = connect_backend(w, cfg, deadline, reason, cap);

    if (fd < 0) {
        return false;
    }
    n = snprintf(request, sizeof(request), "HEAD / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 cfg->backend_host_header);
    if (n <= 0 || (size_t)n >= sizeof(request)) {
        snprintf(reason, cap, "the backend host name is too long for the check request");
        close(fd);
        return false;
    }
    got = w->backend_tls != NULL ? tls_exchange(w, cfg, fd, request, (size_t)n, response, 12, deadline, reason, cap)
                                 : plain_exchange(cfg, fd, request, (size_t)n, response, 12, deadline, reason, cap);
    close(fd);
    if (got < 0) {
        return false;
    }
    if (got < 12 || strncmp(response, "HTTP/1.", 7) != 0) {
        snprintf(reason, cap, "the backend %s:%s sent no HTTP status line within %d ms", cfg->backend_host,
                 cfg->backend_port, PROXY_ADMIN_BACKEND_TIMEOUT_MS);
        return false;
    }
    return true;
}

/* Runs both checks unless a result younger than PROXY_ADMIN_READY_CACHE_MS exists. */
static void refresh_readiness(struct proxy_admin_http *a)
{
    int64_t now = monotonic_ms();
    char reason[sizeof(a->ready_reason)];
    bool ready;

    if (a->ready_known && now - a->ready_checked_ms < PROXY_ADMIN_READY_CACHE_MS) {
        return;
    }
    reason[0] = '\0';
    ready = backend_answers(a, reason, sizeof(reason)) &&
            proxy_keys_check(a->keys, PROXY_ADMIN_KMS_TIMEOUT_MS, reason, sizeof(reason)) == CORE_OK;
    if (ready != a->ready || !a->ready_known) {
        core_log(ready ? CORE_LOG_NOTICE : CORE_LOG_WARN, "admin", "readiness is now %s%s%s",
                 ready ? "ready" : "not ready", ready ? "" : ": ", ready ? "" : reason);
    }
    a->ready = ready;
    a->ready_known = true;
    a->ready_checked_ms = monotonic_ms();
    snprintf(a->ready_reason, sizeof(a->ready_reason), "%s", ready ? "ready" : reason);
}

static void on_request(struct evhttp_request *r, void *arg)
{
    struct proxy_admin_http *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    if (path == NULL) {
        evhttp_send_error(r, 400, "Bad Request");
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        serve_metrics(a, r);
    } else if (strcmp(path, "/healthz") == 0) {
        send_line(r, 200, "OK", "ok");
    } else if (strcmp(path, "/readyz") == 0) {
        refresh_readiness(a);
        send_line(r, a->ready ? 200 : 503, a->ready ? "OK" : "Service Unavailable", a->ready_reason);
    } else {
        send_line(r, 404, "Not Found", "not found; the admin listener serves /metrics, /healthz and /readyz");
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_admin_http *a = arg;
    char byte;

    (void)what;
    (void)recv(fd, &byte, 1, 0);
    event_base_loopbreak(a->base);
}

static void *admin_main(void *arg)
{
    struct proxy_admin_http *a = arg;

    event_base_dispatch(a->base);
    return NULL;
}

static enum core_err admin_bind(struct proxy_admin_http *a)
{
    char *end = NULL;
    long port = strtol(a->cfg->admin_port, &end, 10);

    if (*end != '\0' || port < 1 || port > 65535) {
        core_log(CORE_LOG_ERROR, "admin", "invalid admin listen port '%s'", a->cfg->admin_port);
        return CORE_CONFIG;
    }
    a->http = evhttp_new(a->base);
    if (a->http == NULL) {
        return CORE_NOMEM;
    }
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(a->http, on_request, a);
    /* a scraper that stalls cannot hold the admin thread */
    evhttp_set_timeout(a->http, 10);
    if (evhttp_bind_socket_with_handle(a->http, a->cfg->admin_host, (uint16_t)port) == NULL) {
        core_log_errno(CORE_LOG_ERROR, "admin", "cannot listen on %s:%s (S3SEAL_ADMIN_LISTEN)", a->cfg->admin_host,
                       a->cfg->admin_port);
        return CORE_IO;
    }
    return CORE_OK;
}

static enum core_err admin_stop_init(struct proxy_admin_http *a)
{
    if (evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, a->stop_fds) != 0) {
        core_log_errno(CORE_LOG_ERROR, "admin", "cannot create the stop socket of the admin thread");
        return CORE_IO;
    }
    evutil_make_socket_nonblocking(a->stop_fds[0]);
    a->stop_event = event_new(a->base, a->stop_fds[0], EV_READ, on_stop, a);
    if (a->stop_event == NULL || event_add(a->stop_event, NULL) != 0) {
        return CORE_NOMEM;
    }
    return CORE_OK;
}

enum core_err proxy_admin_http_start(const struct proxy_config *cfg, const struct proxy_worker *workers,
                                     int worker_count, struct proxy_keys *keys, struct proxy_admin_http **out)
{
    struct proxy_admin_http *a = calloc(1, sizeof(*a));
    enum core_err err = CORE_OK;

    *out = NULL;
    if (a == NULL) {
        return CORE_NOMEM;
    }
    a->cfg = cfg;
    a->workers = workers;
    a->worker_count = worker_count;
    a->keys = keys;
    a->stop_fds[0] = -1;
    a->stop_fds[1] = -1;
    a->base = event_base_new();
    err = a->base != NULL ? admin_bind(a) : CORE_NOMEM;
    if (err == CORE_OK) {
        err = admin_stop_init(a);
    }
    if (err == CORE_OK && pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        core_log_errno(CORE_LOG_ERROR, "admin", "cannot start the admin thread");
        err = CORE_IO;
    }
    if (err != CORE_OK) {
        proxy_admin_http_stop(a);
        return err;
    }
    a->thread_started = true;
    core_log(CORE_LOG_NOTICE, "admin", "admin listener on %s:%s serves /metrics, /healthz and /readyz",
             cfg->admin_host, cfg->admin_port);
    *out = a;
    return CORE_OK;
}

void proxy_admin_http_stop(struct proxy_admin_http *a)
{
    if (a == NULL) {
        return;
    }
    if (a->thread_started) {
        (void)send(a->stop_fds[1], "x", 1, MSG_NOSIGNAL);
        pthread_join(a->thread, NULL);
    }
    if (a->stop_event != NULL) {
        event_free(a->stop_event);
    }
    for (int i = 0; i < 2; i++) {
        if (a->stop_fds[i] >= 0) {
            evutil_closesocket(a->stop_fds[i]);
        }
    }
    if (a->http != NULL) {
        evhttp_free(a->http);
    }
    if (a->base != NULL) {
        event_base_free(a->base);
    }
    free(a);
}
