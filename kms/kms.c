/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Provider-independent half of kms_wrap and kms_unwrap: argument checks, the "<provider>:<key id>" form
 * of kms_id, and the DEK length check that every provider's result must pass.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kms/kms.h"
#include "kms/kms_provider.h"

/* Returns the key id part of kms_id when its prefix is "<name>:", otherwise NULL. */
static const char *match_provider(const char *name, const char *kms_id)
{
    size_t name_len = strlen(name);

    if (strnlen(kms_id, KMS_KEY_ID_MAX) == KMS_KEY_ID_MAX) {
        return NULL;
    }
    if (strncmp(kms_id, name, name_len) != 0 || kms_id[name_len] != ':') {
        return NULL;
    }
    if (kms_id[name_len + 1] == '\0') {
        return NULL;
    }
    return kms_id + name_len + 1;
}

/* Formats "<name>:<key_id>" into kms_id, or leaves it empty and returns CORE_TOO_LARGE. */
static enum core_err format_kms_id(const char *name, const char *key_id, char *kms_id, size_t kms_id_cap)
{
    size_t name_len = strlen(name);
    size_t id_len = strlen(key_id);

    if (name_len + 1 + id_len >= kms_id_cap) {
        if (kms_id_cap > 0) {
            kms_id[0] = '\0';
        }
        return CORE_TOO_LARGE;
    }
    memcpy(kms_id, name, name_len);
    kms_id[name_len] = ':';
    memcpy(kms_id + name_len + 1, key_id, id_len + 1);
    return CORE_OK;
}

enum core_err kms_wrap(struct kms_provider *p, const uint8_t dek[KMS_DEK_LEN], const uint8_t *context,
                       size_t context_len, uint8_t *wrapped, size_t wrapped_cap, size_t *wrapped_len,
                       char *kms_id, size_t kms_id_cap)
{
    return kms_wrap_with(p, NULL, dek, context, context_len, wrapped, wrapped_cap, wrapped_len, kms_id,
                         kms_id_cap);
}

/*
 * Checks what a provider wrote (its blob length and NUL-terminated key id) and writes the kms_id for it:
 * "<name>:<key id>", or the key id alone when a dispatching provider already wrote a whole kms_id.
 */
static enum core_err finish_kms_id(const struct kms_provider *p, const char *key_id, size_t key_id_cap,
                                   size_t len, size_t wrapped_cap, char *kms_id, size_t kms_id_cap)
{
    /* a provider that overruns its buffers or omits the NUL has a bug, not a caller error */
    CORE_ENSURE(len <= wrapped_cap && len <= KMS_WRAPPED_MAX, CORE_INTERNAL);
    CORE_ENSURE(memchr(key_id, '\0', key_id_cap) != NULL && key_id[0] != '\0', CORE_INTERNAL);

    if (p->ops->dispatch) {
        CORE_ENSURE(strlen(key_id) < kms_id_cap, CORE_TOO_LARGE);
        memcpy(kms_id, key_id, strlen(key_id) + 1);
        return CORE_OK;
    }
    return format_kms_id(p->ops->name, key_id, kms_id, kms_id_cap);
}

/* Sets *want to what the provider's operations take for key_ref: NULL, the whole reference, or the key id. */
static enum core_err resolve_key_ref(const struct kms_provider *p, const char *key_ref, const char **want)
{
    *want = NULL;
    if (key_ref == NULL) {
        return CORE_OK;
    }
    *want = p->ops->dispatch ? key_ref : match_provider(p->ops->name, key_ref);
    return *want != NULL ? CORE_OK : CORE_KMS;
}

static void clear_outputs(size_t *wrapped_len, char *kms_id, size_t kms_id_cap)
{
    *wrapped_len = 0;
    if (kms_id_cap > 0) {
        kms_id[0] = '\0';
    }
}

