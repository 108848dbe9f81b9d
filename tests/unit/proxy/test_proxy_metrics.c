/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for proxy/proxy_metrics.c: status slots, histogram buckets, summing of worker counters and the
 * Prometheus text the admin listener serves. Each test formats a snapshot and checks whole lines.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/proxy_metrics.h"
#include "../crypto/test_check.h"

/* Formats s and returns the text as a NUL-terminated string the caller frees. */
static char *format(const struct proxy_metrics_snapshot *s)
{
    struct evbuffer *out = evbuffer_new();
    size_t len;
    char *text;

    CHECK(proxy_metrics_format(s, out) == CORE_OK);
    len = evbuffer_get_length(out);
    text = calloc(1, len + 1);
    evbuffer_remove(out, text, len);
    evbuffer_free(out);
    return text;
}

/* Tells whether text has line as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    const char *p = text;

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[len] == '\n') {
            return true;
        }
        p += len;
    }
    return false;
}

static void test_status_slots(void)
{
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(200)), "200") == 0);
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(503)), "503") == 0);
    /* case: codes outside the list fall into their class */
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(418)), "4xx") == 0);
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(299)), "2xx") == 0);
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(100)), "1xx") == 0);
    /* case: no status line at all, and values that are no HTTP status */
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(0)), "none") == 0);
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(999)), "5xx") == 0);
    CHECK(strcmp(proxy_metrics_status_label(proxy_metrics_status_slot(-1)), "5xx") == 0);
}

static void test_kms_provider_names(void)
{
    CHECK(proxy_metrics_kms_provider("file:k1") == PROXY_KMS_PROVIDER_FILE);
    CHECK(proxy_metrics_kms_provider("p11:kek") == PROXY_KMS_PROVIDER_PKCS11);
    CHECK(proxy_metrics_kms_provider("pkcs11") == PROXY_KMS_PROVIDER_PKCS11);
    CHECK(proxy_metrics_kms_provider("vault:transit-key") == PROXY_KMS_PROVIDER_VAULT);
    CHECK(proxy_metrics_kms_provider("filesystem:k1") == PROXY_KMS_PROVIDER_OTHER);
    CHECK(proxy_metrics_kms_provider(NULL) == PROXY_KMS_PROVIDER_OTHER);
}

/* Two workers' counters add up, and the histogram buckets come out cumulative. */
static void test_format_sums_workers(void)
{
    struct proxy_metrics *a = proxy_metrics_new();
    struct proxy_metrics *b = proxy_metrics_new();
    struct proxy_metrics_snapshot *s = calloc(1, sizeof(*s));
    char *text;

    proxy_metrics_add(&a->requests[S3_OP_GET_OBJECT][proxy_metrics_status_slot(200)], 3);
    proxy_metrics_add(&b->requests[S3_OP_GET_OBJECT][proxy_metrics_status_slot(200)], 2);
    proxy_metrics_add(&b->requests[S3_OP_PUT_OBJECT][proxy_metrics_status_slot(403)], 1);
    proxy_metrics_observe(&a->duration[S3_OP_GET_OBJECT], 3000);    /* 3 ms: first bucket */
    proxy_metrics_observe(&b->duration[S3_OP_GET_OBJECT], 70000);   /* 70 ms: le=0.1 */
    proxy_metrics_observe(&b->duration[S3_OP_GET_OBJECT], 90000000); /* 90 s: only +Inf */
    proxy_metrics_add(&a->bytes_in, 100);
    proxy_metrics_add(&b->bytes_in, 23);
    proxy_metrics_add(&a->integrity_failures, 1);
    proxy_metrics_add(&b->upstream_errors[PROXY_UPSTREAM_ERR_TIMEOUT], 4);
    proxy_metrics_add(&a->connections_opened, 5);
    proxy_metrics_add(&a->connections_closed, 3);
    proxy_metrics_accumulate(a, s);
    proxy_metrics_accumulate(b, s);
    s->keys.cache_hits = 7;
    s->keys.kms_calls = 9;

    text = format(s);
    CHECK(has_line(text, "# TYPE s3seal_requests_total counter"));
    CHECK(has_line(text, "s3seal_requests_total{op=\"GetObject\",code=\"200\"} 5"));
    CHECK(has_line(text, "s3seal_requests_total{op=\"PutObject\",code=\"403\"} 1"));
    /* case: a zero series is left out */
    CHECK(strstr(text, "op=\"DeleteObject\"") == NULL);

    CHECK(has_line(text, "# TYPE s3seal_request_duration_seconds histogram"));
    CHECK(has_line(text, "s3seal_request_duration_seconds_bucket{op=\"GetObject\",le=\"0.005\"} 1"));
    CHECK(has_line(text, "s3seal_request_duration_seconds_bucket{op=\"GetObject\",le=\"0.05\"} 1"));
    CHECK(has_line(text, "s3seal_request_duration_seconds_bucket{op=\"GetObject\",le=\"0.1\"} 2"));
    CHECK(has_line(text, "s3seal_request_duration_seconds_bucket{op=\"GetObject\",le=\"60\"} 2"));
    CHECK(has_line(text, "s3seal_request_duration_seconds_bucket{op=\"GetObject\",le=\"+Inf\"} 3"));
    CHECK(has_line(text, "s3seal_request_duration_seconds_sum{op=\"GetObject\"} 90.073000"));
    CHECK(has_line(text, "s3seal_request_duration_seconds_count{op=\"GetObject\"} 3"));

    CHECK(has_line(text, "s3seal_client_received_bytes_total 123"));
    CHECK(has_line(text, "s3seal_integrity_failures_total 1"));
    CHECK(has_line(text, "s3seal_upstream_errors_total{reason=\"timeout\"} 4"));
    CHECK(has_line(text, "s3seal_upstream_errors_total{reason=\"connect\"} 0"));
    CHECK(has_line(text, "s3seal_connections_total 5"));
    CHECK(has_line(text, "# TYPE s3seal_open_connections gauge"));
    CHECK(has_line(text, "s3seal_open_connections 2"));
    CHECK(has_line(text, "s3seal_key_cache_hits_total 7"));
    CHECK(has_line(text, "s3seal_kms_calls_total 9"));
    CHECK(has_line(text, "s3seal_auth_failures_total 0"));

    free(text);
    free(s);
    proxy_metrics_free(a);
    proxy_metrics_free(b);
}

