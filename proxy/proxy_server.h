/* SPDX-License-Identifier: Apache-2.0 */
/* The server: worker threads, each with an event loop and a listening socket. */
#ifndef PROXY_SERVER_H
#define PROXY_SERVER_H

#include "core/core_err.h"
#include "kms/kms.h"
#include "proxy/proxy_config.h"

/*
 * Binds the listening sockets, starts cfg->workers threads and serves until
 * SIGINT or SIGTERM. Borrows cfg and kms for the whole run. Returns
 * CORE_IO when a socket cannot be bound or the backend address cannot be
 * resolved, after logging which.
 */
enum core_err proxy_server_run(const struct proxy_config *cfg, struct kms_provider *kms) CORE_WARN_UNUSED;

#endif
