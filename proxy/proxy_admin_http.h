/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin listener (S3SEAL_ADMIN_LISTEN): a thread of its own with a libevent evhttp server that
 * serves GET /metrics in the Prometheus text format, GET /healthz and GET /readyz. It reads the workers'
 * counters and never touches their event loops, so a slow scrape or readiness check delays no request.
 */
#ifndef PROXY_ADMIN_HTTP_H
#define PROXY_ADMIN_HTTP_H

#include "core/core_err.h"

struct proxy_config;
struct proxy_keys;
struct proxy_worker;
struct proxy_admin_http;

/* Milliseconds the backend may take to accept a connection and send a status line to /readyz's check. */
#define PROXY_ADMIN_BACKEND_TIMEOUT_MS 1000
/* Milliseconds the KMS may take to wrap a test key for /readyz's check. */
#define PROXY_ADMIN_KMS_TIMEOUT_MS 2000
/* Milliseconds a /readyz result is reused, so that frequent probes cannot load the backend or the KMS. */
#define PROXY_ADMIN_READY_CACHE_MS 2000

/*
 * Binds cfg->admin_host:cfg->admin_port and starts the admin thread. Borrows cfg, the worker array (whose
 * metrics must exist) and keys until proxy_admin_http_stop. Returns CORE_IO, after logging, when the
 * address cannot be bound.
 */
enum core_err proxy_admin_http_start(const struct proxy_config *cfg, const struct proxy_worker *workers,
                                     int worker_count, struct proxy_keys *keys,
                                     struct proxy_admin_http **out) CORE_WARN_UNUSED;

/* Stops the thread and frees the listener. Call before proxy_keys_stop. a may be NULL. */
void proxy_admin_http_stop(struct proxy_admin_http *a);

#endif
