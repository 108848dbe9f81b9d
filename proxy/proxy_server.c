/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Worker threads. Each worker owns an event loop, its own listening socket on
 * the same address (SO_REUSEPORT lets the kernel spread connections), and its
 * own pool of backend connections, so workers share nothing but read-only
 * configuration and the KMS provider.
 */
#include "proxy/proxy_server.h"

#include <libxml/parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core_log.h"
#include "proxy/proxy.h"
#include "proxy/proxy_admin_http.h"
#include "proxy/proxy_reload.h"

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr, int len,
                      void *arg)
{
    (void)listener;
    proxy_conn_accept(arg, fd, addr, len);
}

static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    (void)listener;
    (void)arg;
    core_log_errno(CORE_LOG_WARN, "proxy", "accept failed");
}

static enum core_err resolve(const char *host, const char *port, int passive, struct sockaddr_storage *out,
                             int *out_len)
{
    struct addrinfo hints = {0};
    struct addrinfo *res = NULL;
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        core_log(CORE_LOG_ERROR, "proxy", "cannot resolve %s port %s: %s", host, port, gai_strerror(rc));
        return CORE_IO;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *out_len = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return CORE_OK;
}

static void log_tls_errors(const char *what, const char *path)
{
    char reason[256];
    unsigned long e = ERR_get_error();

    ERR_error_string_n(e, reason, sizeof(reason));
    core_log(CORE_LOG_ERROR, "proxy", "%s %s: %s", what, path, e != 0 ? reason : "unknown error");
    ERR_clear_error();
}

/*
 * Builds the listener's TLS context: TLS 1.2 and 1.3 only, with the configured certificate and key, and
 * with S3SEAL_TLS_CLIENT_CA_FILE a required client certificate from those CAs.
 */
static enum core_err tls_context_new(const struct proxy_config *cfg, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        return CORE_NOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1) {
        log_tls_errors("cannot load the TLS certificate chain", cfg->tls_cert_file);
        SSL_CTX_free(ctx);
        return CORE_CONFIG;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        log_tls_errors("cannot load the TLS private key, or it does not match the certificate:",
                       cfg->tls_key_file);
        SSL_CTX_free(ctx);
        return CORE_CONFIG;
    }
    if (cfg->tls_client_ca_file != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca_file);

        if (names == NULL || SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca_file, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            log_tls_errors("cannot load the client CA file (S3SEAL_TLS_CLIENT_CA_FILE)", cfg->tls_client_ca_file);
            SSL_CTX_free(ctx);
            return CORE_CONFIG;
        }
        /* the CA names tell clients which certificate to send */
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    *out = ctx;
    return CORE_OK;
}

enum core_err proxy_server_tls_new(const struct proxy_config *cfg, SSL_CTX **out)
{
    return tls_context_new(cfg, out);
}

/*
 * Checks that no other process listens on the address. The workers bind with
 * SO_REUSEPORT so the kernel spreads connections over them, but that would
 * also let a second s3seal (or anything else with SO_REUSEPORT) share the
 * port and take part of the traffic. A probe socket without SO_REUSEPORT
 * fails to bind while such a listener exists.
 */
static enum core_err probe_listen_address(const struct sockaddr_storage *addr, int len, const char *host,
                                          const char *port)
{
    int one = 1;
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    enum core_err err = CORE_OK;

    if (fd < 0) {
        core_log_errno(CORE_LOG_ERROR, "proxy", "cannot create a socket for %s:%s", host, port);
        return CORE_IO;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)addr, (socklen_t)len) != 0) {
        core_log_errno(CORE_LOG_ERROR, "proxy", "cannot listen on %s:%s; is another s3seal running there?", host,
                       port);
        err = CORE_IO;
    }
    close(fd);
    return err;
}

/* Runs the commands the main thread writes to the wake-up socket (PROXY_CMD_*), inside the worker's thread. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_worker *w = arg;
    char bytes[16];
    ssize_t n;

    (void)what;
    n = recv(fd, bytes, sizeof(bytes), 0);
    for (ssize_t i = 0; i < n; i++) {
        proxy_life_on_command(w, bytes[i]);
    }
}

/*
 * Gives the worker a socket pair the main thread writes to at shutdown.
 * Libevent's own cross-thread notification would need its locking turned
 * on, which costs a mutex on every buffer operation in every worker.
 */
static enum core_err worker_stop_init(struct proxy_worker *w)
{
    if (evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, w->stop_fds) != 0) {
        core_log_errno(CORE_LOG_ERROR, "proxy", "cannot create the stop socket of worker %d", w->index);
        return CORE_IO;
    }
    evutil_make_socket_nonblocking(w->stop_fds[0]);
    w->stop_event = event_new(w->base, w->stop_fds[0], EV_READ | EV_PERSIST, on_stop, w);
    if (w->stop_event == NULL || event_add(w->stop_event, NULL) != 0) {
        return CORE_NOMEM;
    }
    return CORE_OK;
}

