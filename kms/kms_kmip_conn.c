/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS connections from the KMIP provider to its server: TLS 1.2 or later with a client certificate, one
 * deadline per call for connect, handshake, write and read, and a mutex-protected set of kept-alive
 * connections.
 */
#include "kms/kms_kmip_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/core_log.h"
#include "kms/kms_kmip_msg.h"
#include "kms/kms_kmip_ttlv.h"

/* Outcome of socket or TLS I/O; the caller retries a stale kept-alive connection once on IO_BROKEN. */
enum io_result {
    IO_OK = 0,
    IO_TIMEOUT,
    IO_BROKEN,
};

static void set_err(char *err, size_t err_cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_cap == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes the first queued OpenSSL error, or "no details", and clears the queue. */
static void ssl_error_text(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();

    if (e == 0) {
        snprintf(buf, cap, "no details");
    } else {
        ERR_error_string_n(e, buf, cap);
    }
    ERR_clear_error();
}

/* Waits until fd is ready for events or the deadline passes; returns IO_TIMEOUT or IO_BROKEN on failure. */
static enum io_result wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int64_t left = deadline - now_ms();
        int n;

        if (left <= 0) {
            return IO_TIMEOUT;
        }
        n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0) {
            return IO_OK;
        }
        if (n == 0) {
            return IO_TIMEOUT;
        }
        if (errno != EINTR) {
            return IO_BROKEN;
        }
    }
}

/* Connects a non-blocking socket to one address; returns IO_OK with *fd set, or why it failed in *sys_errno. */
static enum io_result connect_addr(const struct addrinfo *ai, int64_t deadline, int *fd, int *sys_errno)
{
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    enum io_result r = IO_OK;
    socklen_t len = sizeof(*sys_errno);

    if (s < 0) {
        *sys_errno = errno;
        return IO_BROKEN;
    }
    *sys_errno = 0;
    if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            *sys_errno = errno;
            r = IO_BROKEN;
        } else {
            r = wait_fd(s, POLLOUT, deadline);
            if (r == IO_OK && (getsockopt(s, SOL_SOCKET, SO_ERROR, sys_errno, &len) != 0 || *sys_errno != 0)) {
                r = IO_BROKEN;
            }
        }
    }
    if (r != IO_OK) {
        close(s);
        return r;
    }
    *fd = s;
    return IO_OK;
}

static enum core_err connect_tcp(const struct kms_kmip_conn_pool *pool, int64_t deadline, int *fd, char *err, size_t err_cap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    enum io_result r = IO_BROKEN;
    int sys_errno = 0;
    int gai;

    /* NOTE: getaddrinfo is not bounded by the timeout; a numeric S3SEAL_KMIP_HOST needs no lookup. */
    gai = getaddrinfo(pool->host, pool->port, &hints, &list);
    if (gai != 0) {
        set_err(err, err_cap, "cannot resolve KMIP server %s: %s; check S3SEAL_KMIP_HOST", pool->host,
                gai_strerror(gai));
        return CORE_KMS_UNAVAILABLE;
    }
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        r = connect_addr(ai, deadline, fd, &sys_errno);
        if (r != IO_BROKEN) {
            break;
        }
    }
    freeaddrinfo(list);

    if (r == IO_TIMEOUT) {
        set_err(err, err_cap, "connecting to KMIP server %s port %s timed out after %d ms", pool->host, pool->port,
                pool->timeout_ms);
    } else if (r != IO_OK) {
        set_err(err, err_cap, "cannot connect to KMIP server %s port %s: %s; check S3SEAL_KMIP_HOST and "
                "S3SEAL_KMIP_PORT and that the server is running", pool->host, pool->port, strerror(sys_errno));
    }
    return r == IO_OK ? CORE_OK : CORE_KMS_UNAVAILABLE;
}

/*
 * Runs one SSL_connect, SSL_read or SSL_write step until it completes or the deadline passes. Returns
 * the call's result in *n; a non-positive result with IO_BROKEN is left for the caller to explain.
 */
static enum io_result ssl_step(SSL *ssl, int (*step)(SSL *, void *, int), void *buf, int len, int64_t deadline,
                               int *n)
{
    for (;;) {
        int ssl_err;
        enum io_result r;

        ERR_clear_error();
        *n = step(ssl, buf, len);
        if (*n > 0) {
            return IO_OK;
        }
        ssl_err = SSL_get_error(ssl, *n);
        if (ssl_err == SSL_ERROR_WANT_READ) {
            r = wait_fd(SSL_get_fd(ssl), POLLIN, deadline);
        } else if (ssl_err == SSL_ERROR_WANT_WRITE) {
            r = wait_fd(SSL_get_fd(ssl), POLLOUT, deadline);
        } else {
            return IO_BROKEN;
        }
        if (r != IO_OK) {
            return r;
        }
    }
}

