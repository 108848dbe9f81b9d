/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the key service (proxy/proxy_keys.h): KMS calls run on KMS threads and finish on the worker's
 * event loop, the loop keeps running while a KMS call is slow, unwrapped keys come from the cache the
 * second time, a full queue fails at once, and a request that goes away leaves nothing behind. The
 * provider is a test provider inside this file whose wrap is the identity and whose speed and failures
 * the tests set.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "kms/kms_provider.h"
#include "proxy/proxy.h"
#include "proxy/proxy_keys.h"
#include "proxy/proxy_metrics.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

struct test_provider {
    struct kms_provider base;
    atomic_int delay_ms;
    atomic_int unwraps;
    atomic_int wraps;
    atomic_int unavailable_left; /* unwraps that return CORE_KMS_UNAVAILABLE before one succeeds */
    atomic_int deny;             /* every call returns CORE_KMS_DENIED */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static enum core_err test_wrap(struct kms_provider *p, const char *want, const uint8_t dek[KMS_DEK_LEN],
                               const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                               size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct test_provider *t = (struct test_provider *)p;

    (void)context;
    (void)context_len;
    atomic_fetch_add(&t->wraps, 1);
    sleep_ms(atomic_load(&t->delay_ms));
    if (atomic_load(&t->deny)) {
        return CORE_KMS_DENIED;
    }
    if (wrapped_cap < KMS_DEK_LEN || key_id_cap < 3) {
        return CORE_TOO_LARGE;
    }
    memcpy(wrapped, dek, KMS_DEK_LEN);
    *wrapped_len = KMS_DEK_LEN;
    snprintf(key_id, key_id_cap, "%s", want != NULL ? want : "k1");
    return CORE_OK;
}

static enum core_err test_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                 size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                 size_t dek_cap, size_t *dek_len)
{
    struct test_provider *t = (struct test_provider *)p;

    (void)key_id;
    (void)context;
    (void)context_len;
    atomic_fetch_add(&t->unwraps, 1);
    sleep_ms(atomic_load(&t->delay_ms));
    if (atomic_load(&t->deny)) {
        return CORE_KMS_DENIED;
    }
    if (atomic_load(&t->unavailable_left) > 0) {
        atomic_fetch_sub(&t->unavailable_left, 1);
        return CORE_KMS_UNAVAILABLE;
    }
    if (wrapped_len != KMS_DEK_LEN || dek_cap < KMS_DEK_LEN) {
        return CORE_CRYPTO;
    }
    memcpy(dek, wrapped, KMS_DEK_LEN);
    *dek_len = KMS_DEK_LEN;
    return CORE_OK;
}

static void test_free(struct kms_provider *p)
{
    (void)p;
}

static const struct kms_provider_ops test_ops = {
    .name = "test", .wrap = test_wrap, .unwrap = test_unwrap, .free = test_free};

/* One worker with its loop, one connection and requests on it: what the key service needs of the server. */
struct fixture {
    struct test_provider provider;
    struct proxy_config cfg;
    struct proxy_keys *keys;
    struct proxy_worker worker;
    struct proxy_conn conn;
    int ready_calls;
};

static struct fixture *fx;

/* Names the requests and the key policy point at; target and rule fields are not const. */
static char bucket_name[] = "bucket";
static char key_name[] = "key";
static char other_key_name[] = "other";
static char rule_prefix[] = "bucket/k";
static char rule_key_ref[] = "test:k7";

static void on_ready(struct proxy_request *req)
{
    (void)req;
    fx->ready_calls++;
    event_base_loopbreak(fx->worker.base);
}

static void fixture_init(struct fixture *f, int threads, int queue_max, int cache_size)
{
    char err[256] = "";

    memset(f, 0, sizeof(*f));
    f->provider.base.ops = &test_ops;
    f->cfg.kms_threads = threads;
    f->cfg.kms_queue_max = queue_max;
    f->cfg.kms_retries = 2;
    f->cfg.key_cache_size = cache_size;
    f->cfg.key_cache_ttl_s = 60;
    CHECK(proxy_keys_start(&f->cfg, &f->provider.base, &f->keys, err, sizeof(err)) == CORE_OK);
    f->worker.base = event_base_new();
    f->worker.cfg = &f->cfg;
    f->worker.keys = f->keys;
    f->worker.keys_fds[0] = -1;
    f->worker.keys_fds[1] = -1;
    CHECK(proxy_keys_worker_init(&f->worker) == CORE_OK);
    f->conn.worker = &f->worker;
    fx = f;
}

static void fixture_cleanup(struct fixture *f)
{
    proxy_keys_stop(f->keys);
    proxy_keys_worker_cleanup(&f->worker);
    event_base_free(f->worker.base);
}