static enum core_err worker_init(struct proxy_worker *w, int index, struct proxy_generation *gen,
                                 struct kms_provider *kms, struct proxy_keys *keys,
                                 const struct sockaddr_storage *listen_addr,
                                 int listen_len, const struct sockaddr_storage *backend_addr, int backend_len)
{
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC;
    const struct proxy_config *cfg = gen->cfg;

    w->index = index;
    w->gen = proxy_gen_ref(gen);
    w->cfg = gen->cfg;
    w->tls = gen->tls;
    w->kms = kms;
    w->keys = keys;
    memcpy(&w->backend_addr, backend_addr, sizeof(*backend_addr));
    w->backend_addr_len = backend_len;
    w->base = event_base_new();
    w->metrics = proxy_metrics_new();
    if (w->base == NULL || w->metrics == NULL) {
        return CORE_NOMEM;
    }
    w->listener = evconnlistener_new_bind(w->base, on_accept, w, flags, 1024,
                                          (const struct sockaddr *)listen_addr, listen_len);
    if (w->listener == NULL) {
        core_log_errno(CORE_LOG_ERROR, "proxy", "cannot listen on %s:%s", cfg->listen_host, cfg->listen_port);
        return CORE_IO;
    }
    evconnlistener_set_error_cb(w->listener, on_accept_error);
    CORE_TRY(worker_stop_init(w));
    CORE_TRY(proxy_life_worker_init(w));
    return proxy_keys_worker_init(w);
}

static void worker_cleanup(struct proxy_worker *w)
{
    proxy_upstream_drop_pool(w);
    proxy_keys_worker_cleanup(w);
    proxy_life_worker_cleanup(w);
    if (w->stop_event != NULL) {
        event_free(w->stop_event);
    }
    for (int i = 0; i < 2; i++) {
        if (w->stop_fds[i] >= 0) {
            evutil_closesocket(w->stop_fds[i]);
        }
    }
    if (w->listener != NULL) {
        evconnlistener_free(w->listener);
    }
    if (w->base != NULL) {
        event_base_free(w->base);
    }
    proxy_metrics_free(w->metrics);
}

static void *worker_main(void *arg)
{
    struct proxy_worker *w = arg;

    event_base_dispatch(w->base);
    atomic_store(&w->loop_done, true);
    return NULL;
}

static void send_command(struct proxy_worker *workers, int count, char cmd)
{
    for (int i = 0; i < count; i++) {
        (void)send(workers[i].stop_fds[1], &cmd, 1, MSG_NOSIGNAL);
    }
}

/*
 * SIGHUP: builds the next configuration completely, then hands it to every
 * worker. The running one stays when anything in the new one is wrong.
 */
static void reload(struct proxy_generation **current, struct proxy_worker *workers, int count,
                   struct kms_provider *kms, const char *config_path)
{
    char err[1024];
    char ignored[512];
    struct proxy_generation *next = NULL;

    if (proxy_reload_build(config_path, *current, kms, &next, err, sizeof(err), ignored, sizeof(ignored)) !=
        CORE_OK) {
        core_log(CORE_LOG_ERROR, "proxy", "configuration reload rejected, generation %u stays in use: %s",
                 (*current)->number, err[0] != '\0' ? err : "cannot load the configuration");
        return;
    }
    core_log_set_level((enum core_log_level)next->cfg->log_level);
    for (int i = 0; i < count; i++) {
        proxy_life_post_generation(&workers[i], next);
    }
    send_command(workers, count, PROXY_CMD_RELOAD);
    core_log(CORE_LOG_NOTICE, "proxy", "configuration reloaded: generation %u from %s; ignored until restart: %s",
             next->number, config_path != NULL ? config_path : "the environment",
             ignored[0] != '\0' ? ignored : "none");
    proxy_gen_unref(*current);
    *current = next;
}

/*
 * Waits until every worker's loop ended. A second SIGINT or SIGTERM cuts the
 * requests still running at once, for an operator who does not want to wait
 * for the drain deadline.
 */
static void wait_for_drain(struct proxy_worker *workers, int count)
{
    const struct timespec tick = {0, 200 * 1000 * 1000};
    bool cut = false;
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        int done = 0;
        int sig;

        for (int i = 0; i < count; i++) {
            done += atomic_load(&workers[i].loop_done) ? 1 : 0;
        }
        if (done == count) {
            return;
        }
        sig = sigtimedwait(&set, NULL, &tick);
        if (sig > 0 && !cut) {
            core_log(CORE_LOG_NOTICE, "proxy", "received signal %d again; cutting the requests in flight", sig);
            send_command(workers, count, PROXY_CMD_CUT);
            cut = true;
        }
    }
}

