/* SPDX-License-Identifier: Apache-2.0 */
/* The server: worker threads, each with an event loop and a listening socket. */
#ifndef PROXY_SERVER_H
#define PROXY_SERVER_H

#include <openssl/ssl.h>

#include "core/core_err.h"
#include "kms/kms.h"
#include "proxy/proxy_config.h"

/*
 * Binds the listening sockets, starts cfg->workers threads and serves until
 * SIGINT or SIGTERM, then drains: no new connections, requests in flight
 * get S3SEAL_DRAIN_TIMEOUT to finish. SIGHUP loads config_path (NULL: no
 * file) and the environment again and swaps the configuration in. Borrows
 * cfg and kms for the whole run. Returns CORE_IO when a socket cannot be
 * bound or the backend address cannot be resolved, after logging which.
 */
enum core_err proxy_server_run(const struct proxy_config *cfg, struct kms_provider *kms, const char *config_path)
    CORE_WARN_UNUSED;

/*
 * Builds the listener's TLS context from cfg's certificate and key files, logging why when they do
 * not load (CORE_CONFIG). The caller owns *out.
 */
enum core_err proxy_server_tls_new(const struct proxy_config *cfg, SSL_CTX **out) CORE_WARN_UNUSED;

#endif
