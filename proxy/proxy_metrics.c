/* SPDX-License-Identifier: Apache-2.0 */
/* Worker counters, histograms and their Prometheus text format; see proxy_metrics.h. */
#include "proxy/proxy_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double proxy_metrics_bounds_s[PROXY_METRICS_BOUND_COUNT] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                                  1,     2.5,  5,     10,   30,  60};

static const int counted_codes[PROXY_METRICS_CODE_COUNT] = {200, 201, 204, 206, 301, 304, 307, 400, 403, 404, 405,
                                                            409, 411, 412, 413, 416, 500, 501, 502, 503, 504};

static const char *const code_labels[PROXY_METRICS_STATUS_SLOTS] = {
    "200", "201", "204", "206", "301", "304", "307", "400", "403", "404", "405", "409", "411",
    "412", "413", "416", "500", "501", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", "none"};

static const char *const kms_op_names[PROXY_KMS_OP_COUNT] = {"unwrap", "generate", "wrap"};

static const char *const kms_provider_names[PROXY_KMS_PROVIDER_COUNT] = {"file", "pkcs11", "vault", "other"};

static const char *const upstream_error_names[PROXY_UPSTREAM_ERR_COUNT] = {"connect", "timeout", "closed",
                                                                           "protocol"};

struct proxy_metrics *proxy_metrics_new(void)
{
    /* a whole number of cache lines, so that two workers never write the same line */
    size_t size = (sizeof(struct proxy_metrics) + 63) / 64 * 64;
    struct proxy_metrics *m = aligned_alloc(64, size);

    if (m != NULL) {
        memset(m, 0, size);
    }
    return m;
}

void proxy_metrics_free(struct proxy_metrics *m)
{
    free(m);
}

size_t proxy_metrics_status_slot(int status)
{
    for (size_t i = 0; i < PROXY_METRICS_CODE_COUNT; i++) {
        if (counted_codes[i] == status) {
            return i;
        }
    }
    if (status == 0) {
        return PROXY_METRICS_CODE_COUNT + 5;
    }
    if (status < 100 || status > 599) {
        /* not an HTTP status; counted as a server error */
        return PROXY_METRICS_CODE_COUNT + 4;
    }
    return PROXY_METRICS_CODE_COUNT + (size_t)(status / 100 - 1);
}

const char *proxy_metrics_status_label(size_t slot)
{
    return slot < PROXY_METRICS_STATUS_SLOTS ? code_labels[slot] : "5xx";
}

static size_t bucket_of(uint64_t duration_us)
{
    size_t i = 0;

    while (i < PROXY_METRICS_BOUND_COUNT && (double)duration_us > proxy_metrics_bounds_s[i] * 1e6) {
        i++;
    }
    return i;
}

void proxy_metrics_observe(struct proxy_histogram *h, uint64_t duration_us)
{
    proxy_metrics_add(&h->buckets[bucket_of(duration_us)], 1);
    proxy_metrics_add(&h->sum_us, duration_us);
    proxy_metrics_add(&h->count, 1);
}

void proxy_metrics_observe_shared(struct proxy_histogram *h, uint64_t duration_us)
{
    atomic_fetch_add_explicit(&h->buckets[bucket_of(duration_us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, duration_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

enum proxy_kms_provider proxy_metrics_kms_provider(const char *id)
{
    size_t len = id != NULL ? strcspn(id, ":") : 0;

    if (len == 4 && strncmp(id, "file", 4) == 0) {
        return PROXY_KMS_PROVIDER_FILE;
    }
    if ((len == 3 && strncmp(id, "p11", 3) == 0) || (len == 6 && strncmp(id, "pkcs11", 6) == 0)) {
        return PROXY_KMS_PROVIDER_PKCS11;
    }
    if (len == 5 && strncmp(id, "vault", 5) == 0) {
        return PROXY_KMS_PROVIDER_VAULT;
    }
    return PROXY_KMS_PROVIDER_OTHER;
}

static uint64_t load(const _Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static void accumulate_histogram(const struct proxy_histogram *h, struct proxy_histogram_snapshot *out)
{
    for (size_t i = 0; i < PROXY_METRICS_BUCKET_COUNT; i++) {
        out->buckets[i] += load(&h->buckets[i]);
    }
    out->sum_us += load(&h->sum_us);
    out->count += load(&h->count);
}

void proxy_metrics_accumulate(const struct proxy_metrics *m, struct proxy_metrics_snapshot *out)
{
    for (size_t op = 0; op < S3_OP_COUNT; op++) {
        for (size_t slot = 0; slot < PROXY_METRICS_STATUS_SLOTS; slot++) {
            out->requests[op][slot] += load(&m->requests[op][slot]);
        }
        accumulate_histogram(&m->duration[op], &out->duration[op]);
    }
    out->bytes_in += load(&m->bytes_in);
    out->bytes_out += load(&m->bytes_out);
    out->bytes_encrypted += load(&m->bytes_encrypted);
    out->bytes_decrypted += load(&m->bytes_decrypted);
    for (size_t i = 0; i < PROXY_UPSTREAM_ERR_COUNT; i++) {
        out->upstream_errors[i] += load(&m->upstream_errors[i]);
    }
    out->auth_failures += load(&m->auth_failures);
    out->integrity_failures += load(&m->integrity_failures);
    out->connections_opened += load(&m->connections_opened);
    out->connections_closed += load(&m->connections_closed);
}

void proxy_metrics_accumulate_kms(const struct proxy_kms_metrics *m, struct proxy_metrics_snapshot *out)
{
    for (size_t p = 0; p < PROXY_KMS_PROVIDER_COUNT; p++) {
        for (size_t op = 0; op < PROXY_KMS_OP_COUNT; op++) {
            accumulate_histogram(&m->latency[p][op], &out->kms_latency[p][op]);
        }
    }
}

/* Formatting: evbuffer_add_printf returns -1 when the buffer cannot grow, which sticks in *failed. */
struct writer {
    struct evbuffer *out;
    bool failed;
};

static void put(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct writer *w, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (!w->failed && evbuffer_add_vprintf(w->out, fmt, ap) < 0) {
        w->failed = true;
    }
    va_end(ap);
}

static void put_header(struct writer *w, const char *name, const char *type, const char *help)
{
    put(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_counter(struct writer *w, const char *name, const char *help, uint64_t value)
{
    put_header(w, name, "counter", help);
    put(w, "%s %llu\n", name, (unsigned long long)value);
}

/* Writes the series of one histogram; labels is "" or a list such as op="GetObject". */
static void put_histogram(struct writer *w, const char *name, const char *labels,
                          const struct proxy_histogram_snapshot *h)
{
    const char *sep = labels[0] != '\0' ? "," : "";
    uint64_t cumulative = 0;

    for (size_t i = 0; i < PROXY_METRICS_BOUND_COUNT; i++) {
        cumulative += h->buckets[i];
        put(w, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, proxy_metrics_bounds_s[i],
            (unsigned long long)cumulative);
    }
    put(w, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)h->count);
    put(w, "%s_sum{%s} %.6f\n", name, labels, (double)h->sum_us / 1e6);
    put(w, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

static void put_requests(struct writer *w, const struct proxy_metrics_snapshot *s)
{
    char labels[96];

    put_header(w, "s3seal_requests_total", "counter",
               "Client requests that ended, by S3 operation and the status code sent to the client.");
    for (size_t op = 0; op < S3_OP_COUNT; op++) {
        for (size_t slot = 0; slot < PROXY_METRICS_STATUS_SLOTS; slot++) {
            if (s->requests[op][slot] != 0) {
                put(w, "s3seal_requests_total{op=\"%s\",code=\"%s\"} %llu\n", s3_op_name((enum s3_op)op),
                    proxy_metrics_status_label(slot), (unsigned long long)s->requests[op][slot]);
            }
        }
    }

    put_header(w, "s3seal_request_duration_seconds", "histogram",
               "Time from the first byte of a request to the end of its response, by S3 operation.");
    for (size_t op = 0; op < S3_OP_COUNT; op++) {
        if (s->duration[op].count != 0) {
            snprintf(labels, sizeof(labels), "op=\"%s\"", s3_op_name((enum s3_op)op));
            put_histogram(w, "s3seal_request_duration_seconds", labels, &s->duration[op]);
        }
    }
}

static void put_traffic(struct writer *w, const struct proxy_metrics_snapshot *s)
{
    put_counter(w, "s3seal_client_received_bytes_total", "Request bytes read from clients, heads included.",
                s->bytes_in);
    put_counter(w, "s3seal_client_sent_bytes_total", "Response bytes written to clients, heads included.",
                s->bytes_out);
    put_counter(w, "s3seal_encrypted_bytes_total", "Plaintext bytes s3seal encrypted before storing them.",
                s->bytes_encrypted);
    put_counter(w, "s3seal_decrypted_bytes_total", "Plaintext bytes s3seal decrypted and sent to clients.",
                s->bytes_decrypted);
    put_counter(w, "s3seal_connections_total", "Client connections accepted.", s->connections_opened);
    put_header(w, "s3seal_open_connections", "gauge", "Client connections open now.");
    put(w, "s3seal_open_connections %llu\n", (unsigned long long)(s->connections_opened - s->connections_closed));
}

static void put_failures(struct writer *w, const struct proxy_metrics_snapshot *s)
{
    put_header(w, "s3seal_upstream_errors_total", "counter",
               "Backend requests that failed, by reason: connect, timeout, closed or protocol.");
    for (size_t i = 0; i < PROXY_UPSTREAM_ERR_COUNT; i++) {
        put(w, "s3seal_upstream_errors_total{reason=\"%s\"} %llu\n", upstream_error_names[i],
            (unsigned long long)s->upstream_errors[i]);
    }
    put_counter(w, "s3seal_auth_failures_total",
                "Client requests rejected because their signature, access key, date or region was invalid.",
                s->auth_failures);
    put_counter(w, "s3seal_integrity_failures_total",
                "Stored objects that failed verification: changed, truncated or forged on the backend.",
                s->integrity_failures);
}

static void put_kms(struct writer *w, const struct proxy_metrics_snapshot *s)
{
    char labels[96];

    put_counter(w, "s3seal_kms_calls_total", "KMS calls made for client requests.", s->keys.kms_calls);
    put_counter(w, "s3seal_kms_failures_total", "KMS calls that failed.", s->keys.kms_failures);
    put_counter(w, "s3seal_kms_retries_total", "Unwraps retried after the KMS was unavailable.",
                s->keys.kms_retries);
    put_counter(w, "s3seal_kms_queue_rejections_total",
                "KMS calls refused because S3SEAL_KMS_QUEUE_MAX calls were waiting.", s->keys.kms_busy);
    put_counter(w, "s3seal_key_cache_hits_total", "Data keys found in the cache.", s->keys.cache_hits);
    put_counter(w, "s3seal_key_cache_misses_total", "Data keys not in the cache, so unwrapped by the KMS.",
                s->keys.cache_misses);
    put_counter(w, "s3seal_key_cache_evictions_total", "Cached data keys evicted to make room.",
                s->keys.cache_evictions);

    put_header(w, "s3seal_kms_call_duration_seconds", "histogram",
               "Duration of KMS calls, retries included, by provider and operation.");
    for (size_t p = 0; p < PROXY_KMS_PROVIDER_COUNT; p++) {
        for (size_t op = 0; op < PROXY_KMS_OP_COUNT; op++) {
            if (s->kms_latency[p][op].count != 0) {
                snprintf(labels, sizeof(labels), "provider=\"%s\",op=\"%s\"", kms_provider_names[p],
                         kms_op_names[op]);
                put_histogram(w, "s3seal_kms_call_duration_seconds", labels, &s->kms_latency[p][op]);
            }
        }
    }
}

enum core_err proxy_metrics_format(const struct proxy_metrics_snapshot *s, struct evbuffer *out)
{
    struct writer w = {.out = out, .failed = false};

    put_requests(&w, s);
    put_traffic(&w, s);
    put_failures(&w, s);
    put_kms(&w, s);
    return w.failed ? CORE_NOMEM : CORE_OK;
}
