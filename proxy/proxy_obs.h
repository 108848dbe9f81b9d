/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The access log and the request-path hooks of the metrics: one key=value line per request, written
 * through core_log at level notice with module "access", and the counters each request, connection and
 * backend failure moves. The line format is documented in docs/OPERATIONS.md.
 */
#ifndef PROXY_OBS_H
#define PROXY_OBS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proxy/proxy_metrics.h"

struct proxy_conn;
struct proxy_request;
struct proxy_worker;

/* The fields of one access log line; every string is borrowed. */
struct proxy_access_entry {
    struct timespec start;  /* CLOCK_REALTIME at the request's first byte */
    const char *request_id;
    const char *client;     /* "address:port" */
    const char *op;         /* s3_op_name */
    const char *bucket;     /* decoded; NULL for the service */
    const char *key;        /* decoded object key, no query string; NULL for none */
    size_t key_len;         /* a key may contain NUL bytes */
    int status;             /* sent to the client; 0 when no status line was sent */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t duration_us;
    int upstream_status;    /* 0 when the backend sent no response */
    enum proxy_end end;
};

/*
 * Writes the line for e into out (at most cap bytes, NUL-terminated) and returns its length, or the
 * length it would have had when cap is too small, as snprintf does. Bucket and key are percent-encoded
 * outside A-Z a-z 0-9 - . _ ~ /, so a value never contains a space, '=' or a control byte.
 */
size_t proxy_access_format(const struct proxy_access_entry *e, char *out, size_t cap);

/*
 * Fills out from a request: the parsed target (never the raw request target, its query string or any
 * header), the client address, the status and byte counts. The strings stay borrowed from req.
 */
void proxy_obs_access_entry(const struct proxy_request *req, uint64_t duration_us, struct proxy_access_entry *out);

/* Returns the name of end as the line writes it: done, client, backend or s3seal. */
const char *proxy_access_end_name(enum proxy_end end);

/* Registers the byte counters on a new connection's buffers and counts it as open. */
void proxy_obs_conn_open(struct proxy_conn *c);

/* Removes the byte counters and counts the connection as closed; call before its bufferevent is freed. */
void proxy_obs_conn_close(struct proxy_conn *c);

/* Notes the start of a request, when llhttp begins parsing it. */
void proxy_obs_request_begin(struct proxy_request *req);

/* Records the status line sent to the client; a later one (an error after a held-back head) replaces it. */
void proxy_obs_response_status(struct proxy_request *req, int status);

/* Records who ended the request; the first cause recorded wins. */
void proxy_obs_request_end_by(struct proxy_request *req, enum proxy_end end);

/* Counts the request and writes its access log line; call once, when the request is freed. */
void proxy_obs_request_end(struct proxy_request *req);

/* Counts a failed backend request and marks its client request as ended by the backend. req may be NULL. */
void proxy_obs_upstream_error(struct proxy_worker *w, struct proxy_request *req, enum proxy_upstream_error kind);

/* Counts a request whose authentication failed. */
void proxy_obs_auth_failure(struct proxy_request *req);

/* Counts a stored object that failed verification. */
void proxy_obs_integrity_failure(const struct proxy_request *req);

/* Counts plaintext bytes sealed for the backend. */
void proxy_obs_encrypted(const struct proxy_request *req, size_t len);

/* Counts plaintext bytes opened for the client. */
void proxy_obs_decrypted(const struct proxy_request *req, size_t len);

#endif
