/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the provider registry, with two fake providers named "alpha" and "beta" that copy the DEK
 * into the blob and record which provider each call reached.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms.h"
#include "kms/kms_provider.h"
#include "kms/kms_registry.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static int free_calls;

struct fake_provider {
    struct kms_provider base;
    int wrap_calls;
    int unwrap_calls;
    char last_key_id[KMS_KEY_ID_MAX];
};

/* Has the keys k1 (its default) and k2. */
static enum core_err fake_wrap(struct kms_provider *p, const char *want_id, const uint8_t dek[KMS_DEK_LEN],
                               const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                               size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct fake_provider *f = (struct fake_provider *)p;
    const char *use = want_id != NULL ? want_id : "k1";

    (void)context;
    (void)context_len;
    if (strcmp(use, "k1") != 0 && strcmp(use, "k2") != 0) {
        return CORE_KMS;
    }
    if (wrapped_cap < KMS_DEK_LEN || key_id_cap < 3) {
        return CORE_TOO_LARGE;
    }
    f->wrap_calls++;
    memcpy(wrapped, dek, KMS_DEK_LEN);
    memcpy(key_id, use, 3);
    *wrapped_len = KMS_DEK_LEN;
    return CORE_OK;
}

static enum core_err fake_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                 size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                 size_t dek_cap, size_t *dek_len)
{
    struct fake_provider *f = (struct fake_provider *)p;

    (void)context;
    (void)context_len;
    f->unwrap_calls++;
    snprintf(f->last_key_id, sizeof(f->last_key_id), "%s", key_id);
    if (wrapped_len != KMS_DEK_LEN || dek_cap < KMS_DEK_LEN) {
        return CORE_CRYPTO;
    }
    memcpy(dek, wrapped, KMS_DEK_LEN);
    *dek_len = KMS_DEK_LEN;
    return CORE_OK;
}

static void fake_free(struct kms_provider *p)
{
    free_calls++;
    free(p);
}

static const struct kms_provider_ops alpha_ops = {
    .name = "alpha", .wrap = fake_wrap, .unwrap = fake_unwrap, .free = fake_free};
static const struct kms_provider_ops beta_ops = {
    .name = "beta", .wrap = fake_wrap, .unwrap = fake_unwrap, .free = fake_free};

static struct fake_provider *fake_new(const struct kms_provider_ops *ops)
{
    struct fake_provider *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        abort();
    }
    f->base.ops = ops;
    return f;
}