static struct proxy_request *request_new(struct fixture *f)
{
    struct proxy_request *req = calloc(1, sizeof(*req));

    req->conn = &f->conn;
    req->cfg = &f->cfg;
    req->target.bucket = bucket_name;
    req->target.key = key_name;
    req->target.key_len = 3;
    snprintf(req->id, sizeof(req->id), "test");
    return req;
}

static void request_free(struct proxy_request *req)
{
    proxy_keys_release(req);
    free(req);
}

/* Runs the worker's loop until a ready callback or the deadline. */
static void run_loop(struct fixture *f, int deadline_ms)
{
    struct timeval tv = {.tv_sec = deadline_ms / 1000, .tv_usec = (deadline_ms % 1000) * 1000};

    event_base_loopexit(f->worker.base, &tv);
    event_base_dispatch(f->worker.base);
}

/* Waits up to five seconds for the test provider to have begun count unwraps. */
static void wait_for_unwraps(struct fixture *f, int count)
{
    for (int i = 0; i < 500 && atomic_load(&f->provider.unwraps) < count; i++) {
        sleep_ms(10);
    }
}

static const uint8_t CONTEXT[] = "bucket/key";

static void test_unwrap_runs_off_loop_then_hits_cache(void)
{
    struct fixture f;
    struct proxy_request *req;
    struct proxy_keys_stats stats;
    uint8_t wrapped[KMS_DEK_LEN];
    uint8_t dek[KMS_DEK_LEN] = {0};

    fixture_init(&f, 2, 16, 64);
    memset(wrapped, 0x5a, sizeof(wrapped));
    req = request_new(&f);

    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_AGAIN);
    run_loop(&f, 5000);
    CHECK(f.ready_calls == 1);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_OK);
    CHECK(memcmp(dek, wrapped, sizeof(dek)) == 0);
    request_free(req);

    /* a second request for the same envelope needs no KMS call */
    req = request_new(&f);
    memset(dek, 0, sizeof(dek));
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_OK);
    CHECK(memcmp(dek, wrapped, sizeof(dek)) == 0);
    CHECK(atomic_load(&f.provider.unwraps) == 1);

    /* another context is another cache entry */
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT) - 1, dek,
                            on_ready) == CORE_AGAIN);
    run_loop(&f, 5000);
    CHECK(atomic_load(&f.provider.unwraps) == 2);
    request_free(req);

    proxy_keys_get_stats(f.keys, &stats);
    CHECK(stats.cache_hits == 1);
    CHECK(stats.cache_misses == 2);
    CHECK(stats.kms_calls == 2);
    fixture_cleanup(&f);
}

/*
 * The loop serves other events while a KMS call takes 300 ms: here a timer that fires after 20 ms. A
 * synchronous call would have returned CORE_OK only after those 300 ms.
 */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

static void test_slow_kms_does_not_stall_the_loop(void)
{
    struct fixture f;
    struct proxy_request *req;
    uint8_t wrapped[KMS_DEK_LEN] = {1};
    uint8_t dek[KMS_DEK_LEN];
    struct timeval twenty_ms = {.tv_sec = 0, .tv_usec = 20000};
    struct event *timer;
    int fired = 0;

    fixture_init(&f, 1, 16, 0);
    atomic_store(&f.provider.delay_ms, 300);
    req = request_new(&f);
    timer = evtimer_new(f.worker.base, on_timer, &fired);
    evtimer_add(timer, &twenty_ms);

    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_AGAIN);
    run_loop(&f, 50);
    CHECK(fired == 1);
    run_loop(&f, 5000);
    CHECK(f.ready_calls == 1);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_OK);
    event_free(timer);
    request_free(req);
    fixture_cleanup(&f);
}

static void test_unwrap_retries_an_unavailable_kms(void)
{
    struct fixture f;
    struct proxy_request *req;
    struct proxy_keys_stats stats;
    uint8_t wrapped[KMS_DEK_LEN] = {2};
    uint8_t dek[KMS_DEK_LEN];

    fixture_init(&f, 1, 16, 0);
    req = request_new(&f);

    /* two failures fit in the two retries */
    atomic_store(&f.provider.unavailable_left, 2);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_AGAIN);
    run_loop(&f, 5000);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_OK);
    CHECK(atomic_load(&f.provider.unwraps) == 3);

    /* three do not, and the request learns the KMS is unavailable: 503 */
    atomic_store(&f.provider.unavailable_left, 3);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_AGAIN);
    run_loop(&f, 5000);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_KMS_UNAVAILABLE);
    CHECK(proxy_keys_s3_error(CORE_KMS_UNAVAILABLE) == S3_ERR_KMS);
    CHECK(s3_error_status(S3_ERR_KMS) == 503);

    /* a denial is never retried and becomes 403 */
    atomic_store(&f.provider.unavailable_left, 0);
    atomic_store(&f.provider.deny, 1);
    atomic_store(&f.provider.unwraps, 0);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_AGAIN);
    run_loop(&f, 5000);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_KMS_DENIED);
    CHECK(atomic_load(&f.provider.unwraps) == 1);
    CHECK(s3_error_status(proxy_keys_s3_error(CORE_KMS_DENIED)) == 403);

    proxy_keys_get_stats(f.keys, &stats);
    CHECK(stats.kms_retries == 4);
    request_free(req);
    fixture_cleanup(&f);
}

