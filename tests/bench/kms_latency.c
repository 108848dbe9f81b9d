/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Measures the latency of kms_wrap and kms_unwrap with the key providers that the S3SEAL_* environment
 * settings name, as s3seal serve loads them. Each call wraps a fresh random data key under a distinct
 * context, then the blobs are unwrapped in the same order. Prints p50, p99 and max in microseconds.
 *
 * Usage: kms_latency [CALLS]   (200 when not given)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "kms/kms.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_kms.h"

struct wrapped_key {
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t len;
    char kms_id[KMS_KEY_ID_MAX];
};

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Sorts samples and prints the nearest-rank p50 and p99 and the maximum. */
static void print_percentiles(const char *name, double *samples, size_t count)
{
    qsort(samples, count, sizeof(samples[0]), compare_doubles);
    printf("%s calls=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f\n", name, count, samples[(count * 50 + 99) / 100 - 1],
           samples[(count * 99 + 99) / 100 - 1], samples[count - 1]);
}

static int run(struct kms_provider *kms, size_t calls, double *wrap_us, double *unwrap_us,
               struct wrapped_key *keys)
{
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    char context[64];
    enum core_err rc;

    for (size_t i = 0; i < calls; i++) {
        int context_len = snprintf(context, sizeof(context), "bench-bucket/object-%zu", i);
        double start;

        if (RAND_bytes(dek, sizeof(dek)) != 1) {
            return 1;
        }
        start = now_us();
        rc = kms_wrap(kms, dek, (const uint8_t *)context, (size_t)context_len, keys[i].blob, sizeof(keys[i].blob),
                      &keys[i].len, keys[i].kms_id, sizeof(keys[i].kms_id));
        wrap_us[i] = now_us() - start;
        if (rc != CORE_OK) {
            fprintf(stderr, "kms_latency: wrap %zu failed: %s\n", i, core_err_str(rc));
            return 1;
        }
    }
    for (size_t i = 0; i < calls; i++) {
        int context_len = snprintf(context, sizeof(context), "bench-bucket/object-%zu", i);
        double start = now_us();

        rc = kms_unwrap(kms, keys[i].kms_id, keys[i].blob, keys[i].len, (const uint8_t *)context,
                        (size_t)context_len, out);
        unwrap_us[i] = now_us() - start;
        if (rc != CORE_OK) {
            fprintf(stderr, "kms_latency: unwrap %zu failed: %s\n", i, core_err_str(rc));
            return 1;
        }
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(out, sizeof(out));
    return 0;
}

int main(int argc, char **argv)
{
    size_t calls = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
    struct proxy_config *cfg = NULL;
    struct kms_provider *kms = NULL;
    struct wrapped_key *keys = calloc(calls, sizeof(*keys));
    double *wrap_us = calloc(calls, sizeof(double));
    double *unwrap_us = calloc(calls, sizeof(double));
    char err[1024] = "";
    int status = 1;

    core_log_set_level(CORE_LOG_WARN);
    if (calls == 0 || keys == NULL || wrap_us == NULL || unwrap_us == NULL) {
        fprintf(stderr, "kms_latency: CALLS must be a positive number\n");
        goto out;
    }
    if (proxy_config_load_kms(&cfg, err, sizeof(err)) != CORE_OK || proxy_kms_load(cfg, &kms, err, sizeof(err)) !=
                                                                         CORE_OK) {
        fprintf(stderr, "kms_latency: %s\n", err);
        goto out;
    }
    status = run(kms, calls, wrap_us, unwrap_us, keys);
    if (status == 0) {
        printf("provider=%s\n", keys[0].kms_id);
        print_percentiles("wrap", wrap_us, calls);
        print_percentiles("unwrap", unwrap_us, calls);
    }

out:
    kms_provider_free(kms);
    proxy_config_free(cfg);
    free(keys);
    free(wrap_us);
    free(unwrap_us);
    return status;
}
