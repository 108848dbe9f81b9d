/* SPDX-License-Identifier: Apache-2.0 */
/* The hashed-context provider; see kms_hashed.h. */
#include "kms/kms_hashed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kms/kms_provider.h"

/* Prefix of the hashed context, so a hashed and a plain context can never be equal. */
static const char HASHED_PREFIX[] = "s3seal/1 ctx-sha256";

#define HASHED_LEN (sizeof(HASHED_PREFIX) - 1 + 32)

struct kms_hashed {
    struct kms_provider base;
    struct kms_provider_ops ops; /* the inner provider's set, with this provider's name */
    char name[64];
    struct kms_provider *inner; /* borrowed */
};

static struct kms_hashed *hashed_of(struct kms_provider *p)
{
    return (struct kms_hashed *)p;
}

/* Writes HASHED_PREFIX || SHA-256(context) to out (HASHED_LEN bytes). */
static enum core_err hash_context(const uint8_t *context, size_t context_len, uint8_t out[HASHED_LEN])
{
    unsigned int len = 0;

    memcpy(out, HASHED_PREFIX, sizeof(HASHED_PREFIX) - 1);
    if (EVP_Digest(context, context_len, out + sizeof(HASHED_PREFIX) - 1, &len, EVP_sha256(), NULL) != 1) {
        return CORE_INTERNAL;
    }
    return CORE_OK;
}

static enum core_err hashed_wrap(struct kms_provider *p, const char *want_key_id, const uint8_t dek[KMS_DEK_LEN],
                                 const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                                 size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_provider *inner = hashed_of(p)->inner;
    uint8_t hashed[HASHED_LEN];

    CORE_TRY(hash_context(context, context_len, hashed));
    return inner->ops->wrap(inner, want_key_id, dek, hashed, sizeof(hashed), wrapped, wrapped_cap, wrapped_len,
                            key_id, key_id_cap);
}

static enum core_err hashed_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                   size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                   size_t dek_cap, size_t *dek_len)
{
    struct kms_provider *inner = hashed_of(p)->inner;
    uint8_t hashed[HASHED_LEN];

    CORE_TRY(hash_context(context, context_len, hashed));
    return inner->ops->unwrap(inner, key_id, wrapped, wrapped_len, hashed, sizeof(hashed), dek, dek_cap, dek_len);
}

static enum core_err hashed_generate(struct kms_provider *p, const char *want_key_id, const uint8_t *context,
                                     size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped,
                                     size_t wrapped_cap, size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_provider *inner = hashed_of(p)->inner;
    uint8_t hashed[HASHED_LEN];

    CORE_TRY(hash_context(context, context_len, hashed));
    return inner->ops->generate(inner, want_key_id, hashed, sizeof(hashed), dek, wrapped, wrapped_cap,
                                wrapped_len, key_id, key_id_cap);
}

static enum core_err hashed_rewrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                   size_t wrapped_len, const uint8_t *old_context, size_t old_context_len,
                                   const char *want_key_id, const uint8_t *new_context, size_t new_context_len,
                                   uint8_t *out, size_t out_cap, size_t *out_len, char *out_key_id,
                                   size_t out_key_id_cap)
{
    struct kms_provider *inner = hashed_of(p)->inner;
    uint8_t old_hashed[HASHED_LEN];
    uint8_t new_hashed[HASHED_LEN];

    CORE_TRY(hash_context(old_context, old_context_len, old_hashed));
    CORE_TRY(hash_context(new_context, new_context_len, new_hashed));
    return inner->ops->rewrap(inner, key_id, wrapped, wrapped_len, old_hashed, sizeof(old_hashed), want_key_id,
                              new_hashed, sizeof(new_hashed), out, out_cap, out_len, out_key_id, out_key_id_cap);
}

/* Frees only the wrapper: the registry frees the inner provider itself. */
static void hashed_free(struct kms_provider *p)
{
    free(hashed_of(p));
}

enum core_err kms_hashed_new(struct kms_provider *inner, struct kms_provider **out)
{
    struct kms_hashed *h;

    *out = NULL;
    CORE_ENSURE(inner != NULL && !inner->ops->dispatch, CORE_INTERNAL);
    h = calloc(1, sizeof(*h));
    CORE_ENSURE(h != NULL, CORE_NOMEM);

    if (snprintf(h->name, sizeof(h->name), "%s%s", inner->ops->name, KMS_HASHED_SUFFIX) >= (int)sizeof(h->name)) {
        free(h);
        return CORE_TOO_LARGE;
    }
    h->inner = inner;
    h->ops.name = h->name;
    h->ops.wrap = hashed_wrap;
    h->ops.unwrap = hashed_unwrap;
    h->ops.generate = inner->ops->generate != NULL ? hashed_generate : NULL;
    h->ops.rewrap = inner->ops->rewrap != NULL ? hashed_rewrap : NULL;
    h->ops.free = hashed_free;
    h->base.ops = &h->ops;
    *out = &h->base;
    return CORE_OK;
}
