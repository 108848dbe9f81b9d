/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS to an https:// backend: the client context shared by the workers, one
 * OpenSSL bufferevent per backend connection with SNI and the host name or IP
 * address check set, and the description of a failed handshake for the log.
 */
#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "core/core_log.h"
#include "proxy/proxy.h"

static bool is_ip_literal(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static void log_openssl_error(const char *what, const char *value)
{
    char reason[256];
    unsigned long e = ERR_get_error();

    ERR_error_string_n(e, reason, sizeof(reason));
    core_log(CORE_LOG_ERROR, "proxy", "%s %s: %s", what, value, e != 0 ? reason : "unknown error");
    ERR_clear_error();
}

/* Loads the CA certificates the backend's certificate must chain to: the configured file, or the system store. */
static enum core_err load_trust(SSL_CTX *ctx, const struct proxy_config *cfg)
{
    if (cfg->backend_ca_file != NULL) {
        if (SSL_CTX_load_verify_file(ctx, cfg->backend_ca_file) != 1) {
            log_openssl_error("cannot load the backend CA file (S3SEAL_BACKEND_CA_FILE)",
                              cfg->backend_ca_file);
            return CORE_CONFIG;
        }
        return CORE_OK;
    }
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        log_openssl_error("cannot load the system CA store for the backend", X509_get_default_cert_file());
        return CORE_CONFIG;
    }
    return CORE_OK;
}

enum core_err proxy_upstream_tls_new(const struct proxy_config *cfg, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    enum core_err err;

    if (ctx == NULL) {
        return CORE_NOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);

    if (cfg->backend_tls_insecure) {
        core_log(
            CORE_LOG_WARN, "proxy",
            "S3SEAL_BACKEND_TLS_INSECURE=true: the certificate of the backend %s is NOT verified; anyone on "
            "the network path can read and change backend traffic. Use this for tests only",
            cfg->backend_host);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        *out = ctx;
        return CORE_OK;
    }

    err = load_trust(ctx, cfg);
    if (err != CORE_OK) {
        SSL_CTX_free(ctx);
        return err;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    *out = ctx;
    return CORE_OK;
}

/* Sets SNI and the name the certificate must carry: a DNS name, or for an IP literal an IP address SAN. */
static enum core_err configure_peer_name(SSL *ssl, const char *host, bool verify)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    bool is_ip = is_ip_literal(host);
    char name[256];

    /* RFC 6066 section 3: a literal IP address is not sent as a server name */
    if (!is_ip) {
        /* SSL_set_tlsext_host_name is a macro that casts its argument to void *, so it gets a writable copy */
        if (strlen(host) >= sizeof(name)) {
            return CORE_CONFIG;
        }
        memcpy(name, host, strlen(host) + 1);
        if (SSL_set_tlsext_host_name(ssl, name) != 1) {
            return CORE_NOMEM;
        }
    }
    if (!verify) {
        return CORE_OK;
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip) {
        return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 ? CORE_OK : CORE_NOMEM;
    }
    return X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 ? CORE_OK : CORE_NOMEM;
}

SSL *proxy_upstream_tls_ssl(SSL_CTX *ctx, const struct proxy_config *cfg)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl != NULL && configure_peer_name(ssl, cfg->backend_host, !cfg->backend_tls_insecure) != CORE_OK) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

enum core_err proxy_upstream_tls_bev(struct proxy_worker *w, struct bufferevent **out)
{
    SSL *ssl = proxy_upstream_tls_ssl(w->backend_tls, w->cfg);
    struct bufferevent *bev;

    if (ssl == NULL) {
        return CORE_NOMEM;
    }
    /* with BEV_OPT_CLOSE_ON_FREE, libevent 2.1.12 frees ssl also when the bufferevent cannot be made */
    bev = bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        return CORE_NOMEM;
    }
    *out = bev;
    return CORE_OK;
}

bool proxy_upstream_tls_describe(struct bufferevent *bev, char *out, size_t cap)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long e = bufferevent_get_openssl_error(bev);
    long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    char reason[256] = "no OpenSSL error queued";

    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
    }
    /* drain the rest, so that none is reported against a later event */
    while (bufferevent_get_openssl_error(bev) != 0) {
    }
    if (verify != X509_V_OK) {
        snprintf(out, cap, "certificate verification failed: %s (X509 error %ld); %s",
                 X509_verify_cert_error_string(verify), verify, reason);
        return true;
    }
    snprintf(out, cap, "%s", reason);
    return e != 0;
}

void proxy_upstream_tls_log_connected(const struct proxy_worker *w, struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);

    if (ssl == NULL) {
        return;
    }
    core_log(CORE_LOG_DEBUG, "proxy",
             "TLS handshake with the backend done: %s %s, session %s backend=%s:%s w=%d",
             SSL_get_version(ssl), SSL_get_cipher_name(ssl), SSL_session_reused(ssl) ? "resumed" : "new",
             w->cfg->backend_host, w->cfg->backend_port, w->index);
}