static int step_connect(SSL *ssl, void *buf, int len)
{
    (void)buf;
    (void)len;
    return SSL_connect(ssl);
}

static int step_read(SSL *ssl, void *buf, int len)
{
    return SSL_read(ssl, buf, len);
}

static int step_write(SSL *ssl, void *buf, int len)
{
    return SSL_write(ssl, buf, len);
}

/*
 * Explains a failed handshake: our check of the server certificate failed, the server sent an alert (it
 * rejected our certificate), or the connection broke, as when a load balancer has no server behind it.
 */
static enum core_err handshake_error(const struct kms_kmip_conn_pool *pool, SSL *ssl, enum io_result r, char *err,
                                     size_t err_cap)
{
    long verify = SSL_get_verify_result(ssl);
    /* OpenSSL reports a received alert as reason SSL_AD_REASON_OFFSET plus the alert number */
    bool alert = ERR_GET_REASON(ERR_peek_last_error()) >= SSL_AD_REASON_OFFSET;
    char detail[256];

    ssl_error_text(detail, sizeof(detail));
    if (r == IO_TIMEOUT) {
        set_err(err, err_cap, "TLS handshake with KMIP server %s port %s timed out after %d ms", pool->host, pool->port,
                pool->timeout_ms);
        return CORE_KMS_UNAVAILABLE;
    }
    if (verify != X509_V_OK) {
        set_err(err, err_cap, "the certificate of KMIP server %s failed verification: %s; check that "
                "S3SEAL_KMIP_CA_FILE holds the CA that signed it and that it names %s as S3SEAL_KMIP_HOST does",
                pool->host, X509_verify_cert_error_string(verify), pool->host);
        return CORE_KMS;
    }
    if (!alert) {
        set_err(err, err_cap, "connection to KMIP server %s port %s broke during the TLS handshake (%s); check "
                "that the server is running and speaks TLS 1.2 or later", pool->host, pool->port, detail);
        return CORE_KMS_UNAVAILABLE;
    }
    set_err(err, err_cap, "KMIP server %s port %s rejected the TLS handshake (%s); check that the server trusts "
            "the CA of S3SEAL_KMIP_CERT_FILE and that the certificate allows clientAuth", pool->host, pool->port, detail);
    return CORE_KMS_DENIED;
}

/* Opens a TLS connection; sets *out or returns the error with a message in err. */
static enum core_err conn_open(struct kms_kmip_conn_pool *pool, int64_t deadline, SSL **out, char *err, size_t err_cap)
{
    unsigned char ip[sizeof(struct in6_addr)];
    bool numeric = inet_pton(AF_INET, pool->host, ip) == 1 || inet_pton(AF_INET6, pool->host, ip) == 1;
    enum core_err rc = CORE_NOMEM;
    enum io_result r;
    SSL *ssl = NULL;
    int fd = -1;
    int n = 0;

    CORE_TRY(connect_tcp(pool, deadline, &fd, err, err_cap));

    ssl = SSL_new(pool->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        set_err(err, err_cap, "cannot set up a TLS connection to KMIP server %s: out of memory", pool->host);
        goto out;
    }
    fd = -1;
    /* the server certificate must name the configured host: an IP SAN for an address, else a DNS name */
    if (numeric) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), pool->host) != 1) {
            goto out;
        }
    } else if (SSL_set1_host(ssl, pool->host) != 1 || SSL_set_tlsext_host_name(ssl, pool->host) != 1) {
        goto out;
    }

    r = ssl_step(ssl, step_connect, NULL, 0, deadline, &n);
    if (r != IO_OK) {
        rc = handshake_error(pool, ssl, r, err, err_cap);
        goto out;
    }
    *out = ssl;
    ssl = NULL;
    rc = CORE_OK;

out:
    if (fd >= 0) {
        close(fd);
    }
    if (ssl != NULL) {
        close(SSL_get_fd(ssl));
        SSL_free(ssl);
    }
    return rc;
}

/* Closes a connection without a close_notify: the peer may be gone, and waiting for it would block. */
static void conn_close(SSL *ssl)
{
    int fd;

    if (ssl == NULL) {
        return;
    }
    fd = SSL_get_fd(ssl);
    SSL_free(ssl);
    if (fd >= 0) {
        close(fd);
    }
}

static SSL *pool_take(struct kms_kmip_conn_pool *pool)
{
    SSL *ssl = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->idle_count > 0) {
        ssl = pool->idle[--pool->idle_count];
    }
    pthread_mutex_unlock(&pool->lock);
    return ssl;
}

