/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wrap and unwrap operations of the key file provider. A wrapped blob is
 *   version 0x01 || iv (16) || nonce (12) || AES-256-GCM ciphertext of the DEK (32) || tag (16),
 * 77 bytes, with the GCM key = HMAC-SHA256(master key, iv) and the GCM AAD = the caller's context.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "kms/kms_keyfile_impl.h"
#include "kms/kms_secmem.h"

#define BLOB_VERSION 0x01
#define IV_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define IV_OFFSET 1
#define NONCE_OFFSET (IV_OFFSET + IV_LEN)
#define CIPHERTEXT_OFFSET (NONCE_OFFSET + NONCE_LEN)
#define TAG_OFFSET (CIPHERTEXT_OFFSET + KMS_DEK_LEN)
#define BLOB_LEN (TAG_OFFSET + TAG_LEN)

/* Inputs of one AES-256-GCM call; the pointers are borrowed. */
struct gcm_args {
    const uint8_t *key;
    const uint8_t *nonce;
    const uint8_t *aad;
    size_t aad_len;
};

static struct kms_keyfile *keyfile_of(struct kms_provider *p)
{
    return (struct kms_keyfile *)p;
}

static const struct kms_keyfile_key *find_key(const struct kms_keyfile *kf, const char *key_id)
{
    for (size_t i = 0; i < kf->key_count; i++) {
        if (strcmp(kf->keys[i].id, key_id) == 0) {
            return &kf->keys[i];
        }
    }
    return NULL;
}

/*
 * A fresh GCM key per wrap, derived from the 16-byte random iv, encrypts one message. So the 2^32-message
 * limit for random 96-bit GCM nonces applies to each derived key, not to the long-lived master key.
 */
static enum core_err derive_gcm_key(const struct kms_keyfile *kf, const uint8_t *master, const uint8_t *iv,
                                    uint8_t gcm_key[KMS_DEK_LEN])
{
    static char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    enum core_err rc = CORE_CRYPTO;
    EVP_MAC_CTX *ctx = NULL;
    size_t len = 0;

    ctx = EVP_MAC_CTX_new(kf->hmac);
    if (ctx == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    if (EVP_MAC_init(ctx, master, KMS_KEYFILE_KEY_LEN, params) != 1 || EVP_MAC_update(ctx, iv, IV_LEN) != 1 ||
        EVP_MAC_final(ctx, gcm_key, &len, KMS_DEK_LEN) != 1 || len != KMS_DEK_LEN) {
        goto out;
    }
    rc = CORE_OK;

out:
    EVP_MAC_CTX_free(ctx);
    if (rc != CORE_OK) {
        OPENSSL_cleanse(gcm_key, KMS_DEK_LEN);
    }
    return rc;
}

static enum core_err gcm_seal(const EVP_CIPHER *cipher, const struct gcm_args *args, const uint8_t *plaintext,
                              uint8_t *ciphertext, uint8_t *tag)
{
    enum core_err rc = CORE_CRYPTO;
    EVP_CIPHER_CTX *ctx = NULL;
    int len = 0;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    if (EVP_EncryptInit_ex2(ctx, cipher, args->key, args->nonce, NULL) != 1) {
        goto out;
    }
    if (args->aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &len, args->aad, (int)args->aad_len) != 1) {
        goto out;
    }
    if (EVP_EncryptUpdate(ctx, ciphertext, &len, plaintext, KMS_DEK_LEN) != 1 || len != KMS_DEK_LEN) {
        goto out;
    }
    if (EVP_EncryptFinal_ex(ctx, ciphertext + len, &len) != 1 || len != 0) {
        goto out;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
        goto out;
    }
    rc = CORE_OK;

out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

static enum core_err gcm_open(const EVP_CIPHER *cipher, const struct gcm_args *args, const uint8_t *ciphertext,
                              const uint8_t *tag, uint8_t *plaintext)
{
    uint8_t tag_copy[TAG_LEN];
    enum core_err rc = CORE_CRYPTO;
    EVP_CIPHER_CTX *ctx = NULL;
    int len = 0;

    /* the ctrl call takes a non-const pointer */
    memcpy(tag_copy, tag, TAG_LEN);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    if (EVP_DecryptInit_ex2(ctx, cipher, args->key, args->nonce, NULL) != 1) {
        goto out;
    }
    if (args->aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &len, args->aad, (int)args->aad_len) != 1) {
        goto out;
    }
    if (EVP_DecryptUpdate(ctx, plaintext, &len, ciphertext, KMS_DEK_LEN) != 1 || len != KMS_DEK_LEN) {
        goto out;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag_copy) != 1) {
        goto out;
    }
    /* the final call compares the tag in constant time */
    if (EVP_DecryptFinal_ex(ctx, plaintext + len, &len) != 1) {
        goto out;
    }
    rc = CORE_OK;

out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc != CORE_OK) {
        OPENSSL_cleanse(plaintext, KMS_DEK_LEN);
    }
    return rc;
}

