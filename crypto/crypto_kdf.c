/* SPDX-License-Identifier: Apache-2.0 */
/* HKDF-SHA256 through OpenSSL 3's EVP_KDF interface, with the fixed inputs of format version 1. */
#include "crypto/crypto_kdf.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

/* maximum info length; the longest is "s3seal/1 data" || suite || BE32(part), 18 bytes */
#define INFO_MAX 32
#define SALT_MAX 8

/*
 * Copies of the HKDF inputs, because OSSL_PARAM octet strings take non-const
 * pointers and -Wcast-qual forbids casting the caller's const away.
 */
struct hkdf_input {
    uint8_t ikm[CRYPTO_KEY_LEN];
    uint8_t salt[SALT_MAX];
    size_t salt_len;
    uint8_t info[INFO_MAX];
    size_t info_len;
};

static enum core_err hkdf_sha256(struct hkdf_input *in, uint8_t out[CRYPTO_KEY_LEN])
{
    static char digest[] = "SHA256";
    enum core_err err = CORE_INTERNAL;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM params[5];
    size_t n = 0;

    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) {
        goto out;
    }
    ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == NULL) {
        goto out;
    }

    /*
     * RFC 5869: an absent salt means HashLen zero bytes. OpenSSL applies that
     * when the parameter is left out, which the Python vector check confirms.
     */
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, in->ikm, sizeof(in->ikm));
    if (in->salt_len > 0) {
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, in->salt, in->salt_len);
    }
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, in->info, in->info_len);
    params[n] = OSSL_PARAM_construct_end();

    if (EVP_KDF_derive(ctx, out, CRYPTO_KEY_LEN, params) == 1) {
        err = CORE_OK;
    }

out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(in->ikm, sizeof(in->ikm));
    return err;
}

static void input_init(struct hkdf_input *in, const uint8_t dek[CRYPTO_KEY_LEN], const char *info)
{
    memset(in, 0, sizeof(*in));
    memcpy(in->ikm, dek, CRYPTO_KEY_LEN);
    in->info_len = strlen(info);
    memcpy(in->info, info, in->info_len);
}

enum core_err crypto_kdf_commitment(const uint8_t dek[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_COMMITMENT_LEN])
{
    struct hkdf_input in;

    input_init(&in, dek, CRYPTO_KDF_INFO_COMMIT);
    return hkdf_sha256(&in, out);
}

enum core_err crypto_kdf_meta_key(const uint8_t dek[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_KEY_LEN])
{
    struct hkdf_input in;

    input_init(&in, dek, CRYPTO_KDF_INFO_META);
    return hkdf_sha256(&in, out);
}

enum core_err crypto_kdf_stream_key(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t stream_id[8],
                                    uint8_t suite, uint32_t part_number, uint8_t out[CRYPTO_KEY_LEN])
{
    struct hkdf_input in;

    input_init(&in, dek, CRYPTO_KDF_INFO_DATA);
    memcpy(in.salt, stream_id, 8);
    in.salt_len = 8;
    in.info[in.info_len++] = suite;
    in.info[in.info_len++] = (uint8_t)(part_number >> 24);
    in.info[in.info_len++] = (uint8_t)(part_number >> 16);
    in.info[in.info_len++] = (uint8_t)(part_number >> 8);
    in.info[in.info_len++] = (uint8_t)part_number;
    return hkdf_sha256(&in, out);
}
