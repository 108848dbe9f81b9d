/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building, parsing and verifying the envelope metadata of format version 1,
 * and the wrap context passed to the KMS.
 */
#include "crypto/crypto_envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto_kdf.h"
#include "crypto/crypto_mac.h"

#define MAC_LABEL "s3seal/1 mac"
#define MAC_VERSION 0x01
/*
 * MAC field of a multipart envelope in place of BE64(plaintext length). Its
 * 2 bytes differ in length from the 8 of any plaintext length, so the MAC
 * input of a multipart envelope never equals that of a single-part one.
 */
#define MAC_MULTIPART "mp"
#define LENGTH_DIGITS_MAX 20

/* Bounded output buffer; each put checks the room left. */
struct writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

static enum core_err put_bytes(struct writer *w, const void *data, size_t len)
{
    CORE_ENSURE(w->cap - w->len >= len, CORE_TOO_LARGE);
    if (len > 0) {
        memcpy(w->buf + w->len, data, len);
    }
    w->len += len;
    return CORE_OK;
}

static enum core_err put_be32(struct writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    return put_bytes(w, b, sizeof(b));
}

/* BE32(len) || data, the length-prefixed field of the wrap context and the MAC input */
static enum core_err put_field(struct writer *w, const void *data, size_t len)
{
    CORE_ENSURE(len <= UINT32_MAX, CORE_TOO_LARGE);
    CORE_TRY(put_be32(w, (uint32_t)len));
    return put_bytes(w, data, len);
}

size_t crypto_wrap_context_len(size_t bucket_len, size_t key_len)
{
    if (bucket_len > UINT32_MAX || key_len > UINT32_MAX) {
        return 0;
    }
    return sizeof(CRYPTO_WRAP_CONTEXT_LABEL) + 4 + bucket_len + 4 + key_len;
}

enum core_err crypto_wrap_context(const char *bucket, size_t bucket_len, const char *key, size_t key_len,
                                  uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t need = crypto_wrap_context_len(bucket_len, key_len);
    struct writer w = {out, out_cap, 0};

    CORE_ENSURE(need != 0 && need <= out_cap, CORE_TOO_LARGE);

    /* sizeof includes the NUL, which is the 0x00 separator of the format */
    CORE_TRY(put_bytes(&w, CRYPTO_WRAP_CONTEXT_LABEL, sizeof(CRYPTO_WRAP_CONTEXT_LABEL)));
    CORE_TRY(put_field(&w, bucket, bucket_len));
    CORE_TRY(put_field(&w, key, key_len));
    *out_len = w.len;
    return CORE_OK;
}