enum core_err kms_wrap_with(struct kms_provider *p, const char *key_ref, const uint8_t dek[KMS_DEK_LEN],
                            const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                            size_t *wrapped_len, char *kms_id, size_t kms_id_cap)
{
    char key_id[KMS_KEY_ID_MAX] = "";
    const char *want = NULL;
    size_t len = 0;

    CORE_ENSURE(p != NULL && dek != NULL && wrapped != NULL && wrapped_len != NULL && kms_id != NULL,
                CORE_INTERNAL);
    CORE_ENSURE(context != NULL || context_len == 0, CORE_INTERNAL);
    clear_outputs(wrapped_len, kms_id, kms_id_cap);
    CORE_TRY(resolve_key_ref(p, key_ref, &want));

    CORE_TRY(p->ops->wrap(p, want, dek, context, context_len, wrapped, wrapped_cap, &len, key_id,
                          sizeof(key_id)));
    CORE_TRY(finish_kms_id(p, key_id, sizeof(key_id), len, wrapped_cap, kms_id, kms_id_cap));
    *wrapped_len = len;
    return CORE_OK;
}

enum core_err kms_generate_with(struct kms_provider *p, const char *key_ref, const uint8_t *context,
                                size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped, size_t wrapped_cap,
                                size_t *wrapped_len, char *kms_id, size_t kms_id_cap)
{
    char key_id[KMS_KEY_ID_MAX] = "";
    const char *want = NULL;
    size_t len = 0;
    enum core_err rc;

    CORE_ENSURE(dek != NULL, CORE_INTERNAL);
    OPENSSL_cleanse(dek, KMS_DEK_LEN);
    CORE_ENSURE(p != NULL && wrapped != NULL && wrapped_len != NULL && kms_id != NULL, CORE_INTERNAL);
    CORE_ENSURE(context != NULL || context_len == 0, CORE_INTERNAL);
    clear_outputs(wrapped_len, kms_id, kms_id_cap);

    if (p->ops->generate == NULL) {
        CORE_ENSURE(RAND_priv_bytes(dek, KMS_DEK_LEN) == 1, CORE_CRYPTO);
        rc = kms_wrap_with(p, key_ref, dek, context, context_len, wrapped, wrapped_cap, wrapped_len, kms_id,
                           kms_id_cap);
    } else {
        rc = resolve_key_ref(p, key_ref, &want);
        if (rc == CORE_OK) {
            rc = p->ops->generate(p, want, context, context_len, dek, wrapped, wrapped_cap, &len, key_id,
                                  sizeof(key_id));
        }
        if (rc == CORE_OK) {
            rc = finish_kms_id(p, key_id, sizeof(key_id), len, wrapped_cap, kms_id, kms_id_cap);
        }
        if (rc == CORE_OK) {
            *wrapped_len = len;
        }
    }
    if (rc != CORE_OK) {
        OPENSSL_cleanse(dek, KMS_DEK_LEN);
        clear_outputs(wrapped_len, kms_id, kms_id_cap);
    }
    return rc;
}