static void test_wrap_uses_active_provider(void)
{
    struct fake_provider *alpha = fake_new(&alpha_ops);
    struct fake_provider *beta = fake_new(&beta_ops);
    struct kms_provider *registry = NULL;
    uint8_t dek[KMS_DEK_LEN] = {7};
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t len = 0;
    char id[KMS_KEY_ID_MAX];

    free_calls = 0;
    CHECK(kms_registry_new(&registry) == CORE_OK);
    CHECK(kms_registry_add(registry, &alpha->base, false) == CORE_OK);
    CHECK(kms_registry_add(registry, &beta->base, true) == CORE_OK);

    CHECK(kms_wrap(registry, dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_OK);
    CHECK(strcmp(id, "beta:k1") == 0);
    CHECK(beta->wrap_calls == 1);
    CHECK(alpha->wrap_calls == 0);

    /* a key reference picks the provider and its key, whichever provider is active */
    CHECK(kms_wrap_with(registry, "alpha:k2", dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_OK);
    CHECK(strcmp(id, "alpha:k2") == 0);
    CHECK(alpha->wrap_calls == 1);
    CHECK(kms_wrap_with(registry, "alpha:k3", dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_KMS);
    CHECK(kms_wrap_with(registry, "gamma:k1", dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_KMS);
    CHECK(kms_wrap_with(registry, "k1", dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_KMS);
    CHECK(beta->wrap_calls == 1);
    CHECK(kms_wrap(registry, dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_OK);

    CHECK(kms_unwrap(registry, "alpha:k1", blob, len, NULL, 0, out) == CORE_OK);
    CHECK(alpha->unwrap_calls == 1);
    CHECK(strcmp(alpha->last_key_id, "k1") == 0);
    CHECK(kms_unwrap(registry, "beta:k9", blob, len, NULL, 0, out) == CORE_OK);
    CHECK(beta->unwrap_calls == 1);
    CHECK(strcmp(beta->last_key_id, "k9") == 0);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);

    /* unknown, partial and empty prefixes reach no provider */
    CHECK(kms_unwrap(registry, "gamma:k1", blob, len, NULL, 0, out) == CORE_KMS);
    CHECK(kms_unwrap(registry, "alph:k1", blob, len, NULL, 0, out) == CORE_KMS);
    CHECK(kms_unwrap(registry, "alphaa:k1", blob, len, NULL, 0, out) == CORE_KMS);
    CHECK(kms_unwrap(registry, "alpha", blob, len, NULL, 0, out) == CORE_KMS);
    CHECK(kms_unwrap(registry, "alpha:", blob, len, NULL, 0, out) == CORE_KMS);
    CHECK(kms_unwrap(registry, ":k1", blob, len, NULL, 0, out) == CORE_KMS);
    CHECK(alpha->unwrap_calls == 1);
    CHECK(beta->unwrap_calls == 1);

    /* a failure of the provider comes back unchanged and leaves the DEK zeroed */
    memset(out, 0xaa, sizeof(out));
    CHECK(kms_unwrap(registry, "alpha:k1", blob, len - 1, NULL, 0, out) == CORE_CRYPTO);
    CHECK(out[0] == 0);
    CHECK(out[KMS_DEK_LEN - 1] == 0);

    kms_provider_free(registry);
    CHECK(free_calls == 2);
}

static void test_generate_and_rewrap(void)
{
    struct fake_provider *alpha = fake_new(&alpha_ops);
    struct fake_provider *beta = fake_new(&beta_ops);
    struct kms_provider *registry = NULL;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_WRAPPED_MAX];
    uint8_t moved[KMS_WRAPPED_MAX];
    size_t len = 0;
    size_t moved_len = 0;
    char id[KMS_KEY_ID_MAX];
    char moved_id[KMS_KEY_ID_MAX];

    CHECK(kms_registry_new(&registry) == CORE_OK);
    CHECK(kms_registry_add(registry, &alpha->base, false) == CORE_OK);
    CHECK(kms_registry_add(registry, &beta->base, true) == CORE_OK);

    /* providers without a generate operation get a random DEK wrapped by their wrap */
    CHECK(kms_generate_with(registry, "alpha:k1", NULL, 0, dek, blob, sizeof(blob), &len, id, sizeof(id)) ==
          CORE_OK);
    CHECK(strcmp(id, "alpha:k1") == 0);
    CHECK(alpha->wrap_calls == 1);
    CHECK(kms_unwrap(registry, id, blob, len, NULL, 0, out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);

    /* across providers: unwrapped by alpha, wrapped by the active beta */
    CHECK(kms_rewrap(registry, id, blob, len, NULL, 0, NULL, NULL, 0, moved, sizeof(moved), &moved_len, moved_id,
                     sizeof(moved_id)) == CORE_OK);
    CHECK(strcmp(moved_id, "beta:k1") == 0);
    CHECK(kms_unwrap(registry, moved_id, moved, moved_len, NULL, 0, out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);

    /* within one provider, to another of its keys */
    CHECK(kms_rewrap(registry, moved_id, moved, moved_len, NULL, 0, "beta:k2", NULL, 0, blob, sizeof(blob), &len,
                     id, sizeof(id)) == CORE_OK);
    CHECK(strcmp(id, "beta:k2") == 0);

    /* a failed unwrap writes nothing */
    CHECK(kms_rewrap(registry, "gamma:k1", moved, moved_len, NULL, 0, NULL, NULL, 0, blob, sizeof(blob), &len, id,
                     sizeof(id)) == CORE_KMS);
    CHECK(len == 0 && id[0] == '\0');
    CHECK(kms_rewrap(registry, moved_id, moved, moved_len - 1, NULL, 0, NULL, NULL, 0, blob, sizeof(blob), &len,
                     id, sizeof(id)) == CORE_CRYPTO);
    CHECK(len == 0);
    kms_provider_free(registry);
}

static void test_add_rejections(void)
{
    struct kms_provider *registry = NULL;
    uint8_t dek[KMS_DEK_LEN] = {0};
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t len = 0;
    char id[KMS_KEY_ID_MAX];

    free_calls = 0;
    CHECK(kms_registry_new(&registry) == CORE_OK);

    /* without an active provider nothing wraps */
    CHECK(kms_registry_add(registry, &fake_new(&alpha_ops)->base, false) == CORE_OK);
    CHECK(kms_wrap(registry, dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_KMS);

    /* a second provider with the same name is rejected and freed */
    CHECK(kms_registry_add(registry, &fake_new(&alpha_ops)->base, true) == CORE_CONFIG);
    CHECK(free_calls == 1);

    CHECK(kms_registry_add(registry, &fake_new(&beta_ops)->base, true) == CORE_OK);
    /* so is a second active provider */
    CHECK(kms_registry_add(registry, &fake_new(&beta_ops)->base, true) == CORE_CONFIG);
    CHECK(free_calls == 2);

    /* a registry inside a registry would loop through kms_wrap */
    {
        struct kms_provider *inner = NULL;

        CHECK(kms_registry_new(&inner) == CORE_OK);
        CHECK(kms_registry_add(registry, inner, false) == CORE_INTERNAL);
    }

    CHECK(kms_wrap(registry, dek, NULL, 0, blob, sizeof(blob), &len, id, sizeof(id)) == CORE_OK);
    CHECK(strcmp(id, "beta:k1") == 0);
    /* a kms_id buffer that is too small for the whole id fails */
    CHECK(kms_wrap(registry, dek, NULL, 0, blob, sizeof(blob), &len, id, 7) == CORE_TOO_LARGE);
    kms_provider_free(registry);
    CHECK(free_calls == 4);
}

int main(void)
{
    test_wrap_uses_active_provider();
    test_generate_and_rewrap();
    test_add_rejections();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all registry tests passed\n");
    return 0;
}
