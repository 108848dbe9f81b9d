/* SPDX-License-Identifier: Apache-2.0 */
/* The KMS thread pool and the data key cache; see proxy_keys.h. */
#include "proxy/proxy_keys.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "crypto/crypto_mac.h"
#include "kms/kms_secmem.h"
#include "proxy/proxy.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_metrics.h"

/* Slots probed for one cache key. When all are in use, the least recently used one is evicted. */
#define CACHE_PROBES 8

/* Pause before the first retry of an unwrap that found the KMS unavailable. Each later pause is four times longer. */
#define RETRY_FIRST_PAUSE_MS 50

enum job_op {
    JOB_UNWRAP,
    JOB_GENERATE,
    JOB_WRAP,
};

struct proxy_key_job {
    enum job_op op;
    uint8_t digest[32]; /* of the inputs, to recognise the request's repeated call */
    char key_ref[KMS_KEY_ID_MAX]; /* "" for the provider's configured key */
    char kms_id[KMS_KEY_ID_MAX];  /* unwrap input */
    uint8_t wrapped[KMS_WRAPPED_MAX];
    size_t wrapped_len;
    uint8_t *context; /* owned */
    size_t context_len;
    uint8_t dek[KMS_DEK_LEN]; /* wrap input, or unwrap and generate output; wiped on free */
    struct proxy_wrapped_key out;
    enum core_err result;

    atomic_bool abandoned;       /* the request went away; the call is skipped if not begun */
    struct proxy_worker *worker; /* whose mailbox receives the finished call */
    struct proxy_request *req;   /* worker loop only; NULL once the request went away */
    proxy_keys_ready_fn ready;
    bool finished; /* worker loop only: delivered to the request */
    bool check;    /* a readiness check of the KMS: no request, no counters, no cache entry */
    struct proxy_key_job *next;
};

struct cache_entry {
    uint8_t digest[32];
    uint8_t dek[KMS_DEK_LEN];
    int64_t expires_ms;
    uint64_t used; /* the cache's use counter at the last hit or insert; smaller is less recent */
    bool live;
};

struct key_cache {
    pthread_mutex_t lock;
    struct cache_entry *slots; /* owned; kms_secmem pages, NULL when the cache is off */
    size_t cap;
    int64_t ttl_ms;
    uint64_t uses; /* counts hits and inserts; a clock would give many entries the same time */
};

struct proxy_keys {
    struct kms_provider *kms; /* borrowed */
    const struct proxy_config *cfg;
    pthread_t *threads;
    int thread_count;
    int retries;

    pthread_mutex_t lock; /* guards the queue and stopping */
    pthread_cond_t wake;
    struct proxy_key_job *head;
    struct proxy_key_job *tail;
    size_t queued;
    size_t queue_max;
    bool stopping;

    struct key_cache cache;

    atomic_uint_fast64_t hits;
    atomic_uint_fast64_t misses;
    atomic_uint_fast64_t evictions;
    atomic_uint_fast64_t calls;
    atomic_uint_fast64_t failures;
    atomic_uint_fast64_t retried;
    atomic_uint_fast64_t busy;
    struct proxy_kms_metrics kms_metrics;