/* The fallback of kms_rewrap: the DEK passes through memory here and is wiped before returning. */
static enum core_err rewrap_through_memory(struct kms_provider *p, const char *kms_id, const uint8_t *wrapped,
                                           size_t wrapped_len, const uint8_t *old_context, size_t old_context_len,
                                           const char *key_ref, const uint8_t *new_context, size_t new_context_len,
                                           uint8_t *out, size_t out_cap, size_t *out_len, char *out_kms_id,
                                           size_t out_kms_id_cap)
{
    uint8_t dek[KMS_DEK_LEN];
    enum core_err rc;

    rc = kms_unwrap(p, kms_id, wrapped, wrapped_len, old_context, old_context_len, dek);
    if (rc == CORE_OK) {
        rc = kms_wrap_with(p, key_ref, dek, new_context, new_context_len, out, out_cap, out_len, out_kms_id,
                           out_kms_id_cap);
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    return rc;
}

enum core_err kms_rewrap(struct kms_provider *p, const char *kms_id, const uint8_t *wrapped, size_t wrapped_len,
                         const uint8_t *old_context, size_t old_context_len, const char *key_ref,
                         const uint8_t *new_context, size_t new_context_len, uint8_t *out, size_t out_cap,
                         size_t *out_len, char *out_kms_id, size_t out_kms_id_cap)
{
    char key_id[KMS_KEY_ID_MAX] = "";
    const char *source;
    const char *want = NULL;
    size_t len = 0;

    CORE_ENSURE(p != NULL && kms_id != NULL && out != NULL && out_len != NULL && out_kms_id != NULL,
                CORE_INTERNAL);
    CORE_ENSURE(wrapped != NULL || wrapped_len == 0, CORE_INTERNAL);
    CORE_ENSURE(old_context != NULL || old_context_len == 0, CORE_INTERNAL);
    CORE_ENSURE(new_context != NULL || new_context_len == 0, CORE_INTERNAL);
    clear_outputs(out_len, out_kms_id, out_kms_id_cap);
    CORE_ENSURE(wrapped_len <= KMS_WRAPPED_MAX, CORE_TOO_LARGE);

    if (p->ops->rewrap == NULL) {
        return rewrap_through_memory(p, kms_id, wrapped, wrapped_len, old_context, old_context_len, key_ref,
                                     new_context, new_context_len, out, out_cap, out_len, out_kms_id,
                                     out_kms_id_cap);
    }

    source = p->ops->dispatch ? kms_id : match_provider(p->ops->name, kms_id);
    CORE_ENSURE(source != NULL, CORE_KMS);
    CORE_TRY(resolve_key_ref(p, key_ref, &want));
    CORE_TRY(p->ops->rewrap(p, source, wrapped, wrapped_len, old_context, old_context_len, want, new_context,
                            new_context_len, out, out_cap, &len, key_id, sizeof(key_id)));
    CORE_TRY(finish_kms_id(p, key_id, sizeof(key_id), len, out_cap, out_kms_id, out_kms_id_cap));
    *out_len = len;
    return CORE_OK;
}

enum core_err kms_unwrap(struct kms_provider *p, const char *kms_id, const uint8_t *wrapped, size_t wrapped_len,
                         const uint8_t *context, size_t context_len, uint8_t dek[KMS_DEK_LEN])
{
    const char *key_id;
    size_t len = 0;
    enum core_err rc;

    CORE_ENSURE(dek != NULL, CORE_INTERNAL);
    OPENSSL_cleanse(dek, KMS_DEK_LEN);
    CORE_ENSURE(p != NULL && kms_id != NULL, CORE_INTERNAL);
    CORE_ENSURE(wrapped != NULL || wrapped_len == 0, CORE_INTERNAL);
    CORE_ENSURE(context != NULL || context_len == 0, CORE_INTERNAL);
    CORE_ENSURE(wrapped_len <= KMS_WRAPPED_MAX, CORE_TOO_LARGE);

    if (p->ops->dispatch) {
        CORE_ENSURE(strnlen(kms_id, KMS_KEY_ID_MAX) < KMS_KEY_ID_MAX, CORE_KMS);
        key_id = kms_id;
    } else {
        key_id = match_provider(p->ops->name, kms_id);
    }
    CORE_ENSURE(key_id != NULL, CORE_KMS);

    rc = p->ops->unwrap(p, key_id, wrapped, wrapped_len, context, context_len, dek, KMS_DEK_LEN, &len);

    /* a DEK of another length would silently weaken or break the data cipher, so it fails like a bad tag */
    if (rc == CORE_OK && len != KMS_DEK_LEN) {
        rc = CORE_CRYPTO;
    }
    if (rc != CORE_OK) {
        OPENSSL_cleanse(dek, KMS_DEK_LEN);
    }
    return rc;
}

void kms_provider_free(struct kms_provider *p)
{
    if (p == NULL) {
        return;
    }
    p->ops->free(p);
}