static void pool_put(struct kms_kmip_conn_pool *pool, SSL *ssl)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->idle_count < KMS_KMIP_IDLE_MAX) {
        pool->idle[pool->idle_count++] = ssl;
        ssl = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    conn_close(ssl);
}

static enum io_result write_all(SSL *ssl, const uint8_t *buf, size_t len, int64_t deadline)
{
    size_t done = 0;

    while (done < len) {
        int n = 0;
        enum io_result r = ssl_step(ssl, step_write, (void *)(uintptr_t)(buf + done), (int)(len - done), deadline,
                                    &n);

        if (r != IO_OK) {
            return r;
        }
        done += (size_t)n;
    }
    return IO_OK;
}

static enum io_result read_exact(SSL *ssl, uint8_t *buf, size_t len, int64_t deadline)
{
    size_t done = 0;

    while (done < len) {
        int n = 0;
        enum io_result r = ssl_step(ssl, step_read, buf + done, (int)(len - done), deadline, &n);

        if (r != IO_OK) {
            return r;
        }
        done += (size_t)n;
    }
    return IO_OK;
}

/*
 * Sends a request and reads one whole response message into resp. Returns CORE_OK, CORE_KMS for a
 * response that is not a KMIP response message or is too large, or the failed I/O in *io.
 */
static enum core_err exchange(SSL *ssl, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
                              int64_t deadline, enum io_result *io)
{
    size_t total = 0;

    *io = write_all(ssl, req, req_len, deadline);
    if (*io == IO_OK) {
        *io = read_exact(ssl, resp, KMS_TTLV_HEADER_LEN, deadline);
    }
    if (*io != IO_OK) {
        return CORE_KMS_UNAVAILABLE;
    }
    CORE_TRY(kms_kmip_response_length(resp, &total));
    *io = read_exact(ssl, resp + KMS_TTLV_HEADER_LEN, total - KMS_TTLV_HEADER_LEN, deadline);
    if (*io != IO_OK) {
        return CORE_KMS_UNAVAILABLE;
    }
    *resp_len = total;
    return CORE_OK;
}

/* Describes a failed exchange in err; the connection is closed by the caller. */
static void describe_exchange_failure(const struct kms_kmip_conn_pool *pool, enum core_err rc, enum io_result io, char *err,
                                      size_t err_cap)
{
    if (io == IO_TIMEOUT) {
        set_err(err, err_cap, "KMIP server %s port %s did not answer within %d ms (S3SEAL_KMIP_TIMEOUT_MS)",
                pool->host, pool->port, pool->timeout_ms);
    } else if (io == IO_BROKEN) {
        set_err(err, err_cap, "connection to KMIP server %s port %s failed while sending a request or reading "
                "the response", pool->host, pool->port);
    } else {
        set_err(err, err_cap, "KMIP server %s port %s sent a response that is not a KMIP response message or "
                "exceeds %d bytes (%s)", pool->host, pool->port, KMS_KMIP_RESPONSE_MAX, core_err_str(rc));
    }
}

/*
 * Sends one request and reads its response, on a kept-alive connection when one is idle. A kept-alive
 * connection that turns out to be closed is replaced once: Encrypt and Decrypt change nothing on the
 * server, so sending the request again is safe. Everything happens before one deadline of timeout_ms.
 */
enum core_err kms_kmip_conn_call(struct kms_kmip_conn_pool *pool, const uint8_t *req, size_t req_len, uint8_t *resp,
                                 size_t *resp_len, char *err, size_t err_cap)
{
    int64_t deadline = now_ms() + pool->timeout_ms;
    SSL *ssl = pool_take(pool);
    bool reused = ssl != NULL;
    enum io_result io = IO_OK;
    enum core_err rc;

    if (ssl == NULL) {
        CORE_TRY(conn_open(pool, deadline, &ssl, err, err_cap));
    }
    rc = exchange(ssl, req, req_len, resp, resp_len, deadline, &io);
    if (rc != CORE_OK && reused && io == IO_BROKEN) {
        core_log(CORE_LOG_INFO, "kms", "kept-alive KMIP connection to %s port %s was closed; reconnecting",
                 pool->host, pool->port);
        conn_close(ssl);
        ssl = NULL;
        CORE_TRY(conn_open(pool, deadline, &ssl, err, err_cap));
        rc = exchange(ssl, req, req_len, resp, resp_len, deadline, &io);
    }

    if (rc == CORE_OK) {
        pool_put(pool, ssl);
        return CORE_OK;
    }
    describe_exchange_failure(pool, rc, io, err, err_cap);
    /* a late response would be read as the response to the next request, so the connection is closed */
    conn_close(ssl);
    return rc == CORE_TOO_LARGE ? CORE_KMS : rc;
}

