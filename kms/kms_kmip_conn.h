/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS connections of the KMIP provider: each call gets one deadline for connect, handshake, write and
 * read, and idle connections are kept for the next call.
 */
#ifndef KMS_KMIP_CONN_H
#define KMS_KMIP_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "core/core_err.h"

#define KMS_KMIP_HOST_MAX 255
#define KMS_KMIP_PORT_MAX 5
/* Idle connections kept for reuse; more calls at once open connections of their own. */
#define KMS_KMIP_IDLE_MAX 4

/* Settings of kms_kmip_conn_init; the strings are borrowed for the duration of the call. */
struct kms_kmip_conn_settings {
    const char *host;
    const char *port;
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    int timeout_ms;
};

/* The server's address, the TLS context and the kept-alive connections. */
struct kms_kmip_conn_pool {
    char host[KMS_KMIP_HOST_MAX + 1];
    char port[KMS_KMIP_PORT_MAX + 1];
    int timeout_ms;
    SSL_CTX *ctx; /* owned */

    /* lock guards idle and idle_count; a connection taken from idle belongs to one call until put back */
    pthread_mutex_t lock;
    bool lock_ready;
    SSL *idle[KMS_KMIP_IDLE_MAX]; /* owned */
    size_t idle_count;
};

/*
 * Loads the CA file, client certificate and key into a TLS context that requires TLS 1.2 or later and a
 * server certificate that names the host. The key file must not be accessible by group or others.
 * Connects nothing yet. On failure writes a message that names
 * the S3SEAL_KMIP_* setting at fault and returns CORE_CONFIG or CORE_NOMEM; call kms_kmip_conn_cleanup
 * in either case.
 */
enum core_err kms_kmip_conn_init(struct kms_kmip_conn_pool *pool, const struct kms_kmip_conn_settings *s,
                                 char *err, size_t err_cap) CORE_WARN_UNUSED;

/*
 * NOTE: OpenSSL writes with write(2), so a process that does not ignore SIGPIPE gets that signal when it
 * writes to a connection the server has closed. "s3seal serve" ignores it.
 *
 * Sends the request and reads one whole response message into resp, which must have room for
 * KMS_KMIP_RESPONSE_MAX bytes. Safe to call from several threads at once. Returns
 * CORE_KMS_UNAVAILABLE when the server cannot be reached, breaks the connection or sends no response before
 * the deadline, CORE_KMS_DENIED when it rejects the TLS handshake, and CORE_KMS when its certificate fails
 * verification or the response is not a KMIP response message. err then describes the failure.
 */
enum core_err kms_kmip_conn_call(struct kms_kmip_conn_pool *pool, const uint8_t *req, size_t req_len,
                                 uint8_t *resp, size_t *resp_len, char *err, size_t err_cap) CORE_WARN_UNUSED;

/* Closes the kept-alive connections and frees the TLS context. */
void kms_kmip_conn_cleanup(struct kms_kmip_conn_pool *pool);

#endif