static void test_generate_follows_key_policy_and_fills_cache(void)
{
    struct fixture f;
    struct proxy_request *req;
    struct proxy_wrapped_key out;
    struct proxy_key_rule rule = {.prefix = rule_prefix, .key_ref = rule_key_ref};
    uint8_t dek[KMS_DEK_LEN];
    uint8_t again[KMS_DEK_LEN];

    fixture_init(&f, 1, 16, 64);
    f.cfg.key_rules = &rule;
    f.cfg.key_rule_count = 1;
    req = request_new(&f);

    CHECK(proxy_keys_generate(req, CONTEXT, sizeof(CONTEXT), dek, &out, on_ready) == CORE_AGAIN);
    run_loop(&f, 5000);
    CHECK(proxy_keys_generate(req, CONTEXT, sizeof(CONTEXT), dek, &out, on_ready) == CORE_OK);
    CHECK(strcmp(out.kms_id, "test:k7") == 0);
    CHECK(out.len == KMS_DEK_LEN && memcmp(out.blob, dek, KMS_DEK_LEN) == 0);

    /* the first GET of the new object finds its key in the cache */
    CHECK(proxy_keys_unwrap(req, out.kms_id, out.blob, out.len, CONTEXT, sizeof(CONTEXT), again, on_ready) ==
          CORE_OK);
    CHECK(memcmp(again, dek, KMS_DEK_LEN) == 0);
    CHECK(atomic_load(&f.provider.unwraps) == 0);

    /* outside the rule's prefix the provider's own key applies */
    req->target.key = other_key_name;
    req->target.key_len = 5;
    CHECK(proxy_keys_wrap(req, dek, CONTEXT, sizeof(CONTEXT), &out, on_ready) == CORE_AGAIN);
    run_loop(&f, 5000);
    CHECK(proxy_keys_wrap(req, dek, CONTEXT, sizeof(CONTEXT), &out, on_ready) == CORE_OK);
    CHECK(strcmp(out.kms_id, "test:k1") == 0);
    request_free(req);
    fixture_cleanup(&f);
}

static void test_full_queue_and_abandoned_requests(void)
{
    struct fixture f;
    struct proxy_request *slow;
    struct proxy_request *queued;
    struct proxy_request *refused;
    uint8_t wrapped[KMS_DEK_LEN] = {3};
    uint8_t dek[KMS_DEK_LEN];

    fixture_init(&f, 1, 1, 0);
    atomic_store(&f.provider.delay_ms, 1000);
    slow = request_new(&f);
    queued = request_new(&f);
    refused = request_new(&f);

    CHECK(proxy_keys_unwrap(slow, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_AGAIN);
    /* once the one KMS thread took the first call, the second waits in the queue of one */
    wait_for_unwraps(&f, 1);
    CHECK(proxy_keys_unwrap(queued, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek,
                            on_ready) == CORE_AGAIN);
    CHECK(proxy_keys_unwrap(refused, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek,
                            on_ready) == CORE_KMS_UNAVAILABLE);

    /* both clients go away: the running call is discarded when it ends, the queued one is skipped */
    request_free(slow);
    request_free(queued);
    request_free(refused);
    run_loop(&f, 2000);
    CHECK(f.ready_calls == 0);
    CHECK(atomic_load(&f.provider.unwraps) == 1);
    fixture_cleanup(&f);
}

/* Unwraps under the i-th of several contexts, through the KMS unless cached; returns the call's result. */
static enum core_err unwrap_numbered(struct fixture *f, struct proxy_request *req, int i, bool *cached)
{
    uint8_t wrapped[KMS_DEK_LEN] = {4};
    uint8_t context[32];
    uint8_t dek[KMS_DEK_LEN];
    enum core_err rc;

    snprintf((char *)context, sizeof(context), "context %d", i);
    rc = proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), context, sizeof(context), dek, on_ready);
    *cached = rc == CORE_OK;
    if (rc == CORE_AGAIN) {
        run_loop(f, 5000);
        rc = proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), context, sizeof(context), dek, on_ready);
    }
    return rc;
}