/* Serves signals until SIGINT or SIGTERM; SIGHUP reloads the configuration. */
static void serve_signals(struct proxy_generation **current, struct proxy_worker *workers, int count,
                          struct kms_provider *kms, const char *config_path)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP) {
            break;
        }
        reload(current, workers, count, kms, config_path);
    }
    core_log(CORE_LOG_NOTICE, "proxy", "received signal %d; no new connections, waiting up to %d s for requests "
             "in flight", sig, (*current)->cfg->drain_timeout_s);
}

enum core_err proxy_server_run(const struct proxy_config *cfg, struct kms_provider *kms, const char *config_path)
{
    struct proxy_generation *current = NULL;
    struct sockaddr_storage listen_addr;
    struct sockaddr_storage backend_addr;
    int listen_len = 0;
    int backend_len = 0;
    struct proxy_worker *workers = NULL;
    struct proxy_keys *keys = NULL;
    struct proxy_admin_http *admin = NULL;
    char keys_err[256];
    SSL_CTX *tls = NULL;
    SSL_CTX *backend_tls = NULL; /* client context for an https:// backend */
    int started = 0;
    sigset_t set;
    enum core_err err = CORE_OK;

    /* workers inherit the mask, so only the main thread's sigwait receives these */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* libxml2 must initialise its global state before several threads parse */
    xmlInitParser();

    CORE_TRY(resolve(cfg->listen_host, cfg->listen_port, 1, &listen_addr, &listen_len));
    CORE_TRY(resolve(cfg->backend_host, cfg->backend_port, 0, &backend_addr, &backend_len));
    CORE_TRY(probe_listen_address(&listen_addr, listen_len, cfg->listen_host, cfg->listen_port));

    if (cfg->tls_cert_file != NULL) {
        CORE_TRY(tls_context_new(cfg, &tls));
    }
    if (cfg->backend_tls && proxy_upstream_tls_new(cfg, &backend_tls) != CORE_OK) {
        SSL_CTX_free(tls);
        return CORE_CONFIG;
    }

    /* the start-up configuration belongs to the caller; the generation only borrows it */
    current = proxy_gen_new(cfg, NULL, tls, 0);
    if (current == NULL) {
        SSL_CTX_free(tls);
        SSL_CTX_free(backend_tls);
        return CORE_NOMEM;
    }

    workers = calloc((size_t)cfg->workers, sizeof(*workers));
    err = workers != NULL ? proxy_keys_start(cfg, kms, &keys, keys_err, sizeof(keys_err)) : CORE_NOMEM;
    if (err != CORE_OK) {
        core_log(CORE_LOG_ERROR, "proxy", "%s", workers != NULL ? keys_err : "out of memory for the workers");
        free(workers);
        SSL_CTX_free(backend_tls);
        proxy_gen_unref(current);
        return err;
    }
    for (int i = 0; i < cfg->workers; i++) {
        workers[i].stop_fds[0] = -1;
        workers[i].stop_fds[1] = -1;
        workers[i].keys_fds[0] = -1;
        workers[i].keys_fds[1] = -1;
    }
    for (int i = 0; i < cfg->workers && err == CORE_OK; i++) {
        err = worker_init(&workers[i], i, current, kms, keys, &listen_addr, listen_len, &backend_addr,
                          backend_len);
        workers[i].backend_tls = backend_tls;
    }
    for (int i = 0; i < cfg->workers && err == CORE_OK; i++) {
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            core_log_errno(CORE_LOG_ERROR, "proxy", "cannot start worker thread %d", i);
            err = CORE_IO;
            break;
        }
        started++;
    }

    if (err == CORE_OK && cfg->admin_host != NULL) {
        err = proxy_admin_http_start(cfg, workers, cfg->workers, keys, &admin);
    }
    if (err == CORE_OK) {
        core_log(CORE_LOG_NOTICE, "proxy", "listening on %s:%s (%s) with %d workers; backend %s://%s:%s",
                 cfg->listen_host, cfg->listen_port, tls != NULL ? "https" : "http", cfg->workers,
                 cfg->backend_tls ? "https" : "http", cfg->backend_host, cfg->backend_port);
        serve_signals(&current, workers, cfg->workers, kms, config_path);
    }

    /* each worker ends its loop once its last connection closed, or at its drain deadline */
    send_command(workers, started, err == CORE_OK ? PROXY_CMD_DRAIN : PROXY_CMD_STOP);
    if (err == CORE_OK) {
        wait_for_drain(workers, started);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
    }
    /* before the key service, whose readiness check the admin thread may be waiting on */
    proxy_admin_http_stop(admin);
    if (err == CORE_OK) {
        core_log(CORE_LOG_NOTICE, "proxy", "every worker stopped; exiting");
    }
    /* after the loops, so no request waits on a call; before the workers, whose mailboxes take the last calls */
    proxy_keys_stop(keys);
    for (int i = 0; i < cfg->workers; i++) {
        worker_cleanup(&workers[i]);
    }
    free(workers);
    SSL_CTX_free(backend_tls);
    proxy_gen_unref(current);
    return err;
}
