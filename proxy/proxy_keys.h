/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key service: runs KMS calls on a small pool of threads so that no event loop ever waits on a KMS,
 * and keeps unwrapped data keys in a bounded cache so that hot objects do not cost a KMS call per GET.
 *
 * A request asks for a data key with proxy_keys_unwrap, proxy_keys_generate or proxy_keys_wrap. Each
 * returns CORE_OK with the result at once (from the cache, or from a KMS call this request already
 * finished), CORE_AGAIN after handing the call to a KMS thread, or the error of the finished call. After
 * CORE_AGAIN the request stops where it is; when the call ends, the ready callback runs on the request's
 * worker loop, and the request repeats the same call with the same inputs to take the result.
 */
#ifndef PROXY_KEYS_H
#define PROXY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"
#include "kms/kms.h"
#include "s3/s3_error.h"

struct proxy_config;
struct proxy_request;
struct proxy_worker;
struct proxy_keys;

/* Runs on the request's worker loop once the KMS call it started has ended, successfully or not. */
typedef void (*proxy_keys_ready_fn)(struct proxy_request *req);

/* A wrapped data key as a KMS returned it. */
struct proxy_wrapped_key {
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t len;
    char kms_id[KMS_KEY_ID_MAX];
};

/* Counters since start-up; read without locks, so a snapshot may mix neighbouring moments. */
struct proxy_keys_stats {
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t cache_evictions;
    uint64_t kms_calls;
    uint64_t kms_failures;
    uint64_t kms_retries;
    uint64_t kms_busy; /* calls refused because the queue was full */
};

/*
 * Starts cfg->kms_threads threads that call kms, and a cache of cfg->key_cache_size data keys kept for
 * cfg->key_cache_ttl_s seconds (a size of 0 turns the cache off). kms is borrowed and must outlive the
 * service. On failure writes an English message into err.
 */
enum core_err proxy_keys_start(const struct proxy_config *cfg, struct kms_provider *kms, struct proxy_keys **out,
                               char *err, size_t err_cap) CORE_WARN_UNUSED;

/*
 * Waits for the KMS threads to finish the call each is in (bounded by the providers' timeouts), drops
 * queued calls, wipes the cache and frees the service. Stop the workers' loops first. k may be NULL.
 */
void proxy_keys_stop(struct proxy_keys *k);

/* Sets up the worker's mailbox for finished KMS calls on its event base; call before the loop runs. */
enum core_err proxy_keys_worker_init(struct proxy_worker *w) CORE_WARN_UNUSED;

/* Frees the worker's mailbox and every finished call still in it, after the loop and proxy_keys_stop. */
void proxy_keys_worker_cleanup(struct proxy_worker *w);

/*
 * The data key of an envelope: kms_id and the wrapped blob, bound to context. CORE_CRYPTO means the blob
 * does not unwrap under this context (tampering or a swapped envelope); see proxy_keys_s3_error for the
 * others. dek is written only on CORE_OK.
 */
enum core_err proxy_keys_unwrap(struct proxy_request *req, const char *kms_id, const uint8_t *wrapped,
                                size_t wrapped_len, const uint8_t *context, size_t context_len,
                                uint8_t dek[KMS_DEK_LEN], proxy_keys_ready_fn ready) CORE_WARN_UNUSED;

/*
 * A fresh data key for context, wrapped under the master key the key policy names for the request's
 * bucket and key. The key enters the cache, so the first GET of the new object needs no KMS call.
 */
enum core_err proxy_keys_generate(struct proxy_request *req, const uint8_t *context, size_t context_len,
                                  uint8_t dek[KMS_DEK_LEN], struct proxy_wrapped_key *out,
                                  proxy_keys_ready_fn ready) CORE_WARN_UNUSED;

/* dek wrapped for context under the master key the key policy names for the request's bucket and key. */
enum core_err proxy_keys_wrap(struct proxy_request *req, const uint8_t dek[KMS_DEK_LEN], const uint8_t *context,
                              size_t context_len, struct proxy_wrapped_key *out,
                              proxy_keys_ready_fn ready) CORE_WARN_UNUSED;

/* Forgets the request's KMS call; a call still running is finished and discarded. */
void proxy_keys_release(struct proxy_request *req);

/* The S3 error for a failed KMS call: 503 for an unavailable KMS, 403 when it denied access. */
enum s3_error_code proxy_keys_s3_error(enum core_err err);

/* Copies the counters. */
void proxy_keys_get_stats(const struct proxy_keys *k, struct proxy_keys_stats *out);

struct proxy_metrics_snapshot;

/* Adds the KMS call latency histograms to out; k may be NULL. */
void proxy_keys_get_kms_metrics(const struct proxy_keys *k, struct proxy_metrics_snapshot *out);

/*
 * Checks that the active provider responds: wraps a random key under its configured key on a KMS thread
 * and waits at most timeout_ms. Blocks the caller, so call it from the admin thread, never from a worker
 * loop. Concurrent callers share one running check. Returns CORE_OK, or an error with a one-line English
 * reason. Checks count in no KMS counter or histogram.
 */
enum core_err proxy_keys_check(struct proxy_keys *k, int timeout_ms, char *reason, size_t reason_cap)
    CORE_WARN_UNUSED;

#endif