static void test_cache_evicts_least_recently_used(void)
{
    struct fixture f;
    struct proxy_request *req;
    struct proxy_keys_stats stats;
    bool cached = false;

    /* eight slots, all probed for every key: the ninth key evicts the least recently used */
    fixture_init(&f, 1, 16, 8);
    req = request_new(&f);
    for (int i = 0; i < 8; i++) {
        CHECK(unwrap_numbered(&f, req, i, &cached) == CORE_OK && !cached);
    }
    for (int i = 1; i < 8; i++) {
        CHECK(unwrap_numbered(&f, req, i, &cached) == CORE_OK && cached);
    }
    CHECK(unwrap_numbered(&f, req, 8, &cached) == CORE_OK && !cached);
    CHECK(unwrap_numbered(&f, req, 1, &cached) == CORE_OK && cached);
    CHECK(unwrap_numbered(&f, req, 0, &cached) == CORE_OK && !cached);

    proxy_keys_get_stats(f.keys, &stats);
    CHECK(stats.cache_evictions == 2);
    request_free(req);
    fixture_cleanup(&f);
}

/*
 * The readiness check wraps a test key on a KMS thread and counts in no KMS counter. A check that is
 * too slow reports a timeout; the next caller waits for that same check instead of starting another.
 * An unwrap for a client request lands in the latency histogram of its provider.
 */
static void test_readiness_check_and_latency(void)
{
    struct fixture f;
    struct proxy_request *req;
    struct proxy_keys_stats stats;
    struct proxy_metrics_snapshot *snap = calloc(1, sizeof(*snap));
    uint8_t wrapped[KMS_DEK_LEN];
    uint8_t dek[KMS_DEK_LEN] = {0};
    char reason[200] = "";

    fixture_init(&f, 2, 16, 64);

    /* case: the provider answers */
    CHECK(proxy_keys_check(f.keys, 2000, reason, sizeof(reason)) == CORE_OK);
    CHECK(atomic_load(&f.provider.wraps) == 1);

    /* case: the provider denies */
    atomic_store(&f.provider.deny, 1);
    CHECK(proxy_keys_check(f.keys, 2000, reason, sizeof(reason)) == CORE_KMS_DENIED);
    CHECK(strstr(reason, "failed a wrap") != NULL);
    atomic_store(&f.provider.deny, 0);

    /* case: the provider is slower than the timeout, and a second caller shares the running check */
    atomic_store(&f.provider.delay_ms, 300);
    CHECK(proxy_keys_check(f.keys, 50, reason, sizeof(reason)) == CORE_KMS_UNAVAILABLE);
    CHECK(strstr(reason, "did not answer") != NULL);
    CHECK(proxy_keys_check(f.keys, 2000, reason, sizeof(reason)) == CORE_OK);
    CHECK(atomic_load(&f.provider.wraps) == 3);
    atomic_store(&f.provider.delay_ms, 0);

    proxy_keys_get_stats(f.keys, &stats);
    CHECK(stats.kms_calls == 0);
    CHECK(stats.kms_failures == 0);

    /* case: a request's unwrap is timed under the provider named by its kms_id */
    memset(wrapped, 0x33, sizeof(wrapped));
    req = request_new(&f);
    CHECK(proxy_keys_unwrap(req, "test:k1", wrapped, sizeof(wrapped), CONTEXT, sizeof(CONTEXT), dek, on_ready) ==
          CORE_AGAIN);
    run_loop(&f, 5000);
    request_free(req);
    proxy_keys_get_kms_metrics(f.keys, snap);
    CHECK(snap->kms_latency[PROXY_KMS_PROVIDER_OTHER][PROXY_KMS_OP_UNWRAP].count == 1);
    CHECK(snap->kms_latency[PROXY_KMS_PROVIDER_OTHER][PROXY_KMS_OP_WRAP].count == 0);
    CHECK(snap->kms_latency[PROXY_KMS_PROVIDER_FILE][PROXY_KMS_OP_UNWRAP].count == 0);
    free(snap);
    fixture_cleanup(&f);
}

int main(void)
{
    test_unwrap_runs_off_loop_then_hits_cache();
    test_slow_kms_does_not_stall_the_loop();
    test_unwrap_retries_an_unavailable_kms();
    test_generate_follows_key_policy_and_fills_cache();
    test_full_queue_and_abandoned_requests();
    test_cache_evicts_least_recently_used();
    test_readiness_check_and_latency();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all key service checks passed\n");
    return 0;
}