/* Every line is a comment or "name{labels} value" with a metric name that starts with s3seal_. */
static void test_format_is_prometheus_text(void)
{
    struct proxy_metrics_snapshot *s = calloc(1, sizeof(*s));
    char *text;
    char *line;
    char *save = NULL;

    s->requests[S3_OP_HEAD_OBJECT][proxy_metrics_status_slot(404)] = 2;
    s->duration[S3_OP_HEAD_OBJECT].count = 2;
    s->duration[S3_OP_HEAD_OBJECT].buckets[0] = 2;
    s->kms_latency[PROXY_KMS_PROVIDER_VAULT][PROXY_KMS_OP_GENERATE].count = 1;
    s->kms_latency[PROXY_KMS_PROVIDER_VAULT][PROXY_KMS_OP_GENERATE].buckets[4] = 1;
    s->kms_latency[PROXY_KMS_PROVIDER_VAULT][PROXY_KMS_OP_GENERATE].sum_us = 80000;
    text = format(s);
    CHECK(text[strlen(text) - 1] == '\n');
    CHECK(has_line(text,
                   "s3seal_kms_call_duration_seconds_bucket{provider=\"vault\",op=\"generate\",le=\"0.05\"} 0"));
    CHECK(has_line(text,
                   "s3seal_kms_call_duration_seconds_bucket{provider=\"vault\",op=\"generate\",le=\"0.1\"} 1"));
    CHECK(has_line(text, "s3seal_kms_call_duration_seconds_sum{provider=\"vault\",op=\"generate\"} 0.080000"));

    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *space = strrchr(line, ' ');

        if (line[0] == '#') {
            CHECK(strncmp(line, "# HELP s3seal_", 14) == 0 || strncmp(line, "# TYPE s3seal_", 14) == 0);
            continue;
        }
        CHECK(strncmp(line, "s3seal_", 7) == 0);
        CHECK(space != NULL);
        if (space != NULL) {
            CHECK(space[1] != '\0');
            CHECK(strspn(space + 1, "0123456789.") == strlen(space + 1));
        }
    }
    free(text);
    free(s);
}

int main(void)
{
    RUN(test_status_slots);
    RUN(test_kms_provider_names);
    RUN(test_format_sums_workers);
    RUN(test_format_is_prometheus_text);
    return TEST_RESULT();
}
