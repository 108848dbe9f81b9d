/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration generations: a loaded configuration with the listener's TLS
 * context, shared by the workers and by the requests that started under it,
 * and freed when the last of them lets it go. SIGHUP builds a new generation
 * here; the server hands it to each worker.
 */
#ifndef PROXY_RELOAD_H
#define PROXY_RELOAD_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/core_err.h"
#include "kms/kms.h"
#include "proxy/proxy_config.h"

struct proxy_generation {
    atomic_uint refs;
    unsigned number;          /* 0 for the start-up configuration */
    const struct proxy_config *cfg; /* the settings; owned through owned, or borrowed */
    struct proxy_config *owned;     /* cfg when the generation frees it; NULL for the start-up settings */
    SSL_CTX *tls; /* one reference; NULL when the listener is plain HTTP */
};

/*
 * Makes a generation with one reference, held by the caller. It borrows cfg, or takes owned when that
 * is not NULL (cfg is ignored then), and takes the caller's reference to tls (which may be NULL).
 * Returns NULL when out of memory; nothing is taken then.
 */
struct proxy_generation *proxy_gen_new(const struct proxy_config *cfg, struct proxy_config *owned, SSL_CTX *tls,
                                       unsigned number);

/* Adds a reference and returns g; from any thread. */
struct proxy_generation *proxy_gen_ref(struct proxy_generation *g);

/* Drops a reference; the last one frees the generation. NULL is fine; from any thread. */
void proxy_gen_unref(struct proxy_generation *g);

/*
 * Settings that a reload cannot change (listen address, worker count, backend URL, key providers):
 * copies each from old into next where they differ, and writes the names of those settings,
 * comma-separated, into ignored ("" when none). Returns CORE_NOMEM when a copy fails.
 */
enum core_err proxy_reload_keep_fixed(const struct proxy_config *old, struct proxy_config *next, char *ignored,
                                      size_t ignored_cap) CORE_WARN_UNUSED;

/*
 * Builds the next generation from the configuration file (config_path, or none when NULL) and the
 * environment: loads and checks every setting, builds the TLS context, checks the key policy against kms
 * and keeps the fixed settings of old. On failure writes the reason into err and returns an error;
 * nothing changes then. On success *out holds one reference and ignored names the settings kept.
 */
enum core_err proxy_reload_build(const char *config_path, const struct proxy_generation *old,
                                 struct kms_provider *kms, struct proxy_generation **out, char *err,
                                 size_t err_cap, char *ignored, size_t ignored_cap) CORE_WARN_UNUSED;

#endif
