/* SPDX-License-Identifier: Apache-2.0 */
/* The aws-chunked body writer of the unit tests; see chunked_writer.h. */
#include "chunked_writer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void hmac(const void *key, size_t key_len, const char *data, uint8_t out[32])
{
    unsigned len = 32;

    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, strlen(data), out, &len);
}

static void to_hex(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", in[i]);
    }
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t digest[32];

    EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL);
    to_hex(digest, 32, out);
}

void chunked_writer_signing_key(const char *secret, const char *date8, const char *region, uint8_t key[32])
{
    char first[300];

    snprintf(first, sizeof(first), "AWS4%s", secret);
    hmac(first, strlen(first), date8, key);
    hmac(key, 32, region, key);
    hmac(key, 32, "s3", key);
    hmac(key, 32, "aws4_request", key);
    OPENSSL_cleanse(first, sizeof(first));
}

static bool is_signed(const struct chunked_writer *w)
{
    return w->mode == S3_CHUNKED_SIGNED || w->mode == S3_CHUNKED_SIGNED_TRAILER;
}

int chunked_writer_init(struct chunked_writer *w, enum s3_chunked_mode mode, const uint8_t key[32],
                        const char *request_time, const char *scope, const char *seed_signature)
{
    memset(w, 0, sizeof(*w));
    w->mode = mode;
    if (!is_signed(w)) {
        return 0;
    }
    if (key == NULL || request_time == NULL || scope == NULL || seed_signature == NULL ||
        strlen(request_time) != 16 || strlen(scope) >= sizeof(w->scope) || strlen(seed_signature) != 64) {
        return -1;
    }
    memcpy(w->signing_key, key, 32);
    memcpy(w->request_time, request_time, 17);
    memcpy(w->scope, scope, strlen(scope) + 1);
    memcpy(w->previous_signature, seed_signature, 65);
    return 0;
}

static int append(struct chunked_writer *w, const void *data, size_t len)
{
    if (w->len + len > w->cap) {
        size_t cap = (w->len + len) * 2 + 64;
        uint8_t *body = realloc(w->body, cap);

        if (body == NULL) {
            return -1;
        }
        w->body = body;
        w->cap = cap;
    }
    if (len > 0) {
        memcpy(w->body + w->len, data, len);
    }
    w->len += len;
    return 0;
}

static int append_str(struct chunked_writer *w, const char *s)
{
    return append(w, s, strlen(s));
}

/* Signs algorithm, time, scope, previous signature and hashes; the result becomes the previous signature. */
static void sign_link(struct chunked_writer *w, const char *algorithm, const char *hashes)
{
    char string_to_sign[600];
    uint8_t mac[32];

    snprintf(string_to_sign, sizeof(string_to_sign), "%s\n%s\n%s\n%s\n%s", algorithm, w->request_time,
             w->scope, w->previous_signature, hashes);
    hmac(w->signing_key, 32, string_to_sign, mac);
    to_hex(mac, 32, w->previous_signature);
}

int chunked_writer_chunk(struct chunked_writer *w, const uint8_t *data, size_t len)
{
    char line[128];

    if (is_signed(w)) {
        char hashes[130];
        char data_hash[65];

        sha256_hex(data, len, data_hash);
        snprintf(hashes, sizeof(hashes), "%s\n%s", EMPTY_SHA256, data_hash);
        sign_link(w, "AWS4-HMAC-SHA256-PAYLOAD", hashes);
        snprintf(line, sizeof(line), "%zx;chunk-signature=%s\r\n", len, w->previous_signature);
    } else {
        snprintf(line, sizeof(line), "%zx\r\n", len);
    }
    if (append_str(w, line) != 0 || append(w, data, len) != 0) {
        return -1;
    }
    return len == 0 ? 0 : append_str(w, "\r\n");
}

int chunked_writer_trailer(struct chunked_writer *w, const char *name, const char *value)
{
    int n = snprintf(w->trailers + w->trailers_len, sizeof(w->trailers) - w->trailers_len, "%s:%s\n", name,
                     value);

    if (n < 0 || (size_t)n >= sizeof(w->trailers) - w->trailers_len) {
        return -1;
    }
    w->trailers_len += (size_t)n;
    if (append_str(w, name) != 0 || append_str(w, ":") != 0 || append_str(w, value) != 0) {
        return -1;
    }
    return append_str(w, "\r\n");
}

int chunked_writer_end(struct chunked_writer *w)
{
    if (w->mode == S3_CHUNKED_SIGNED_TRAILER) {
        char trailer_hash[65];

        sha256_hex(w->trailers, w->trailers_len, trailer_hash);
        sign_link(w, "AWS4-HMAC-SHA256-TRAILER", trailer_hash);
        if (append_str(w, "x-amz-trailer-signature:") != 0 || append_str(w, w->previous_signature) != 0 ||
            append_str(w, "\r\n") != 0) {
            return -1;
        }
    }
    return append_str(w, "\r\n");
}

void chunked_writer_cleanup(struct chunked_writer *w)
{
    free(w->body);
    OPENSSL_cleanse(w, sizeof(*w));
}
