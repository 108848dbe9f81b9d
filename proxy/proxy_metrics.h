/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters and latency histograms for GET /metrics, and the per-request and per-connection state the
 * access log needs.
 *
 * Each worker owns one struct proxy_metrics and is the only thread that writes it, so a counter update
 * is a relaxed load and store with no lock and no atomic read-modify-write. The admin thread sums the
 * workers' structs with relaxed loads, so a scrape may mix neighbouring moments but never reads a
 * torn value. The KMS latency histograms are shared by the KMS threads and use relaxed fetch-add.
 */
#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core_err.h"
#include "proxy/proxy_keys.h"
#include "s3/s3_op.h"

/* Upper bounds of the latency histogram buckets, in seconds; one more bucket counts the rest (+Inf). */
#define PROXY_METRICS_BOUND_COUNT 13
#define PROXY_METRICS_BUCKET_COUNT (PROXY_METRICS_BOUND_COUNT + 1)
extern const double proxy_metrics_bounds_s[PROXY_METRICS_BOUND_COUNT];

/*
 * Status codes counted one by one; any other code is counted under its class ("4xx"), so the number of
 * series stays fixed whatever status a backend returns. A request that ended before any status line was sent
 * (the client went away) is counted under "none".
 */
#define PROXY_METRICS_CODE_COUNT 21
#define PROXY_METRICS_STATUS_SLOTS (PROXY_METRICS_CODE_COUNT + 6)

/* The cause of a failed backend request: the label reason of s3seal_upstream_errors_total. */
enum proxy_upstream_error {
    PROXY_UPSTREAM_ERR_CONNECT = 0, /* the TCP connection failed */
    PROXY_UPSTREAM_ERR_TIMEOUT,     /* no progress within S3SEAL_BACKEND_TIMEOUT */
    PROXY_UPSTREAM_ERR_CLOSED,      /* the backend closed the connection before the response ended */
    PROXY_UPSTREAM_ERR_PROTOCOL,    /* a response s3seal could not parse or use */
    PROXY_UPSTREAM_ERR_COUNT,
};

/* KMS operations timed by s3seal_kms_call_duration_seconds. */
enum proxy_kms_op {
    PROXY_KMS_OP_UNWRAP = 0,
    PROXY_KMS_OP_GENERATE,
    PROXY_KMS_OP_WRAP,
    PROXY_KMS_OP_COUNT,
};

/* Provider labels of the KMS latency histogram, matched by the prefix of a kms_id. */
enum proxy_kms_provider {
    PROXY_KMS_PROVIDER_FILE = 0,
    PROXY_KMS_PROVIDER_PKCS11, /* kms_id prefix "p11" */
    PROXY_KMS_PROVIDER_VAULT,
    PROXY_KMS_PROVIDER_OTHER,
    PROXY_KMS_PROVIDER_COUNT,
};

/* The party that ended a request: the access log field end=. */
enum proxy_end {
    PROXY_END_DONE = 0, /* the whole response went to the client */
    PROXY_END_CLIENT,   /* the client closed or stalled before the response was complete */
    PROXY_END_BACKEND,  /* the backend failed: no connection, a timeout, a cut or unusable response */
    PROXY_END_S3SEAL,   /* s3seal refused the request or the stored object, with an error or a cut */
};

struct proxy_histogram {
    _Atomic uint64_t buckets[PROXY_METRICS_BUCKET_COUNT]; /* not cumulative; the formatter adds them up */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
};

/* One worker's counters; written only by that worker's thread. */
struct proxy_metrics {
    _Atomic uint64_t requests[S3_OP_COUNT][PROXY_METRICS_STATUS_SLOTS];
    struct proxy_histogram duration[S3_OP_COUNT];
    _Atomic uint64_t bytes_in;        /* request bytes read from clients, heads included */
    _Atomic uint64_t bytes_out;       /* response bytes written to clients, heads included */
    _Atomic uint64_t bytes_encrypted; /* plaintext bytes sealed */
    _Atomic uint64_t bytes_decrypted; /* plaintext bytes opened and sent to clients */
    _Atomic uint64_t upstream_errors[PROXY_UPSTREAM_ERR_COUNT];
    _Atomic uint64_t auth_failures;
    _Atomic uint64_t integrity_failures;
    _Atomic uint64_t connections_opened;
    _Atomic uint64_t connections_closed;
};

