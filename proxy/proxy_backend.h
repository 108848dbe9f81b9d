/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blocking S3 client for the backend, for administration commands that run
 * outside the event loop: one libcurl easy handle, requests signed with the
 * backend credentials of the configuration. The server itself uses
 * proxy_upstream.c instead.
 */
#ifndef PROXY_BACKEND_H
#define PROXY_BACKEND_H

#include <stddef.h>

#include "core/core_err.h"
#include "proxy/proxy_config.h"
#include "s3/s3_request.h"

/* Largest response body kept; larger bodies fail the request with CORE_TOO_LARGE. */
#define PROXY_BACKEND_BODY_MAX (16 * 1024 * 1024)

struct proxy_backend;

struct proxy_backend_request {
    const char *method; /* "GET", "HEAD", "PUT", "POST" or "DELETE" */
    const char *bucket;
    const char *key;   /* decoded object key, or NULL for a request on the bucket */
    const char *query; /* raw query with percent-encoded values, or NULL */
    /* extra headers, all of them signed; names in any case, values without CR or LF */
    const struct s3_header *headers;
    size_t header_count;
    const char *body; /* request body, or NULL for none */
    size_t body_len;
    long timeout_s; /* 0: no limit on the whole request (copies of large objects) */
};

struct proxy_backend_header {
    char *name;  /* owned, lower case */
    char *value; /* owned, without surrounding blanks */
};

struct proxy_backend_response {
    long status;
    struct proxy_backend_header *headers; /* owned, header_count entries */
    size_t header_count;
    size_t header_cap;
    char *body; /* owned, NUL-terminated, body_len bytes; NULL when empty */
    size_t body_len;
    size_t body_cap;
    char error[256]; /* why the request failed, set when proxy_backend_send does not return CORE_OK */
};

/*
 * Creates a client for the backend of cfg, which is borrowed and must
 * outlive the client. Returns CORE_NOMEM or CORE_INTERNAL when libcurl
 * cannot be set up.
 */
enum core_err proxy_backend_new(const struct proxy_config *cfg, struct proxy_backend **out) CORE_WARN_UNUSED;

void proxy_backend_free(struct proxy_backend *b);

/*
 * Signs req with SigV4 and sends it, then stores the status, the headers of
 * the final response and its body in resp, which the caller releases with
 * proxy_backend_response_cleanup. Any HTTP status is CORE_OK. Returns
 * CORE_UPSTREAM when the connection fails or times out,
 * CORE_TOO_LARGE for a body over PROXY_BACKEND_BODY_MAX, CORE_NOMEM, or
 * CORE_INTERNAL when the request cannot be signed. resp->error then
 * describes the failure.
 */
enum core_err proxy_backend_send(struct proxy_backend *b, const struct proxy_backend_request *req,
                                 struct proxy_backend_response *resp) CORE_WARN_UNUSED;

/* Returns the value of the first response header called name (lower case), or NULL. */
const char *proxy_backend_header(const struct proxy_backend_response *resp, const char *name);

void proxy_backend_response_cleanup(struct proxy_backend_response *resp);

#endif