/* Refuses to prompt for a passphrase: a server cannot type one, so an encrypted key file fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

/* The client key is the credential to the KMIP server, so it must be as private as a key file or PIN file. */
static enum core_err check_key_file_mode(const char *key_file, char *err, size_t err_cap)
{
    struct stat st;

    if (stat(key_file, &st) != 0) {
        set_err(err, err_cap, "cannot open S3SEAL_KMIP_KEY_FILE %s: %s; check the path", key_file, strerror(errno));
        return CORE_CONFIG;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        set_err(err, err_cap, "S3SEAL_KMIP_KEY_FILE %s is accessible by group or others (mode %04o); run "
                "chmod 600 %s", key_file, (unsigned)(st.st_mode & 07777), key_file);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

static enum core_err make_tls_context(struct kms_kmip_conn_pool *pool, const char *ca_file, const char *cert_file,
                                      const char *key_file, char *err, size_t err_cap)
{
    char detail[256];

    CORE_TRY(check_key_file_mode(key_file, err, err_cap));
    pool->ctx = SSL_CTX_new(TLS_client_method());
    if (pool->ctx == NULL) {
        return CORE_NOMEM;
    }
    /* PyKMIP 0.10 offers TLS 1.2 only; 1.3 is taken when the server has it */
    SSL_CTX_set_min_proto_version(pool->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(pool->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_default_passwd_cb(pool->ctx, no_passphrase);

    if (SSL_CTX_load_verify_locations(pool->ctx, ca_file, NULL) != 1) {
        ssl_error_text(detail, sizeof(detail));
        set_err(err, err_cap, "cannot load S3SEAL_KMIP_CA_FILE %s: %s; it must be a PEM file of the CA "
                "certificates that sign the KMIP server's certificate", ca_file, detail);
        return CORE_CONFIG;
    }
    if (SSL_CTX_use_certificate_chain_file(pool->ctx, cert_file) != 1) {
        ssl_error_text(detail, sizeof(detail));
        set_err(err, err_cap, "cannot load S3SEAL_KMIP_CERT_FILE %s: %s; it must be a PEM client certificate",
                cert_file, detail);
        return CORE_CONFIG;
    }
    if (SSL_CTX_use_PrivateKey_file(pool->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        /* loading a key checks it against the certificate already loaded */
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            set_err(err, err_cap, "S3SEAL_KMIP_KEY_FILE %s is not the key of S3SEAL_KMIP_CERT_FILE %s; give the "
                    "matching pair", key_file, cert_file);
            return CORE_CONFIG;
        }
        ssl_error_text(detail, sizeof(detail));
        set_err(err, err_cap, "cannot load S3SEAL_KMIP_KEY_FILE %s: %s; it must be an unencrypted PEM private "
                "key", key_file, detail);
        return CORE_CONFIG;
    }
    if (SSL_CTX_check_private_key(pool->ctx) != 1) {
        ERR_clear_error();
        set_err(err, err_cap, "S3SEAL_KMIP_KEY_FILE %s is not the key of S3SEAL_KMIP_CERT_FILE %s; give the "
                "matching pair", key_file, cert_file);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

enum core_err kms_kmip_conn_init(struct kms_kmip_conn_pool *pool, const struct kms_kmip_conn_settings *s,
                                 char *err, size_t err_cap)
{
    memset(pool, 0, sizeof(*pool));
    if (strlen(s->host) > KMS_KMIP_HOST_MAX || strlen(s->port) > KMS_KMIP_PORT_MAX) {
        set_err(err, err_cap, "invalid S3SEAL_KMIP_HOST or S3SEAL_KMIP_PORT: too long");
        return CORE_CONFIG;
    }
    memcpy(pool->host, s->host, strlen(s->host) + 1);
    memcpy(pool->port, s->port, strlen(s->port) + 1);
    pool->timeout_ms = s->timeout_ms;
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        return CORE_NOMEM;
    }
    pool->lock_ready = true;
    return make_tls_context(pool, s->ca_file, s->cert_file, s->key_file, err, err_cap);
}

void kms_kmip_conn_cleanup(struct kms_kmip_conn_pool *pool)
{
    for (size_t i = 0; i < pool->idle_count; i++) {
        conn_close(pool->idle[i]);
    }
    pool->idle_count = 0;
    SSL_CTX_free(pool->ctx);
    pool->ctx = NULL;
    if (pool->lock_ready) {
        pthread_mutex_destroy(&pool->lock);
        pool->lock_ready = false;
    }
}
