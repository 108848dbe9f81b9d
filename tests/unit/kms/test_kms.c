/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the provider-independent layer in kms/kms.c, driven by a fake provider whose results each
 * test sets, so that the checks on kms_id and on the DEK length are seen apart from any real provider.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms.h"
#include "kms/kms_provider.h"

static int failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                         \
        }                                                                       \
    } while (0)

/* A provider that returns canned results and counts calls. */
struct fake_provider {
    struct kms_provider base;
    const char *key_id;     /* written by wrap */
    size_t wrapped_len;     /* reported by wrap */
    size_t plaintext_len;   /* reported by unwrap */
    char last_key_id[KMS_KEY_ID_MAX];
    int unwrap_calls;
    int free_calls;
};

static enum core_err fake_wrap(struct kms_provider *p, const char *want_id, const uint8_t dek[KMS_DEK_LEN],
                               const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                               size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct fake_provider *f = (struct fake_provider *)p;

    (void)context;
    (void)context_len;
    if (want_id != NULL && strcmp(want_id, f->key_id) != 0) {
        return CORE_KMS;
    }
    if (wrapped_cap < KMS_DEK_LEN || strlen(f->key_id) >= key_id_cap) {
        return CORE_TOO_LARGE;
    }
    memcpy(wrapped, dek, KMS_DEK_LEN);
    memcpy(key_id, f->key_id, strlen(f->key_id) + 1);
    *wrapped_len = f->wrapped_len;
    return CORE_OK;
}

static enum core_err fake_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                 size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                 size_t dek_cap, size_t *dek_len)
{
    struct fake_provider *f = (struct fake_provider *)p;

    (void)wrapped;
    (void)wrapped_len;
    (void)context;
    (void)context_len;
    f->unwrap_calls++;
    snprintf(f->last_key_id, sizeof(f->last_key_id), "%s", key_id);
    memset(dek, 0xab, dek_cap);
    *dek_len = f->plaintext_len;
    return CORE_OK;
}

static void fake_free(struct kms_provider *p)
{
    ((struct fake_provider *)p)->free_calls++;
}

static const struct kms_provider_ops fake_ops = {
    .name = "fake",
    .wrap = fake_wrap,
    .unwrap = fake_unwrap,
    .free = fake_free,
};

static struct fake_provider fake_new(void)
{
    struct fake_provider f = {
        .base = { .ops = &fake_ops },
        .key_id = "k1",
        .wrapped_len = KMS_DEK_LEN,
        .plaintext_len = KMS_DEK_LEN,
    };

    return f;
}

static bool is_zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != 0) {
            return false;
        }
    }
    return true;
}

