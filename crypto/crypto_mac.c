/* SPDX-License-Identifier: Apache-2.0 */
/* Algorithms fetched once per process, and the hash and MAC calls built on them. */
#include "crypto/crypto_mac.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;
static EVP_CIPHER *aes_256_gcm;
/*
 * An HMAC context with SHA-256 set and no key. Each call duplicates it, so
 * the digest is not looked up again, and never changes it, so threads share
 * it without a lock.
 */
static EVP_MAC_CTX *hmac_template;

static void fetch_all(void)
{
    static char digest[] = "SHA256";
    OSSL_PARAM params[2];
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);

    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    aes_256_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (hmac == NULL) {
        return;
    }
    hmac_template = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac); /* the context keeps its own reference */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (hmac_template != NULL && EVP_MAC_CTX_set_params(hmac_template, params) != 1) {
        EVP_MAC_CTX_free(hmac_template);
        hmac_template = NULL;
    }
}

const EVP_MD *crypto_md_sha256(void)
{
    pthread_once(&fetch_once, fetch_all);
    return sha256;
}

const EVP_CIPHER *crypto_cipher_aes_256_gcm(void)
{
    pthread_once(&fetch_once, fetch_all);
    return aes_256_gcm;
}

enum core_err crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    const EVP_MD *md = crypto_md_sha256();
    unsigned int out_len = 0;

    CORE_ENSURE(md != NULL, CORE_INTERNAL);
    CORE_ENSURE(EVP_Digest(data, len, out, &out_len, md, NULL) == 1, CORE_INTERNAL);
    CORE_ENSURE(out_len == CRYPTO_SHA256_LEN, CORE_INTERNAL);
    return CORE_OK;
}

enum core_err crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                                 uint8_t out[CRYPTO_SHA256_LEN])
{
    enum core_err err = CORE_INTERNAL;
    EVP_MAC_CTX *ctx = NULL;
    size_t out_len = 0;

    pthread_once(&fetch_once, fetch_all);
    if (hmac_template == NULL) {
        return CORE_INTERNAL;
    }
    ctx = EVP_MAC_CTX_dup(hmac_template);
    if (ctx == NULL) {
        return CORE_NOMEM;
    }

    if (EVP_MAC_init(ctx, key, key_len, NULL) == 1 && EVP_MAC_update(ctx, data, len) == 1 &&
        EVP_MAC_final(ctx, out, &out_len, CRYPTO_SHA256_LEN) == 1 && out_len == CRYPTO_SHA256_LEN) {
        err = CORE_OK;
    }

    EVP_MAC_CTX_free(ctx);
    return err;
}