    /* the readiness check: at most one runs, and every caller waits for the one that runs */
    pthread_mutex_t check_lock;
    pthread_cond_t check_done;
    bool check_running;
    uint64_t check_started;  /* checks started so far */
    uint64_t check_finished; /* checks finished so far */
    enum core_err check_result;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hashes a tag byte and the parts with SHA-256, each part after its length so parts cannot run together. */
static enum core_err digest_parts(uint8_t tag, const void *const *parts, const size_t *lens, size_t count,
                                  uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    bool ok = md != NULL && EVP_DigestInit_ex(md, crypto_md_sha256(), NULL) == 1 && EVP_DigestUpdate(md, &tag, 1) == 1;

    for (size_t i = 0; ok && i < count; i++) {
        uint64_t n = lens[i];

        ok = EVP_DigestUpdate(md, &n, sizeof(n)) == 1 && EVP_DigestUpdate(md, parts[i], lens[i]) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? CORE_OK : CORE_INTERNAL;
}

static enum core_err unwrap_digest(const char *kms_id, const uint8_t *wrapped, size_t wrapped_len,
                                   const uint8_t *context, size_t context_len, uint8_t out[32])
{
    const void *parts[] = {kms_id, wrapped, context};
    const size_t lens[] = {strlen(kms_id), wrapped_len, context_len};

    return digest_parts('u', parts, lens, 3, out);
}

static enum core_err wrap_digest(uint8_t tag, const char *key_ref, const uint8_t *context, size_t context_len,
                                 uint8_t out[32])
{
    const void *parts[] = {key_ref, context};
    const size_t lens[] = {strlen(key_ref), context_len};

    return digest_parts(tag, parts, lens, 2, out);
}

static bool cache_enabled(const struct key_cache *c)
{
    return c->slots != NULL;
}

static size_t cache_home(const struct key_cache *c, const uint8_t digest[32])
{
    uint64_t h;

    memcpy(&h, digest, sizeof(h));
    return (size_t)(h % c->cap);
}

static bool cache_get(struct key_cache *c, const uint8_t digest[32], uint8_t dek[KMS_DEK_LEN])
{
    int64_t now = now_ms();
    size_t home;
    bool found = false;

    if (!cache_enabled(c)) {
        return false;
    }
    home = cache_home(c, digest);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < CACHE_PROBES && !found; i++) {
        struct cache_entry *e = &c->slots[(home + i) % c->cap];

        if (e->live && e->expires_ms > now && CRYPTO_memcmp(e->digest, digest, 32) == 0) {
            memcpy(dek, e->dek, KMS_DEK_LEN);
            e->used = ++c->uses;
            found = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Picks the slot for digest: its own, else a free or expired one, else the least recently used probed. */
static struct cache_entry *cache_slot(struct key_cache *c, const uint8_t digest[32], int64_t now, bool *evicts)
{
    size_t home = cache_home(c, digest);
    struct cache_entry *free_slot = NULL;
    struct cache_entry *oldest = NULL;

    *evicts = false;
    for (size_t i = 0; i < CACHE_PROBES; i++) {
        struct cache_entry *e = &c->slots[(home + i) % c->cap];

        if (e->live && CRYPTO_memcmp(e->digest, digest, 32) == 0) {
            return e;
        }
        if (!e->live || e->expires_ms <= now) {
            free_slot = free_slot != NULL ? free_slot : e;
        } else if (oldest == NULL || e->used < oldest->used) {
            oldest = e;
        }
    }
    if (free_slot != NULL) {
        return free_slot;
    }
    *evicts = true;
    return oldest;
}

static void cache_put(struct proxy_keys *k, const uint8_t digest[32], const uint8_t dek[KMS_DEK_LEN])
{
    struct key_cache *c = &k->cache;
    int64_t now = now_ms();
    struct cache_entry *e;
    bool evicts = false;

    if (!cache_enabled(c)) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    e = cache_slot(c, digest, now, &evicts);
    OPENSSL_cleanse(e, sizeof(*e));
    memcpy(e->digest, digest, 32);
    memcpy(e->dek, dek, KMS_DEK_LEN);
    e->expires_ms = now + c->ttl_ms;
    e->used = ++c->uses;
    e->live = true;
    pthread_mutex_unlock(&c->lock);
    if (evicts) {
        atomic_fetch_add(&k->evictions, 1);
    }
}

static void job_free(struct proxy_key_job *job)
{
    if (job == NULL) {
        return;
    }
    if (job->context != NULL) {
        OPENSSL_cleanse(job->context, job->context_len);
        free(job->context);
    }
    OPENSSL_cleanse(job, sizeof(*job));
    free(job);
}

static const char *op_name(enum job_op op)
{
    switch (op) {
    case JOB_UNWRAP:
        return "unwrap";
    case JOB_GENERATE:
        return "generate";
    default:
        return "wrap";
    }
}

/* Unwraps with bounded retries: an unavailable KMS may be back a moment later, and a GET loses nothing. */
static enum core_err run_unwrap(struct proxy_keys *k, struct proxy_key_job *job)
{
    enum core_err rc = CORE_KMS_UNAVAILABLE;
    long pause_ms = RETRY_FIRST_PAUSE_MS;

    for (int attempt = 0; attempt <= k->retries; attempt++) {
        if (attempt > 0) {
            struct timespec ts = {.tv_sec = pause_ms / 1000, .tv_nsec = (pause_ms % 1000) * 1000000};

            atomic_fetch_add(&k->retried, 1);
            nanosleep(&ts, NULL);
            pause_ms *= 4;
        }
        rc = kms_unwrap(k->kms, job->kms_id, job->wrapped, job->wrapped_len, job->context, job->context_len,
                        job->dek);
        if (rc != CORE_KMS_UNAVAILABLE) {
            break;
        }
    }
    return rc;
}

/*
 * Records the duration of a KMS call under its provider: the prefix of the kms_id it used, or for a wrap
 * that failed, of the key reference or the active provider.
 */
static void observe_latency(struct proxy_keys *k, const struct proxy_key_job *job, int64_t elapsed_ms)
{
    const char *id = job->kms_id;
    enum proxy_kms_op op = PROXY_KMS_OP_UNWRAP;

    if (job->op != JOB_UNWRAP) {
        op = job->op == JOB_GENERATE ? PROXY_KMS_OP_GENERATE : PROXY_KMS_OP_WRAP;
        id = k->cfg->kms_provider;
        if (job->result == CORE_OK) {
            id = job->out.kms_id;
        } else if (job->key_ref[0] != '\0') {
            id = job->key_ref;
        }
    }
    proxy_metrics_observe_shared(&k->kms_metrics.latency[proxy_metrics_kms_provider(id)][op],
                                 elapsed_ms > 0 ? (uint64_t)elapsed_ms * 1000 : 0);
}

static void run_job(struct proxy_keys *k, struct proxy_key_job *job)
{
    const char *key_ref = job->key_ref[0] != '\0' ? job->key_ref : NULL;
    uint8_t digest[32];
    int64_t started = now_ms();
    enum core_err rc;

    if (atomic_load(&job->abandoned)) {
        job->result = CORE_CLOSED;
        return;
    }
    if (!job->check) {
        atomic_fetch_add(&k->calls, 1);
    }
    switch (job->op) {
    case JOB_UNWRAP:
        job->result = run_unwrap(k, job);
        break;
    case JOB_GENERATE:
        job->result = kms_generate_with(k->kms, key_ref, job->context, job->context_len, job->dek, job->out.blob,
                                        sizeof(job->out.blob), &job->out.len, job->out.kms_id,
                                        sizeof(job->out.kms_id));
        break;
    case JOB_WRAP:
        job->result = kms_wrap_with(k->kms, key_ref, job->dek, job->context, job->context_len, job->out.blob,
                                    sizeof(job->out.blob), &job->out.len, job->out.kms_id, sizeof(job->out.kms_id));
        break;
    }

    if (!job->check) {
        observe_latency(k, job, now_ms() - started);
    }
    if (job->result != CORE_OK) {
        const char *key = job->kms_id;

        if (job->op != JOB_UNWRAP) {
            key = key_ref != NULL ? key_ref : "default";
        }
        if (!job->check) {
            atomic_fetch_add(&k->failures, 1);
        }
        core_log(CORE_LOG_ERROR, "kms", "%s failed after %lld ms: %s key=%s", op_name(job->op),
                 (long long)(now_ms() - started), core_err_str(job->result), key);
        return;
    }

    if (job->check) {
        return;
    }

    /* the cache is keyed by the envelope the object stores: the unwrap input, or what generate and wrap made */
    if (job->op == JOB_UNWRAP) {
        rc = unwrap_digest(job->kms_id, job->wrapped, job->wrapped_len, job->context, job->context_len, digest);
    } else {
        rc = unwrap_digest(job->out.kms_id, job->out.blob, job->out.len, job->context, job->context_len, digest);
    }
    if (rc == CORE_OK) {
        cache_put(k, digest, job->dek);
    }
}

/* Hands a finished call to its worker; the first call in an empty mailbox wakes the worker's loop. */
static void deliver(struct proxy_key_job *job)
{
    struct proxy_worker *w = job->worker;
    bool was_empty;

    pthread_mutex_lock(&w->keys_lock);
    was_empty = w->keys_done == NULL;
    job->next = w->keys_done;
    w->keys_done = job;
    pthread_mutex_unlock(&w->keys_lock);
    if (was_empty) {
        (void)send(w->keys_fds[1], "k", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
}

/* Publishes the result of a readiness check to its waiters and frees the call. */
static void finish_check(struct proxy_keys *k, struct proxy_key_job *job)
{
    pthread_mutex_lock(&k->check_lock);
    k->check_result = job->result;
    k->check_finished++;
    k->check_running = false;
    pthread_cond_broadcast(&k->check_done);
    pthread_mutex_unlock(&k->check_lock);
    job_free(job);
}

static void *thread_main(void *arg)
{
    struct proxy_keys *k = arg;

    for (;;) {
        struct proxy_key_job *job;

        pthread_mutex_lock(&k->lock);
        while (!k->stopping && k->head == NULL) {
            pthread_cond_wait(&k->wake, &k->lock);
        }
        if (k->stopping) {
            pthread_mutex_unlock(&k->lock);
            return NULL;
        }
        job = k->head;
        k->head = job->next;
        if (k->head == NULL) {
            k->tail = NULL;
        }
        k->queued--;
        pthread_mutex_unlock(&k->lock);

        job->next = NULL;
        run_job(k, job);
        if (job->check) {
            finish_check(k, job);
        } else {
            deliver(job);
        }
    }
}

enum core_err proxy_keys_start(const struct proxy_config *cfg, struct kms_provider *kms, struct proxy_keys **out,
                               char *err, size_t err_cap)
{
    struct proxy_keys *k = calloc(1, sizeof(*k));
    bool locked = false;

    *out = NULL;
    if (k == NULL) {
        snprintf(err, err_cap, "out of memory for the key service");
        return CORE_NOMEM;
    }
    k->kms = kms;
    k->cfg = cfg;
    k->retries = cfg->kms_retries;
    k->queue_max = (size_t)cfg->kms_queue_max;
    k->cache.cap = (size_t)cfg->key_cache_size;
    k->cache.ttl_ms = (int64_t)cfg->key_cache_ttl_s * 1000;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->wake, NULL);
    pthread_mutex_init(&k->cache.lock, NULL);
    pthread_mutex_init(&k->check_lock, NULL);
    pthread_cond_init(&k->check_done, NULL);

    if (k->cache.cap > 0 && k->cache.ttl_ms > 0 &&
        kms_secmem_alloc(k->cache.cap * sizeof(struct cache_entry), (void **)&k->cache.slots, &locked) != CORE_OK) {
        snprintf(err, err_cap, "cannot allocate the data key cache of %zu entries (S3SEAL_KEY_CACHE_SIZE)",
                 k->cache.cap);
        proxy_keys_stop(k);
        return CORE_NOMEM;
    }
    if (k->cache.slots != NULL && !locked) {
        core_log(CORE_LOG_WARN, "kms", "the data key cache could not be locked in memory (RLIMIT_MEMLOCK); "
                 "it may be swapped out");
    }

    k->threads = calloc((size_t)cfg->kms_threads, sizeof(*k->threads));
    for (int i = 0; k->threads != NULL && i < cfg->kms_threads; i++) {
        if (pthread_create(&k->threads[i], NULL, thread_main, k) != 0) {
            break;
        }
        k->thread_count++;
    }
    if (k->thread_count != cfg->kms_threads) {
        snprintf(err, err_cap, "cannot start %d KMS threads (S3SEAL_KMS_THREADS)", cfg->kms_threads);
        proxy_keys_stop(k);
        return CORE_IO;
    }
    core_log(CORE_LOG_NOTICE, "kms", "key service ready threads=%d cache_entries=%zu cache_ttl_s=%d",
             k->thread_count, k->cache.slots != NULL ? k->cache.cap : (size_t)0, cfg->key_cache_ttl_s);
    *out = k;
    return CORE_OK;
}

void proxy_keys_stop(struct proxy_keys *k)
{
    struct proxy_key_job *job;

    if (k == NULL) {
        return;
    }
    pthread_mutex_lock(&k->lock);
    k->stopping = true;
    pthread_cond_broadcast(&k->wake);
    pthread_mutex_unlock(&k->lock);
    for (int i = 0; i < k->thread_count; i++) {
        pthread_join(k->threads[i], NULL);
    }
    free(k->threads);

    /* calls never begun end as if the client had gone; their workers free them */
    while ((job = k->head) != NULL) {
        k->head = job->next;
        job->next = NULL;
        job->result = CORE_CLOSED;
        if (job->check) {
            finish_check(k, job);
        } else {
            deliver(job);
        }
    }
    if (k->cache.slots != NULL) {
        core_log(CORE_LOG_NOTICE, "kms", "data key cache hits=%llu misses=%llu evictions=%llu",
                 (unsigned long long)atomic_load(&k->hits), (unsigned long long)atomic_load(&k->misses),
                 (unsigned long long)atomic_load(&k->evictions));
        kms_secmem_free(k->cache.slots, k->cache.cap * sizeof(struct cache_entry));
    }
    pthread_mutex_destroy(&k->cache.lock);
    pthread_cond_destroy(&k->check_done);
    pthread_mutex_destroy(&k->check_lock);
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* Runs the ready callbacks of finished calls on the worker's own loop. */
static void on_mailbox(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_worker *w = arg;
    struct proxy_key_job *job;
    char bytes[64];

    (void)what;
    while (recv(fd, bytes, sizeof(bytes), MSG_DONTWAIT) > 0) {
    }
    pthread_mutex_lock(&w->keys_lock);
    job = w->keys_done;
    w->keys_done = NULL;
    pthread_mutex_unlock(&w->keys_lock);

    while (job != NULL) {
        struct proxy_key_job *next = job->next;

        job->next = NULL;
        job->finished = true;
        if (job->req == NULL) {
            job_free(job);
        } else {
            /* the callback may end the request, which frees the job through proxy_keys_release */
            job->ready(job->req);
        }
        job = next;
    }
}

enum core_err proxy_keys_worker_init(struct proxy_worker *w)
{
    pthread_mutex_init(&w->keys_lock, NULL);
    w->keys_lock_ready = true;
    if (evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, w->keys_fds) != 0) {
        core_log_errno(CORE_LOG_ERROR, "kms", "cannot create the KMS mailbox of worker %d", w->index);
        return CORE_IO;
    }
    evutil_make_socket_nonblocking(w->keys_fds[0]);
    evutil_make_socket_nonblocking(w->keys_fds[1]);
    w->keys_event = event_new(w->base, w->keys_fds[0], EV_READ | EV_PERSIST, on_mailbox, w);
    if (w->keys_event == NULL || event_add(w->keys_event, NULL) != 0) {
        return CORE_NOMEM;
    }
    return CORE_OK;
}

void proxy_keys_worker_cleanup(struct proxy_worker *w)
{
    struct proxy_key_job *job = w->keys_done;

    while (job != NULL) {
        struct proxy_key_job *next = job->next;

        if (job->req != NULL) {
            job->req->key_job = NULL;
        }
        job_free(job);
        job = next;
    }
    w->keys_done = NULL;
    if (w->keys_event != NULL) {
        event_free(w->keys_event);
        w->keys_event = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (w->keys_fds[i] >= 0) {
            evutil_closesocket(w->keys_fds[i]);
            w->keys_fds[i] = -1;
        }
    }
    if (w->keys_lock_ready) {
        pthread_mutex_destroy(&w->keys_lock);
        w->keys_lock_ready = false;
    }
}

void proxy_keys_release(struct proxy_request *req)
{
    struct proxy_key_job *job = req->key_job;

    if (job == NULL) {
        return;
    }
    req->key_job = NULL;
    if (job->finished) {
        job_free(job);
        return;
    }
    /* still queued or running: the worker frees it when it arrives */
    job->req = NULL;
    atomic_store(&job->abandoned, true);
}

/* Returns the request's finished call with this digest, or NULL; any other finished call is dropped. */
static struct proxy_key_job *take_finished(struct proxy_request *req, enum job_op op, const uint8_t digest[32])
{
    struct proxy_key_job *job = req->key_job;

    if (job == NULL || !job->finished) {
        return NULL;
    }
    if (job->op == op && CRYPTO_memcmp(job->digest, digest, 32) == 0) {
        req->key_job = NULL;
        return job;
    }
    proxy_keys_release(req);
    return NULL;
}

static struct proxy_key_job *job_new(struct proxy_request *req, enum job_op op, const uint8_t digest[32],
                                     const uint8_t *context, size_t context_len, proxy_keys_ready_fn ready)
{
    struct proxy_key_job *job = calloc(1, sizeof(*job));

    if (job == NULL) {
        return NULL;
    }
    job->context = malloc(context_len > 0 ? context_len : 1);
    if (job->context == NULL) {
        free(job);
        return NULL;
    }
    if (context_len > 0) {
        memcpy(job->context, context, context_len);
    }
    job->context_len = context_len;
    job->op = op;
    memcpy(job->digest, digest, 32);
    job->worker = req->conn->worker;
    job->req = req;
    job->ready = ready;
    atomic_init(&job->abandoned, false);
    return job;
}

/* Queues the call; a full queue means the KMS is not keeping up, which clients see as 503 and retry. */
static enum core_err submit(struct proxy_request *req, struct proxy_key_job *job)
{
    struct proxy_keys *k = req->conn->worker->keys;

    if (job == NULL) {
        return CORE_NOMEM;
    }
    pthread_mutex_lock(&k->lock);
    if (k->stopping || k->queued >= k->queue_max) {
        pthread_mutex_unlock(&k->lock);
        atomic_fetch_add(&k->busy, 1);
        core_log(CORE_LOG_WARN, "kms", "KMS queue full (%zu calls waiting; S3SEAL_KMS_QUEUE_MAX) r=%s",
                 k->queue_max, req->id);
        job_free(job);
        return CORE_KMS_UNAVAILABLE;
    }
    if (k->tail != NULL) {
        k->tail->next = job;
    } else {
        k->head = job;
    }
    k->tail = job;
    k->queued++;
    pthread_cond_signal(&k->wake);
    pthread_mutex_unlock(&k->lock);
    req->key_job = job;
    return CORE_AGAIN;
}

enum core_err proxy_keys_unwrap(struct proxy_request *req, const char *kms_id, const uint8_t *wrapped,
                                size_t wrapped_len, const uint8_t *context, size_t context_len,
                                uint8_t dek[KMS_DEK_LEN], proxy_keys_ready_fn ready)
{
    struct proxy_keys *k = req->conn->worker->keys;
    struct proxy_key_job *job;
    uint8_t digest[32];
    enum core_err rc;

    CORE_ENSURE(req->key_job == NULL || req->key_job->finished, CORE_INTERNAL);
    CORE_ENSURE(strlen(kms_id) < KMS_KEY_ID_MAX && wrapped_len <= KMS_WRAPPED_MAX, CORE_KMS);
    CORE_TRY(unwrap_digest(kms_id, wrapped, wrapped_len, context, context_len, digest));

    job = take_finished(req, JOB_UNWRAP, digest);
    if (job != NULL) {
        rc = job->result;
        if (rc == CORE_OK) {
            memcpy(dek, job->dek, KMS_DEK_LEN);
        }
        job_free(job);
        return rc;
    }
    if (cache_get(&k->cache, digest, dek)) {
        atomic_fetch_add(&k->hits, 1);
        return CORE_OK;
    }
    atomic_fetch_add(&k->misses, 1);

    job = job_new(req, JOB_UNWRAP, digest, context, context_len, ready);
    if (job != NULL) {
        memcpy(job->kms_id, kms_id, strlen(kms_id) + 1);
        memcpy(job->wrapped, wrapped, wrapped_len);
        job->wrapped_len = wrapped_len;
    }
    return submit(req, job);
}

/*
 * Writes the key reference the key policy names for the request's object, in its hashed-context form
 * when contexts are hashed, or "" for the active provider's own key.
 */
static enum core_err policy_key_ref(const struct proxy_request *req, char *out, size_t out_cap)
{
    const struct proxy_config *cfg = req->cfg;
    const char *ref = proxy_config_key_ref(cfg, req->target.bucket, req->target.key, req->target.key_len);

    out[0] = '\0';
    if (ref == NULL) {
        return CORE_OK;
    }
    return proxy_config_wrap_ref(cfg, ref, out, out_cap) ? CORE_OK : CORE_CONFIG;
}

/* Shared by generate and wrap: returns a finished call's result, or starts the call. */
static enum core_err wrap_call(struct proxy_request *req, enum job_op op, const uint8_t *dek_in,
                               const uint8_t *context, size_t context_len, uint8_t *dek_out,
                               struct proxy_wrapped_key *out, proxy_keys_ready_fn ready)
{
    char key_ref[KMS_KEY_ID_MAX];
    struct proxy_key_job *job;
    uint8_t digest[32];
    enum core_err rc;

    CORE_ENSURE(req->key_job == NULL || req->key_job->finished, CORE_INTERNAL);
    CORE_TRY(policy_key_ref(req, key_ref, sizeof(key_ref)));
    CORE_TRY(wrap_digest(op == JOB_GENERATE ? 'g' : 'w', key_ref, context, context_len, digest));

    job = take_finished(req, op, digest);
    if (job != NULL) {
        rc = job->result;
        if (rc == CORE_OK) {
            *out = job->out;
            if (dek_out != NULL) {
                memcpy(dek_out, job->dek, KMS_DEK_LEN);
            }
        }
        job_free(job);
        return rc;
    }

    job = job_new(req, op, digest, context, context_len, ready);
    if (job != NULL) {
        memcpy(job->key_ref, key_ref, strlen(key_ref) + 1);
        if (dek_in != NULL) {
            memcpy(job->dek, dek_in, KMS_DEK_LEN);
        }
    }
    return submit(req, job);
}

enum core_err proxy_keys_generate(struct proxy_request *req, const uint8_t *context, size_t context_len,
                                  uint8_t dek[KMS_DEK_LEN], struct proxy_wrapped_key *out,
                                  proxy_keys_ready_fn ready)
{
    return wrap_call(req, JOB_GENERATE, NULL, context, context_len, dek, out, ready);
}

enum core_err proxy_keys_wrap(struct proxy_request *req, const uint8_t dek[KMS_DEK_LEN], const uint8_t *context,
                              size_t context_len, struct proxy_wrapped_key *out, proxy_keys_ready_fn ready)
{
    return wrap_call(req, JOB_WRAP, dek, context, context_len, NULL, out, ready);
}

enum s3_error_code proxy_keys_s3_error(enum core_err err)
{
    switch (err) {
    case CORE_KMS_DENIED:
        return S3_ERR_KMS_DENIED;
    case CORE_CRYPTO:
        return S3_ERR_OBJECT_INTEGRITY;
    case CORE_NOMEM:
    case CORE_INTERNAL:
        return S3_ERR_INTERNAL_ERROR;
    default:
        return S3_ERR_KMS;
    }
}

void proxy_keys_get_stats(const struct proxy_keys *k, struct proxy_keys_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (k == NULL) {
        return;
    }
    out->cache_hits = atomic_load(&k->hits);
    out->cache_misses = atomic_load(&k->misses);
    out->cache_evictions = atomic_load(&k->evictions);
    out->kms_calls = atomic_load(&k->calls);
    out->kms_failures = atomic_load(&k->failures);
    out->kms_retries = atomic_load(&k->retried);
    out->kms_busy = atomic_load(&k->busy);
}

void proxy_keys_get_kms_metrics(const struct proxy_keys *k, struct proxy_metrics_snapshot *out)
{
    if (k != NULL) {
        proxy_metrics_accumulate_kms(&k->kms_metrics, out);
    }
}

/* Queues a readiness check: a wrap of a random key under the active provider's configured key. */
static enum core_err submit_check(struct proxy_keys *k)
{
    static const char context[] = "s3seal readiness check";
    struct proxy_key_job *job = calloc(1, sizeof(*job));

    if (job == NULL) {
        return CORE_NOMEM;
    }
    job->context = malloc(sizeof(context));
    if (job->context == NULL || RAND_bytes(job->dek, sizeof(job->dek)) != 1) {
        job_free(job);
        return CORE_NOMEM;
    }
    memcpy(job->context, context, sizeof(context));
    job->context_len = sizeof(context) - 1;
    job->op = JOB_WRAP;
    job->check = true;
    atomic_init(&job->abandoned, false);

    /* the check bypasses S3SEAL_KMS_QUEUE_MAX, so that a full queue still shows whether the KMS responds */
    pthread_mutex_lock(&k->lock);
    if (k->stopping) {
        pthread_mutex_unlock(&k->lock);
        job_free(job);
        return CORE_CLOSED;
    }
    if (k->tail != NULL) {
        k->tail->next = job;
    } else {
        k->head = job;
    }
    k->tail = job;
    k->queued++;
    pthread_cond_signal(&k->wake);
    pthread_mutex_unlock(&k->lock);
    return CORE_OK;
}

enum core_err proxy_keys_check(struct proxy_keys *k, int timeout_ms, char *reason, size_t reason_cap)
{
    struct timespec deadline;
    uint64_t wanted;
    enum core_err rc = CORE_OK;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&k->check_lock);
    if (!k->check_running) {
        rc = submit_check(k);
        if (rc == CORE_OK) {
            k->check_running = true;
            k->check_started++;
        }
    }
    /* a check that is still running from an earlier caller counts: no second call piles up behind it */
    wanted = k->check_started;
    while (rc == CORE_OK && k->check_finished < wanted) {
        if (pthread_cond_timedwait(&k->check_done, &k->check_lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (rc != CORE_OK) {
        snprintf(reason, reason_cap, "cannot start a KMS check: %s", core_err_str(rc));
    } else if (k->check_finished < wanted) {
        snprintf(reason, reason_cap, "the KMS did not answer a wrap within %d ms", timeout_ms);
        rc = CORE_KMS_UNAVAILABLE;
    } else if (k->check_result != CORE_OK) {
        snprintf(reason, reason_cap, "the KMS failed a wrap: %s", core_err_str(k->check_result));
        rc = k->check_result;
    }
    pthread_mutex_unlock(&k->check_lock);
    return rc;
}