static void test_wrap_prefixes_kms_id_with_provider_name(void)
{
    struct fake_provider f = fake_new();
    uint8_t dek[KMS_DEK_LEN] = { 1 };
    uint8_t wrapped[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    size_t len = 0;

    CHECK(kms_wrap(&f.base, dek, NULL, 0, wrapped, sizeof(wrapped), &len, kms_id, sizeof(kms_id)) == CORE_OK);
    CHECK(strcmp(kms_id, "fake:k1") == 0);
    CHECK(len == KMS_DEK_LEN);
}

static void test_wrap_rejects_small_kms_id_buffer(void)
{
    struct fake_provider f = fake_new();
    uint8_t dek[KMS_DEK_LEN] = { 1 };
    uint8_t wrapped[KMS_WRAPPED_MAX];
    char kms_id[7] = "xxxxxx";
    size_t len = 99;

    /* "fake:k1" needs 8 bytes with its NUL */
    CHECK(kms_wrap(&f.base, dek, NULL, 0, wrapped, sizeof(wrapped), &len, kms_id, sizeof(kms_id)) ==
          CORE_TOO_LARGE);
    CHECK(kms_id[0] == '\0');
    CHECK(len == 0);
}

static void test_wrap_rejects_provider_overrunning_cap(void)
{
    struct fake_provider f = fake_new();
    uint8_t dek[KMS_DEK_LEN] = { 1 };
    uint8_t wrapped[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    size_t len = 0;

    f.wrapped_len = KMS_WRAPPED_MAX + 1;
    CHECK(kms_wrap(&f.base, dek, NULL, 0, wrapped, sizeof(wrapped), &len, kms_id, sizeof(kms_id)) ==
          CORE_INTERNAL);
    CHECK(len == 0);
}

static void test_wrap_with_checks_key_reference(void)
{
    struct fake_provider f = fake_new();
    uint8_t dek[KMS_DEK_LEN] = { 1 };
    uint8_t wrapped[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    size_t len = 0;

    CHECK(kms_wrap_with(&f.base, "fake:k1", dek, NULL, 0, wrapped, sizeof(wrapped), &len, kms_id,
                        sizeof(kms_id)) == CORE_OK);
    CHECK(strcmp(kms_id, "fake:k1") == 0);

    /* a reference to another provider or to a key this one lacks never falls back to the default key */
    CHECK(kms_wrap_with(&f.base, "file:k1", dek, NULL, 0, wrapped, sizeof(wrapped), &len, kms_id,
                        sizeof(kms_id)) == CORE_KMS);
    CHECK(kms_wrap_with(&f.base, "fake:k2", dek, NULL, 0, wrapped, sizeof(wrapped), &len, kms_id,
                        sizeof(kms_id)) == CORE_KMS);
    CHECK(kms_wrap_with(&f.base, "fake:", dek, NULL, 0, wrapped, sizeof(wrapped), &len, kms_id,
                        sizeof(kms_id)) == CORE_KMS);
    CHECK(len == 0);
}

static void test_unwrap_passes_bare_key_id(void)
{
    struct fake_provider f = fake_new();
    uint8_t wrapped[KMS_DEK_LEN] = { 0 };
    uint8_t dek[KMS_DEK_LEN];

    CHECK(kms_unwrap(&f.base, "fake:k1:extra", wrapped, sizeof(wrapped), NULL, 0, dek) == CORE_OK);
    CHECK(strcmp(f.last_key_id, "k1:extra") == 0);
    CHECK(dek[0] == 0xab);
    CHECK(dek[KMS_DEK_LEN - 1] == 0xab);
}

static void test_unwrap_rejects_other_provider_ids(void)
{
    static const char *const ids[] = { "", "fake", "fake:", "fak:k1", "fakex:k1", "file:k1", "k1", ":k1" };
    struct fake_provider f = fake_new();
    uint8_t wrapped[KMS_DEK_LEN] = { 0 };
    uint8_t dek[KMS_DEK_LEN];

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        memset(dek, 0xff, sizeof(dek));
        CHECK(kms_unwrap(&f.base, ids[i], wrapped, sizeof(wrapped), NULL, 0, dek) == CORE_KMS);
        CHECK(is_zero(dek, sizeof(dek)));
    }
    CHECK(f.unwrap_calls == 0);
}

static void test_unwrap_rejects_overlong_kms_id(void)
{
    struct fake_provider f = fake_new();
    uint8_t wrapped[KMS_DEK_LEN] = { 0 };
    char kms_id[KMS_KEY_ID_MAX + 1];
    uint8_t dek[KMS_DEK_LEN];

    memcpy(kms_id, "fake:", 5);
    memset(kms_id + 5, 'a', sizeof(kms_id) - 6);
    kms_id[sizeof(kms_id) - 1] = '\0';
    CHECK(kms_unwrap(&f.base, kms_id, wrapped, sizeof(wrapped), NULL, 0, dek) == CORE_KMS);
    CHECK(f.unwrap_calls == 0);
}

static void test_unwrap_rejects_dek_of_wrong_length(void)
{
    static const size_t lens[] = { 0, 16, KMS_DEK_LEN - 1 };
    struct fake_provider f = fake_new();
    uint8_t wrapped[KMS_DEK_LEN] = { 0 };
    uint8_t dek[KMS_DEK_LEN];

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        f.plaintext_len = lens[i];
        CHECK(kms_unwrap(&f.base, "fake:k1", wrapped, sizeof(wrapped), NULL, 0, dek) == CORE_CRYPTO);
        CHECK(is_zero(dek, sizeof(dek)));
    }
}

static void test_unwrap_rejects_oversized_blob(void)
{
    struct fake_provider f = fake_new();
    static uint8_t wrapped[KMS_WRAPPED_MAX + 1];
    uint8_t dek[KMS_DEK_LEN];

    CHECK(kms_unwrap(&f.base, "fake:k1", wrapped, sizeof(wrapped), NULL, 0, dek) == CORE_TOO_LARGE);
    CHECK(f.unwrap_calls == 0);
}

static void test_provider_free_accepts_null(void)
{
    struct fake_provider f = fake_new();

    kms_provider_free(NULL);
    kms_provider_free(&f.base);
    CHECK(f.free_calls == 1);
}

int main(void)
{
    test_wrap_prefixes_kms_id_with_provider_name();
    test_wrap_rejects_small_kms_id_buffer();
    test_wrap_rejects_provider_overrunning_cap();
    test_wrap_with_checks_key_reference();
    test_unwrap_passes_bare_key_id();
    test_unwrap_rejects_other_provider_ids();
    test_unwrap_rejects_overlong_kms_id();
    test_unwrap_rejects_dek_of_wrong_length();
    test_unwrap_rejects_oversized_blob();
    test_provider_free_accepts_null();

    if (failures > 0) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all kms checks passed\n");
    return 0;
}