static enum core_err keyfile_wrap(struct kms_provider *p, const char *want_id, const uint8_t dek[KMS_DEK_LEN],
                                  const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                                  size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    const struct kms_keyfile *kf = keyfile_of(p);
    const struct kms_keyfile_key *current = want_id != NULL ? find_key(kf, want_id) : &kf->keys[kf->key_count - 1];
    uint8_t gcm_key[KMS_DEK_LEN];
    struct gcm_args args = {
        .key = gcm_key,
        .aad = context,
        .aad_len = context_len,
    };
    enum core_err rc;

    CORE_ENSURE(current != NULL, CORE_KMS);
    CORE_ENSURE(wrapped_cap >= BLOB_LEN, CORE_TOO_LARGE);
    CORE_ENSURE(strlen(current->id) < key_id_cap, CORE_TOO_LARGE);
    CORE_ENSURE(context_len <= INT_MAX, CORE_TOO_LARGE);

    wrapped[0] = BLOB_VERSION;
    args.nonce = wrapped + NONCE_OFFSET;
    CORE_ENSURE(RAND_bytes(wrapped + IV_OFFSET, IV_LEN) == 1, CORE_CRYPTO);
    CORE_ENSURE(RAND_bytes(wrapped + NONCE_OFFSET, NONCE_LEN) == 1, CORE_CRYPTO);

    rc = derive_gcm_key(kf, current->key, wrapped + IV_OFFSET, gcm_key);
    if (rc == CORE_OK) {
        rc = gcm_seal(kf->aes_gcm, &args, dek, wrapped + CIPHERTEXT_OFFSET, wrapped + TAG_OFFSET);
    }
    OPENSSL_cleanse(gcm_key, sizeof(gcm_key));
    CORE_TRY(rc);

    memcpy(key_id, current->id, strlen(current->id) + 1);
    *wrapped_len = BLOB_LEN;
    return CORE_OK;
}

static enum core_err keyfile_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                    size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                    size_t dek_cap, size_t *dek_len)
{
    const struct kms_keyfile *kf = keyfile_of(p);
    const struct kms_keyfile_key *master;
    uint8_t gcm_key[KMS_DEK_LEN];
    struct gcm_args args = {
        .key = gcm_key,
        .aad = context,
        .aad_len = context_len,
    };
    enum core_err rc;

    master = find_key(kf, key_id);
    CORE_ENSURE(master != NULL, CORE_KMS);
    CORE_ENSURE(dek_cap >= KMS_DEK_LEN, CORE_INTERNAL);
    CORE_ENSURE(context_len <= INT_MAX, CORE_TOO_LARGE);

    /* a wrong length or version is tampering too, and fails the same way as a bad tag */
    CORE_ENSURE(wrapped_len == BLOB_LEN && wrapped[0] == BLOB_VERSION, CORE_CRYPTO);

    args.nonce = wrapped + NONCE_OFFSET;
    rc = derive_gcm_key(kf, master->key, wrapped + IV_OFFSET, gcm_key);
    if (rc == CORE_OK) {
        rc = gcm_open(kf->aes_gcm, &args, wrapped + CIPHERTEXT_OFFSET, wrapped + TAG_OFFSET, dek);
    }
    OPENSSL_cleanse(gcm_key, sizeof(gcm_key));
    CORE_TRY(rc);

    *dek_len = KMS_DEK_LEN;
    return CORE_OK;
}

static void keyfile_free(struct kms_provider *p)
{
    struct kms_keyfile *kf = keyfile_of(p);

    kms_secmem_free(kf->keys, kf->key_cap * sizeof(*kf->keys));
    EVP_CIPHER_free(kf->aes_gcm);
    EVP_MAC_free(kf->hmac);
    OPENSSL_cleanse(kf, sizeof(*kf));
    free(kf);
}

static const struct kms_provider_ops keyfile_ops = {
    .name = "file",
    .wrap = keyfile_wrap,
    .unwrap = keyfile_unwrap,
    .free = keyfile_free,
};

enum core_err kms_keyfile_new(size_t key_cap, struct kms_keyfile **out)
{
    enum core_err rc = CORE_OK;
    struct kms_keyfile *kf = NULL;
    void *keys = NULL;

    CORE_ENSURE(out != NULL && key_cap > 0 && key_cap <= SIZE_MAX / sizeof(*kf->keys), CORE_INTERNAL);
    *out = NULL;

    kf = calloc(1, sizeof(*kf));
    if (kf == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    kf->base.ops = &keyfile_ops;

    rc = kms_secmem_alloc(key_cap * sizeof(*kf->keys), &keys, &kf->keys_locked);
    if (rc != CORE_OK) {
        goto out;
    }
    kf->keys = keys;
    kf->key_cap = key_cap;

    kf->aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    kf->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (kf->aes_gcm == NULL || kf->hmac == NULL) {
        rc = CORE_CRYPTO;
        goto out;
    }

    *out = kf;
    kf = NULL;

out:
    if (kf != NULL) {
        keyfile_free(&kf->base);
    }
    return rc;
}
