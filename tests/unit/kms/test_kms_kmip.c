/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the KMIP provider against a running KMIP server, and a measurement of wrap and unwrap latency.
 * tests/integration/kms_kmip.sh starts PyKMIP and runs this program with S3SEAL_TEST_KMIP_HOST, _PORT,
 * _CA_FILE, _CERT_FILE, _KEY_FILE and _KEY_ID set. Without them it exits 77, which ctest counts as
 * skipped. Prints one "ok - " or "not ok - " line per check on stdout, and "# " lines with the latency
 * on stderr.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "kms/kms.h"
#include "kms/kms_kmip.h"

#define SKIP_EXIT_CODE 77
#define CONTEXT "bucket-1/photos/cat.jpg"
#define LATENCY_CALLS 200
#define THREADS 4
#define CALLS_PER_THREAD 25
#define BLOB_LEN 61

static int failures;

static void check(int ok, const char *name)
{
    printf("%s - %s\n", ok ? "ok" : "not ok", name);
    if (!ok) {
        failures++;
    }
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Prints the 50th and 99th percentile of n samples in microseconds, sorting them. */
static void print_percentiles(const char *what, double *samples, size_t n)
{
    qsort(samples, n, sizeof(*samples), compare_double);
    fprintf(stderr, "# %s latency over %zu calls: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what, n,
            samples[n / 2] / 1000.0, samples[(n * 99) / 100] / 1000.0, samples[n - 1] / 1000.0);
}

static enum core_err wrap(struct kms_provider *p, const uint8_t dek[KMS_DEK_LEN], const char *context,
                          uint8_t blob[KMS_WRAPPED_MAX], size_t *blob_len, char kms_id[KMS_KEY_ID_MAX])
{
    return kms_wrap(p, dek, (const uint8_t *)context, strlen(context), blob, KMS_WRAPPED_MAX, blob_len, kms_id,
                    KMS_KEY_ID_MAX);
}

static enum core_err unwrap(struct kms_provider *p, const char *kms_id, const uint8_t *blob, size_t blob_len,
                            const char *context, uint8_t dek[KMS_DEK_LEN])
{
    return kms_unwrap(p, kms_id, blob, blob_len, (const uint8_t *)context, strlen(context), dek);
}

static void test_round_trip(struct kms_provider *p, const char *key_id)
{
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t blob_len = 0;
    char kms_id[KMS_KEY_ID_MAX];
    char expected_id[KMS_KEY_ID_MAX];

    RAND_bytes(dek, sizeof(dek));
    snprintf(expected_id, sizeof(expected_id), "kmip:%s", key_id);
    check(wrap(p, dek, CONTEXT, blob, &blob_len, kms_id) == CORE_OK, "wrap succeeds");
    check(blob_len == BLOB_LEN && blob[0] == 0x01, "blob is version 1 and 61 bytes");
    check(strcmp(kms_id, expected_id) == 0, "kms_id names the key");
    check(unwrap(p, kms_id, blob, blob_len, CONTEXT, out) == CORE_OK && memcmp(dek, out, sizeof(dek)) == 0,
          "unwrap returns the data key");
    check(unwrap(p, kms_id, blob, blob_len, CONTEXT "x", out) == CORE_CRYPTO, "other context is rejected");

    blob[BLOB_LEN - 1] ^= 0x01;
    check(unwrap(p, kms_id, blob, blob_len, CONTEXT, out) == CORE_CRYPTO, "changed tag is rejected");
    blob[BLOB_LEN - 1] ^= 0x01;
    blob[20] ^= 0x01;
    check(unwrap(p, kms_id, blob, blob_len, CONTEXT, out) == CORE_CRYPTO, "changed ciphertext is rejected");
    blob[20] ^= 0x01;
    check(unwrap(p, kms_id, blob, blob_len - 1, CONTEXT, out) == CORE_CRYPTO, "short blob is rejected");
    check(unwrap(p, "kmip:no-such-key", blob, blob_len, CONTEXT, out) == CORE_KMS, "unknown key id gives KMS error");
    check(kms_wrap_with(p, "kmip:no-such-key", dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), blob, sizeof(blob),
                        &blob_len, kms_id, sizeof(kms_id)) == CORE_KMS, "wrap with unknown key gives KMS error");
}

