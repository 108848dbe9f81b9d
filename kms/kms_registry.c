/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The provider registry. It is a dispatching provider (ops->dispatch in kms/kms_provider.h): kms.c hands
 * it whole kms_id values, and it passes each call on through kms_wrap or kms_unwrap, so every provider's
 * result gets the same checks as when it is called directly.
 */
#include "kms/kms_registry.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kms/kms_hashed.h"
#include "kms/kms_provider.h"

struct kms_registry {
    struct kms_provider base;
    struct kms_provider *providers[KMS_REGISTRY_MAX];
    size_t count;
    struct kms_provider *active; /* one of providers, or NULL */
};

static struct kms_registry *registry_of(struct kms_provider *p)
{
    return (struct kms_registry *)p;
}

/* Returns the provider whose name is the part of kms_id before the first ':', or NULL. */
static struct kms_provider *find_by_kms_id(const struct kms_registry *r, const char *kms_id)
{
    const char *colon = strchr(kms_id, ':');

    if (colon == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < r->count; i++) {
        const char *name = r->providers[i]->ops->name;

        if (strlen(name) == (size_t)(colon - kms_id) && strncmp(kms_id, name, strlen(name)) == 0) {
            return r->providers[i];
        }
    }
    return NULL;
}

/* Wraps with the provider key_ref names, or with the active provider's own key when key_ref is NULL. */
static enum core_err registry_wrap(struct kms_provider *p, const char *key_ref, const uint8_t dek[KMS_DEK_LEN],
                                   const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                                   size_t *wrapped_len, char *kms_id, size_t kms_id_cap)
{
    struct kms_registry *r = registry_of(p);
    struct kms_provider *target = r->active;

    if (key_ref != NULL) {
        target = find_by_kms_id(r, key_ref);
    }
    CORE_ENSURE(target != NULL, CORE_KMS);
    return kms_wrap_with(target, key_ref, dek, context, context_len, wrapped, wrapped_cap, wrapped_len, kms_id,
                         kms_id_cap);
}

static enum core_err registry_generate(struct kms_provider *p, const char *key_ref, const uint8_t *context,
                                       size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped,
                                       size_t wrapped_cap, size_t *wrapped_len, char *kms_id, size_t kms_id_cap)
{
    struct kms_registry *r = registry_of(p);
    struct kms_provider *target = key_ref != NULL ? find_by_kms_id(r, key_ref) : r->active;

    CORE_ENSURE(target != NULL, CORE_KMS);
    return kms_generate_with(target, key_ref, context, context_len, dek, wrapped, wrapped_cap, wrapped_len, kms_id,
                             kms_id_cap);
}

/*
 * Within one provider the provider re-wraps (inside its KMS where it can). Across providers, such as from
 * the key file to PKCS#11, the DEK is unwrapped by one, wrapped by the other and wiped.
 */
static enum core_err registry_rewrap(struct kms_provider *p, const char *kms_id, const uint8_t *wrapped,
                                     size_t wrapped_len, const uint8_t *old_context, size_t old_context_len,
                                     const char *key_ref, const uint8_t *new_context, size_t new_context_len,
                                     uint8_t *out, size_t out_cap, size_t *out_len, char *out_kms_id,
                                     size_t out_kms_id_cap)
{
    struct kms_registry *r = registry_of(p);
    struct kms_provider *source = find_by_kms_id(r, kms_id);
    struct kms_provider *target = key_ref != NULL ? find_by_kms_id(r, key_ref) : r->active;
    uint8_t dek[KMS_DEK_LEN];
    enum core_err rc;

    CORE_ENSURE(source != NULL && target != NULL, CORE_KMS);
    if (source == target) {
        return kms_rewrap(target, kms_id, wrapped, wrapped_len, old_context, old_context_len, key_ref, new_context,
                          new_context_len, out, out_cap, out_len, out_kms_id, out_kms_id_cap);
    }

    rc = kms_unwrap(source, kms_id, wrapped, wrapped_len, old_context, old_context_len, dek);
    if (rc == CORE_OK) {
        rc = kms_wrap_with(target, key_ref, dek, new_context, new_context_len, out, out_cap, out_len, out_kms_id,
                           out_kms_id_cap);
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    return rc;
}

static enum core_err registry_unwrap(struct kms_provider *p, const char *kms_id, const uint8_t *wrapped,
                                     size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                     size_t dek_cap, size_t *dek_len)
{
    struct kms_provider *target = find_by_kms_id(registry_of(p), kms_id);

    CORE_ENSURE(target != NULL, CORE_KMS);
    CORE_ENSURE(dek_cap >= KMS_DEK_LEN, CORE_INTERNAL);
    CORE_TRY(kms_unwrap(target, kms_id, wrapped, wrapped_len, context, context_len, dek));
    *dek_len = KMS_DEK_LEN;
    return CORE_OK;
}

static void registry_free(struct kms_provider *p)
{
    struct kms_registry *r = registry_of(p);

    for (size_t i = 0; i < r->count; i++) {
        kms_provider_free(r->providers[i]);
    }
    free(r);
}

static const struct kms_provider_ops registry_ops = {
    .name = "registry",
    .dispatch = true,
    .wrap = registry_wrap,
    .unwrap = registry_unwrap,
    .generate = registry_generate,
    .rewrap = registry_rewrap,
    .free = registry_free,
};

enum core_err kms_registry_new(struct kms_provider **out)
{
    struct kms_registry *r;

    CORE_ENSURE(out != NULL, CORE_INTERNAL);
    r = calloc(1, sizeof(*r));
    CORE_ENSURE(r != NULL, CORE_NOMEM);
    r->base.ops = &registry_ops;
    *out = &r->base;
    return CORE_OK;
}

enum core_err kms_registry_add(struct kms_provider *registry, struct kms_provider *provider, bool active)
{
    struct kms_registry *r;
    enum core_err rc = CORE_OK;

    if (registry == NULL || registry->ops != &registry_ops || provider == NULL || provider->ops->dispatch) {
        rc = CORE_INTERNAL;
        goto out;
    }
    r = registry_of(registry);
    for (size_t i = 0; i < r->count; i++) {
        if (strcmp(r->providers[i]->ops->name, provider->ops->name) == 0) {
            rc = CORE_CONFIG;
            goto out;
        }
    }
    if (active && r->active != NULL) {
        rc = CORE_CONFIG;
        goto out;
    }
    if (r->count == KMS_REGISTRY_MAX) {
        rc = CORE_TOO_LARGE;
        goto out;
    }

    r->providers[r->count++] = provider;
    if (active) {
        r->active = provider;
    }
    provider = NULL;

out:
    kms_provider_free(provider);
    return rc;
}

enum core_err kms_registry_add_hashed(struct kms_provider *registry, bool hashed_active)
{
    struct kms_registry *r;
    size_t plain_count;

    CORE_ENSURE(registry != NULL && registry->ops == &registry_ops, CORE_INTERNAL);
    r = registry_of(registry);
    plain_count = r->count;
    CORE_ENSURE(plain_count * 2 <= KMS_REGISTRY_MAX, CORE_TOO_LARGE);

    for (size_t i = 0; i < plain_count; i++) {
        struct kms_provider *twin = NULL;

        CORE_TRY(kms_hashed_new(r->providers[i], &twin));
        r->providers[r->count++] = twin;
        if (hashed_active && r->active == r->providers[i]) {
            r->active = twin;
        }
    }
    return CORE_OK;
}
