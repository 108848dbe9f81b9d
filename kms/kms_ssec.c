/* SPDX-License-Identifier: Apache-2.0 */
/* Wrapping data keys under SSE-C customer keys; see kms_ssec.h. */
#include "kms/kms_ssec.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/crypto_kdf.h"

#define BLOB_VERSION 1
#define SALT_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define SALT_OFFSET 1
#define NONCE_OFFSET (SALT_OFFSET + SALT_LEN)
#define CIPHERTEXT_OFFSET (NONCE_OFFSET + NONCE_LEN)
#define TAG_OFFSET (CIPHERTEXT_OFFSET + KMS_DEK_LEN)

bool kms_ssec_is_id(const char *kms_id)
{
    return kms_id != NULL && strcmp(kms_id, KMS_SSEC_ID) == 0;
}

/* Derives the AES-256-GCM key that wraps one data key: HKDF-SHA256(customer key, salt, "s3seal ssec wrap v1"). */
static enum core_err derive_wrap_key(const uint8_t key[KMS_SSEC_KEY_LEN], const uint8_t salt[SALT_LEN],
                                     uint8_t out[KMS_DEK_LEN])
{
    static const char info[] = "s3seal ssec wrap v1";

    return crypto_hkdf_sha256(key, KMS_SSEC_KEY_LEN, salt, SALT_LEN, (const uint8_t *)info, sizeof(info) - 1,
                              out);
}

/* Runs AES-256-GCM over the 32-byte data key in one direction; decryption also checks the tag. */
static enum core_err gcm_run(bool seal, const uint8_t key[KMS_DEK_LEN], const uint8_t nonce[NONCE_LEN],
                             const uint8_t *aad, size_t aad_len, const uint8_t *in, uint8_t *out,
                             uint8_t tag[TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok;

    if (ctx == NULL) {
        return CORE_NOMEM;
    }
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, seal ? 1 : 0) == 1 &&
         (aad_len == 0 || EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1) &&
         EVP_CipherUpdate(ctx, out, &len, in, KMS_DEK_LEN) == 1;
    if (ok && !seal) {
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1 &&
             EVP_CipherFinal_ex(ctx, out + len, &len) == 1;
    } else if (ok) {
        ok = EVP_CipherFinal_ex(ctx, out + len, &len) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, KMS_DEK_LEN);
    }
    return ok ? CORE_OK : CORE_CRYPTO;
}

enum core_err kms_ssec_wrap(const uint8_t key[KMS_SSEC_KEY_LEN], const uint8_t dek[KMS_DEK_LEN],
                            const uint8_t *context, size_t context_len, uint8_t *out, size_t out_cap,
                            size_t *out_len)
{
    uint8_t wrap_key[KMS_DEK_LEN];
    enum core_err rc;

    CORE_ENSURE(out_cap >= KMS_SSEC_BLOB_LEN, CORE_TOO_LARGE);
    CORE_ENSURE(context_len <= INT_MAX, CORE_TOO_LARGE);
    out[0] = BLOB_VERSION;
    CORE_ENSURE(RAND_bytes(out + SALT_OFFSET, SALT_LEN + NONCE_LEN) == 1, CORE_CRYPTO);

    rc = derive_wrap_key(key, out + SALT_OFFSET, wrap_key);
    if (rc == CORE_OK) {
        rc = gcm_run(true, wrap_key, out + NONCE_OFFSET, context, context_len, dek, out + CIPHERTEXT_OFFSET,
                     out + TAG_OFFSET);
    }
    OPENSSL_cleanse(wrap_key, sizeof(wrap_key));
    CORE_TRY(rc);
    *out_len = KMS_SSEC_BLOB_LEN;
    return CORE_OK;
}

enum core_err kms_ssec_unwrap(const uint8_t key[KMS_SSEC_KEY_LEN], const uint8_t *blob, size_t blob_len,
                              const uint8_t *context, size_t context_len, uint8_t dek[KMS_DEK_LEN])
{
    uint8_t wrap_key[KMS_DEK_LEN];
    uint8_t tag[TAG_LEN];
    enum core_err rc;

    OPENSSL_cleanse(dek, KMS_DEK_LEN);
    CORE_ENSURE(context_len <= INT_MAX, CORE_TOO_LARGE);
    /* a wrong length or version is tampering too, and fails the same way as a bad tag */
    CORE_ENSURE(blob_len == KMS_SSEC_BLOB_LEN && blob[0] == BLOB_VERSION, CORE_CRYPTO);

    memcpy(tag, blob + TAG_OFFSET, TAG_LEN);
    rc = derive_wrap_key(key, blob + SALT_OFFSET, wrap_key);
    if (rc == CORE_OK) {
        rc = gcm_run(false, wrap_key, blob + NONCE_OFFSET, context, context_len, blob + CIPHERTEXT_OFFSET, dek, tag);
    }
    OPENSSL_cleanse(wrap_key, sizeof(wrap_key));
    return rc;
}