struct worker {
    struct kms_provider *p;
    int failed;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        uint8_t dek[KMS_DEK_LEN];
        uint8_t out[KMS_DEK_LEN];
        uint8_t blob[KMS_WRAPPED_MAX];
        size_t blob_len = 0;
        char kms_id[KMS_KEY_ID_MAX];

        RAND_bytes(dek, sizeof(dek));
        if (wrap(w->p, dek, CONTEXT, blob, &blob_len, kms_id) != CORE_OK ||
            unwrap(w->p, kms_id, blob, blob_len, CONTEXT, out) != CORE_OK || memcmp(dek, out, sizeof(dek)) != 0) {
            w->failed++;
        }
    }
    return NULL;
}

static void test_threads(struct kms_provider *p)
{
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    int failed = 0;

    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.p = p};
        pthread_create(&threads[i], NULL, run_worker, &workers[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        failed += workers[i].failed;
    }
    check(failed == 0, "4 threads wrap and unwrap 25 keys each");
}

static void measure_latency(struct kms_provider *p)
{
    static double wrap_us[LATENCY_CALLS];
    static double unwrap_us[LATENCY_CALLS];
    uint8_t dek[KMS_DEK_LEN] = {0};
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t blob_len = 0;
    char kms_id[KMS_KEY_ID_MAX];
    int failed = 0;

    for (size_t i = 0; i < LATENCY_CALLS; i++) {
        double t0 = now_us();

        failed += wrap(p, dek, CONTEXT, blob, &blob_len, kms_id) != CORE_OK;
        wrap_us[i] = now_us() - t0;
        t0 = now_us();
        failed += unwrap(p, kms_id, blob, blob_len, CONTEXT, out) != CORE_OK;
        unwrap_us[i] = now_us() - t0;
    }
    check(failed == 0, "200 timed wrap and unwrap calls succeed");
    print_percentiles("wrap", wrap_us, LATENCY_CALLS);
    print_percentiles("unwrap", unwrap_us, LATENCY_CALLS);
}

int main(void)
{
    struct kms_kmip_settings s = {
        .host = getenv("S3SEAL_TEST_KMIP_HOST"),
        .port = getenv("S3SEAL_TEST_KMIP_PORT"),
        .ca_file = getenv("S3SEAL_TEST_KMIP_CA_FILE"),
        .cert_file = getenv("S3SEAL_TEST_KMIP_CERT_FILE"),
        .key_file = getenv("S3SEAL_TEST_KMIP_KEY_FILE"),
        .key_id = getenv("S3SEAL_TEST_KMIP_KEY_ID"),
    };
    struct kms_provider *p = NULL;
    char err[1024] = "";
    enum core_err rc;

    if (s.host == NULL || s.key_id == NULL) {
        fprintf(stderr, "skipped: S3SEAL_TEST_KMIP_HOST and the other S3SEAL_TEST_KMIP_* settings are not set; "
                "tests/integration/kms_kmip.sh sets them\n");
        return SKIP_EXIT_CODE;
    }
    rc = kms_kmip_load(&s, &p, err, sizeof(err));
    check(rc == CORE_OK, "provider loads and passes its start-up check");
    if (rc != CORE_OK) {
        fprintf(stderr, "kms_kmip_load: %s (%s)\n", err, core_err_str(rc));
        return 1;
    }
    test_round_trip(p, s.key_id);
    test_threads(p);
    measure_latency(p);
    kms_provider_free(p);
    return failures == 0 ? 0 : 1;
}