/* The KMS call latencies of the key service, shared by its threads. */
struct proxy_kms_metrics {
    struct proxy_histogram latency[PROXY_KMS_PROVIDER_COUNT][PROXY_KMS_OP_COUNT];
};

/* Plain copies, summed over workers, for the formatter. */
struct proxy_histogram_snapshot {
    uint64_t buckets[PROXY_METRICS_BUCKET_COUNT];
    uint64_t sum_us;
    uint64_t count;
};

struct proxy_metrics_snapshot {
    uint64_t requests[S3_OP_COUNT][PROXY_METRICS_STATUS_SLOTS];
    struct proxy_histogram_snapshot duration[S3_OP_COUNT];
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t bytes_encrypted;
    uint64_t bytes_decrypted;
    uint64_t upstream_errors[PROXY_UPSTREAM_ERR_COUNT];
    uint64_t auth_failures;
    uint64_t integrity_failures;
    uint64_t connections_opened;
    uint64_t connections_closed;
    struct proxy_keys_stats keys;
    struct proxy_histogram_snapshot kms_latency[PROXY_KMS_PROVIDER_COUNT][PROXY_KMS_OP_COUNT];
};

/* Per-connection byte counts, kept by callbacks on the connection's buffers. */
struct proxy_conn_obs {
    uint64_t bytes_in;  /* bytes the request parser consumed */
    uint64_t bytes_out; /* bytes queued for the client */
    struct proxy_metrics *metrics; /* borrowed; the worker's */
    struct evbuffer_cb_entry *in_cb;  /* owned by the input buffer */
    struct evbuffer_cb_entry *out_cb; /* owned by the output buffer */
};

/* Per-request state for the access log and the request counters. */
struct proxy_request_obs {
    struct timespec start_wall; /* CLOCK_REALTIME when the request's first byte was parsed */
    int64_t start_us;           /* CLOCK_MONOTONIC, same moment */
    uint64_t conn_in_start;     /* the connection's counters at that moment */
    uint64_t conn_out_start;
    int status;                 /* status line sent to the client; 0 before one */
    int upstream_status;        /* last backend response status; 0 when none arrived */
    enum proxy_end end;
    bool end_set;               /* end was decided; later causes do not replace the first */
};

/* Allocates a zeroed worker struct on its own cache lines. Returns NULL when out of memory. */
struct proxy_metrics *proxy_metrics_new(void);

/* Frees m; NULL is fine. */
void proxy_metrics_free(struct proxy_metrics *m);

/* Adds n to a counter that only the calling thread writes. */
static inline void proxy_metrics_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}

/* Returns the slot of a status code in proxy_metrics.requests. */
size_t proxy_metrics_status_slot(int status);

/* Returns the code label of a slot: "200", "4xx" for a class, or "none". */
const char *proxy_metrics_status_label(size_t slot);

/* Records one observation of duration_us in a histogram that only the calling thread writes. */
void proxy_metrics_observe(struct proxy_histogram *h, uint64_t duration_us);

/* Records one observation in a histogram that several threads write. */
void proxy_metrics_observe_shared(struct proxy_histogram *h, uint64_t duration_us);

/* Returns the provider slot of a kms_id ("vault:k1"), key reference or provider name ("pkcs11"). */
enum proxy_kms_provider proxy_metrics_kms_provider(const char *id);

/* Adds the counters of m to out, reading each with a relaxed load. */
void proxy_metrics_accumulate(const struct proxy_metrics *m, struct proxy_metrics_snapshot *out);

/* Copies the KMS latency histograms into out. */
void proxy_metrics_accumulate_kms(const struct proxy_kms_metrics *m, struct proxy_metrics_snapshot *out);

/*
 * Appends the snapshot to out in the Prometheus text exposition format, version 0.0.4. Request series
 * with a zero count are left out. Returns CORE_NOMEM when out cannot grow.
 */
enum core_err proxy_metrics_format(const struct proxy_metrics_snapshot *s, struct evbuffer *out) CORE_WARN_UNUSED;

#endif