/* Accepts 1 to 255 characters in 0x20..0x7e, so that the value survives as an HTTP header value. */
static bool is_valid_kms_id(const char *kms, size_t max)
{
    size_t len = strnlen(kms, max);

    if (len == 0 || len >= CRYPTO_KMS_ID_MAX || len == max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (kms[i] < 0x20 || kms[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* A multipart envelope has no plaintext length, so a nonzero one means the caller mixed up two envelopes. */
static bool has_valid_fields(const struct crypto_envelope *env)
{
    return is_valid_kms_id(env->kms, sizeof(env->kms)) && env->wrapped_len > 0 &&
           env->wrapped_len <= CRYPTO_WRAPPED_MAX && (!env->multipart || env->plain_len == 0);
}

static size_t mac_input_len(const struct crypto_envelope *env, size_t bucket_len, size_t key_len)
{
    size_t length_field = env->multipart ? strlen(MAC_MULTIPART) : 8;
    size_t fixed = 4 + strlen(MAC_LABEL) + 4 + 1 + 4 + strlen(env->kms) + 4 + env->wrapped_len + 4 +
                   sizeof(env->commitment) + 4 + length_field + 4 + 4;

    if (bucket_len > UINT32_MAX || key_len > UINT32_MAX || SIZE_MAX - fixed - bucket_len < key_len) {
        return 0;
    }
    return fixed + bucket_len + key_len;
}

enum core_err crypto_envelope_mac_input(const struct crypto_envelope *env, const char *bucket,
                                        size_t bucket_len, const char *key, size_t key_len, uint8_t *out,
                                        size_t out_cap, size_t *out_len)
{
    struct writer w = {out, out_cap, 0};
    uint8_t version = MAC_VERSION;
    uint8_t length[8];

    CORE_ENSURE(has_valid_fields(env), CORE_INTERNAL);
    for (size_t i = 0; i < 8; i++) {
        length[i] = (uint8_t)(env->plain_len >> (56 - 8 * i));
    }

    CORE_TRY(put_field(&w, MAC_LABEL, strlen(MAC_LABEL)));
    CORE_TRY(put_field(&w, &version, 1));
    CORE_TRY(put_field(&w, env->kms, strlen(env->kms)));
    CORE_TRY(put_field(&w, env->wrapped, env->wrapped_len));
    CORE_TRY(put_field(&w, env->commitment, sizeof(env->commitment)));
    if (env->multipart) {
        CORE_TRY(put_field(&w, MAC_MULTIPART, strlen(MAC_MULTIPART)));
    } else {
        CORE_TRY(put_field(&w, length, sizeof(length)));
    }
    CORE_TRY(put_field(&w, bucket, bucket_len));
    CORE_TRY(put_field(&w, key, key_len));
    *out_len = w.len;
    return CORE_OK;
}

/* MAC = first 16 bytes of HMAC-SHA256(key_meta, M) */
static enum core_err compute_mac(const struct crypto_envelope *env, const uint8_t dek[32], const char *bucket,
                                 size_t bucket_len, const char *key, size_t key_len,
                                 uint8_t mac[CRYPTO_ENVELOPE_MAC_LEN])
{
    enum core_err err = CORE_OK;
    uint8_t key_meta[CRYPTO_KEY_LEN];
    uint8_t full[32];
    size_t cap = mac_input_len(env, bucket_len, key_len);
    size_t len = 0;
    uint8_t *input = NULL;

    if (cap == 0) {
        err = CORE_TOO_LARGE;
        goto out;
    }
    input = malloc(cap);
    if (input == NULL) {
        err = CORE_NOMEM;
        goto out;
    }
    err = crypto_envelope_mac_input(env, bucket, bucket_len, key, key_len, input, cap, &len);
    if (err != CORE_OK) {
        goto out;
    }
    err = crypto_kdf_meta_key(dek, key_meta);
    if (err != CORE_OK) {
        goto out;
    }
    err = crypto_hmac_sha256(key_meta, sizeof(key_meta), input, len, full);
    if (err == CORE_OK) {
        memcpy(mac, full, CRYPTO_ENVELOPE_MAC_LEN);
    }

out:
    OPENSSL_cleanse(key_meta, sizeof(key_meta));
    free(input);
    return err;
}

static enum core_err encode_headers(const struct crypto_envelope *env, struct crypto_envelope_headers *out)
{
    size_t n = 0;

    memcpy(out->version, CRYPTO_ENVELOPE_VERSION, sizeof(CRYPTO_ENVELOPE_VERSION));
    memcpy(out->kms, env->kms, sizeof(out->kms));
    CORE_TRY(crypto_base64_encode(env->wrapped, env->wrapped_len, out->dek, sizeof(out->dek), &n));
    CORE_TRY(crypto_base64_encode(env->commitment, sizeof(env->commitment), out->commitment,
                                  sizeof(out->commitment), &n));
    CORE_TRY(crypto_base64_encode(env->mac, sizeof(env->mac), out->mac, sizeof(out->mac), &n));
    if (env->multipart) {
        out->length[0] = '\0';
        memcpy(out->multipart, CRYPTO_ENVELOPE_MULTIPART, sizeof(CRYPTO_ENVELOPE_MULTIPART));
    } else {
        snprintf(out->length, sizeof(out->length), "%llu", (unsigned long long)env->plain_len);
        out->multipart[0] = '\0';
    }
    return CORE_OK;
}

/* Shared by both seal variants: plain_len is ignored when multipart is set. */
static enum core_err seal_envelope(const uint8_t dek[32], const char *kms_id, const uint8_t *wrapped,
                                   size_t wrapped_len, uint64_t plain_len, bool multipart, const char *bucket,
                                   size_t bucket_len, const char *key, size_t key_len,
                                   struct crypto_envelope_headers *out)
{
    struct crypto_envelope env;

    memset(&env, 0, sizeof(env));
    CORE_ENSURE(is_valid_kms_id(kms_id, CRYPTO_KMS_ID_MAX), CORE_INTERNAL);
    CORE_ENSURE(wrapped_len > 0 && wrapped_len <= CRYPTO_WRAPPED_MAX, CORE_INTERNAL);

    memcpy(env.kms, kms_id, strlen(kms_id) + 1);
    memcpy(env.wrapped, wrapped, wrapped_len);
    env.wrapped_len = wrapped_len;
    env.multipart = multipart;
    env.plain_len = multipart ? 0 : plain_len;
    CORE_TRY(crypto_kdf_commitment(dek, env.commitment));
    CORE_TRY(compute_mac(&env, dek, bucket, bucket_len, key, key_len, env.mac));
    return encode_headers(&env, out);
}

enum core_err crypto_envelope_seal(const uint8_t dek[32], const char *kms_id, const uint8_t *wrapped,
                                   size_t wrapped_len, uint64_t plain_len, const char *bucket,
                                   size_t bucket_len, const char *key, size_t key_len,
                                   struct crypto_envelope_headers *out)
{
    return seal_envelope(dek, kms_id, wrapped, wrapped_len, plain_len, false, bucket, bucket_len, key,
                         key_len, out);
}

enum core_err crypto_envelope_seal_multipart(const uint8_t dek[32], const char *kms_id,
                                             const uint8_t *wrapped, size_t wrapped_len, const char *bucket,
                                             size_t bucket_len, const char *key, size_t key_len,
                                             struct crypto_envelope_headers *out)
{
    return seal_envelope(dek, kms_id, wrapped, wrapped_len, 0, true, bucket, bucket_len, key, key_len, out);
}

bool crypto_envelope_is_present(crypto_meta_lookup_fn lookup, void *arg)
{
    return lookup(arg, CRYPTO_META_VERSION) != NULL;
}

/* Decodes strict base64 that must yield between min and max bytes. */
static enum core_err parse_base64(const char *value, size_t min, size_t max, uint8_t *out, size_t *out_len)
{
    size_t len = 0;

    CORE_ENSURE(value != NULL, CORE_CRYPTO);
    CORE_ENSURE(strlen(value) <= CRYPTO_BASE64_ENCODED_LEN(max), CORE_CRYPTO);
    CORE_ENSURE(crypto_base64_decode(value, strlen(value), out, max, &len) == CORE_OK, CORE_CRYPTO);
    CORE_ENSURE(len >= min && len <= max, CORE_CRYPTO);
    *out_len = len;
    return CORE_OK;
}

/* Accepts canonical decimal only: digits, no sign, no leading zero unless the value is 0, no overflow. */
static enum core_err parse_length(const char *value, uint64_t *out)
{
    size_t len = 0;
    uint64_t v = 0;

    CORE_ENSURE(value != NULL, CORE_CRYPTO);
    len = strlen(value);
    CORE_ENSURE(len > 0 && len <= LENGTH_DIGITS_MAX, CORE_CRYPTO);
    CORE_ENSURE(value[0] != '0' || len == 1, CORE_CRYPTO);
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(value[i] - '0');

        CORE_ENSURE(value[i] >= '0' && value[i] <= '9', CORE_CRYPTO);
        CORE_ENSURE(v <= (UINT64_MAX - digit) / 10, CORE_CRYPTO);
        v = v * 10 + digit;
    }
    *out = v;
    return CORE_OK;
}

static enum core_err parse_kms(const char *value, char out[CRYPTO_KMS_ID_MAX])
{
    CORE_ENSURE(value != NULL, CORE_CRYPTO);
    CORE_ENSURE(is_valid_kms_id(value, CRYPTO_KMS_ID_MAX), CORE_CRYPTO);
    memcpy(out, value, strlen(value) + 1);
    return CORE_OK;
}

/*
 * Reads the plaintext length or the multipart marker. An envelope must
 * have exactly one of them, so that the MAC input is never ambiguous. A
 * field counts as present even when its value is empty.
 */
static enum core_err parse_length_or_marker(crypto_meta_lookup_fn lookup, void *arg,
                                            struct crypto_envelope *out)
{
    const char *length = lookup(arg, CRYPTO_META_LENGTH);
    const char *marker = lookup(arg, CRYPTO_META_MULTIPART);

    CORE_ENSURE((length == NULL) != (marker == NULL), CORE_CRYPTO);
    if (marker != NULL) {
        CORE_ENSURE(strcmp(marker, CRYPTO_ENVELOPE_MULTIPART) == 0, CORE_CRYPTO);
        out->multipart = true;
        out->plain_len = 0;
        return CORE_OK;
    }
    return parse_length(length, &out->plain_len);
}

enum core_err crypto_envelope_parse(crypto_meta_lookup_fn lookup, void *arg, struct crypto_envelope *out)
{
    const char *version = lookup(arg, CRYPTO_META_VERSION);
    size_t len = 0;

    memset(out, 0, sizeof(*out));
    CORE_ENSURE(version != NULL && strcmp(version, CRYPTO_ENVELOPE_VERSION) == 0, CORE_CRYPTO);
    CORE_TRY(parse_kms(lookup(arg, CRYPTO_META_KMS), out->kms));
    CORE_TRY(
        parse_base64(lookup(arg, CRYPTO_META_DEK), 1, CRYPTO_WRAPPED_MAX, out->wrapped, &out->wrapped_len));
    CORE_TRY(parse_base64(lookup(arg, CRYPTO_META_COMMITMENT), 32, 32, out->commitment, &len));
    CORE_TRY(parse_length_or_marker(lookup, arg, out));
    CORE_TRY(parse_base64(lookup(arg, CRYPTO_META_MAC), CRYPTO_ENVELOPE_MAC_LEN, CRYPTO_ENVELOPE_MAC_LEN,
                          out->mac, &len));
    return CORE_OK;
}

enum core_err crypto_envelope_verify(const struct crypto_envelope *env, const uint8_t dek[32],
                                     const char *bucket, size_t bucket_len, const char *key, size_t key_len)
{
    uint8_t commitment[CRYPTO_COMMITMENT_LEN];
    uint8_t mac[CRYPTO_ENVELOPE_MAC_LEN];
    enum core_err err = CORE_OK;
    int diff = 0;

    CORE_ENSURE(has_valid_fields(env), CORE_CRYPTO);
    CORE_TRY(crypto_kdf_commitment(dek, commitment));
    err = compute_mac(env, dek, bucket, bucket_len, key, key_len, mac);
    if (err == CORE_TOO_LARGE) {
        return CORE_CRYPTO;
    }
    CORE_TRY(err);

    /* both comparisons always run, so timing does not tell which one failed */
    diff |= CRYPTO_memcmp(commitment, env->commitment, sizeof(commitment));
    diff |= CRYPTO_memcmp(mac, env->mac, sizeof(mac));
    return diff == 0 ? CORE_OK : CORE_CRYPTO;
}
