/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies on their way to the backend. Object bodies are sealed chunk
 * by chunk; small XML bodies are buffered. Either way the last bytes reach
 * the backend only after the client's payload hash and Content-MD5 matched,
 * so a body that fails verification never becomes a stored object.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_log.h"
#include "crypto/crypto_base64.h"
#include "crypto/crypto_envelope.h"
#include "proxy/proxy.h"

static bool is_hex_sha256(const char *s)
{
    if (strlen(s) != 64) {
        return false;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static enum core_err prepare_digests(struct proxy_request *req, enum s3_error_code *error)
{
    const struct s3_header *md5 = proxy_head_find(&req->head, "content-md5");
    const char *hash = req->auth.payload_hash;

    if (is_hex_sha256(hash)) {
        req->sha256 = EVP_MD_CTX_new();
        if (req->sha256 == NULL || EVP_DigestInit_ex(req->sha256, EVP_sha256(), NULL) != 1) {
            return CORE_NOMEM;
        }
    } else if (strcmp(hash, "UNSIGNED-PAYLOAD") != 0) {
        /* TODO: aws-chunked bodies (STREAMING-* payload hashes) are not decoded yet and are refused. */
        *error = S3_ERR_NOT_IMPLEMENTED;
        return CORE_CLIENT;
    }

    if (md5 != NULL) {
        size_t decoded = 0;

        if (crypto_base64_decode(md5->value, md5->value_len, req->content_md5, sizeof(req->content_md5),
                                 &decoded) != CORE_OK ||
            decoded != sizeof(req->content_md5)) {
            *error = S3_ERR_INVALID_DIGEST;
            return CORE_CLIENT;
        }
        req->md5 = EVP_MD_CTX_new();
        if (req->md5 == NULL || EVP_DigestInit_ex(req->md5, EVP_md5(), NULL) != 1) {
            return CORE_NOMEM;
        }
    }
    return CORE_OK;
}

/* Creates the object's data key, wraps it with the KMS and starts the sealing stream. */
static enum core_err prepare_seal(struct proxy_request *req, enum s3_error_code *error)
{
    uint8_t dek[CRYPTO_DEK_LEN];
    uint8_t stream_id[CRYPTO_STREAM_ID_LEN];
    uint8_t context[2200];
    uint8_t wrapped[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    size_t context_len = 0;
    size_t wrapped_len = 0;
    const char *bucket = req->target.bucket;
    enum core_err err;

    if (req->content_length > CRYPTO_PLAIN_MAX_SINGLE) {
        *error = S3_ERR_ENTITY_TOO_LARGE;
        return CORE_TOO_LARGE;
    }
    req->envelope = calloc(1, sizeof(*req->envelope));
    req->plain = malloc(CRYPTO_CHUNK_PLAIN_MAX);
    req->cipher = malloc(CRYPTO_CHUNK_CIPHER_MAX);
    if (req->envelope == NULL || req->plain == NULL || req->cipher == NULL) {
        return CORE_NOMEM;
    }

    err = crypto_random(dek, sizeof(dek));
    if (err == CORE_OK) {
        err = crypto_random(stream_id, sizeof(stream_id));
    }
    if (err == CORE_OK) {
        err = crypto_wrap_context(bucket, strlen(bucket), req->target.key, req->target.key_len, context,
                                  sizeof(context), &context_len);
    }
    if (err == CORE_OK) {
        err = kms_wrap(req->conn->worker->kms, dek, context, context_len, wrapped, sizeof(wrapped), &wrapped_len,
                       kms_id, sizeof(kms_id));
        if (err != CORE_OK) {
            core_log(CORE_LOG_ERROR, "proxy", "cannot wrap the data key: %s r=%s", core_err_str(err), req->id);
            *error = S3_ERR_KMS;
        }
    }
    if (err == CORE_OK) {
        err = crypto_envelope_seal(dek, kms_id, wrapped, wrapped_len, req->content_length, bucket, strlen(bucket),
                                   req->target.key, req->target.key_len, req->envelope);
    }
    if (err == CORE_OK) {
        err = crypto_stream_seal_init(&req->seal, dek, 0, stream_id, req->content_length);
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    return err;
}

enum core_err proxy_body_prepare(struct proxy_request *req, enum s3_error_code *error)
{
    if (req->target.op == S3_OP_PUT_OBJECT) {
        req->body_mode = PROXY_BODY_SEAL;
    } else if (req->has_body) {
        req->body_mode = PROXY_BODY_BUFFER;
        if (req->content_length > PROXY_SMALL_BODY_MAX) {
            *error = S3_ERR_ENTITY_TOO_LARGE;
            return CORE_TOO_LARGE;
        }
        req->small_body = evbuffer_new();
        if (req->small_body == NULL) {
            return CORE_NOMEM;
        }
    } else {
        req->body_mode = PROXY_BODY_NONE;
    }

    CORE_TRY(prepare_digests(req, error));
    if (req->body_mode == PROXY_BODY_SEAL) {
        CORE_TRY(prepare_seal(req, error));
    }
    return CORE_OK;
}

static void send_upstream(struct proxy_request *req, const uint8_t *data, size_t len)
{
    /* the backend may have answered already (an error); its connection is then gone */
    if (req->up != NULL) {
        evbuffer_add(proxy_upstream_output(req->up), data, len);
    }
}

static enum core_err seal_some(struct proxy_request *req, const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t want = crypto_stream_next_plain_len(&req->seal);
        size_t take;
        size_t sealed = 0;

        if (want == 0) {
            return CORE_INTERNAL; /* llhttp stops at Content-Length, so this is a bug */
        }
        take = want - req->plain_fill < len ? want - req->plain_fill : len;
        memcpy(req->plain + req->plain_fill, data, take);
        req->plain_fill += take;
        data += take;
        len -= take;
        if (req->plain_fill < want) {
            break;
        }

        CORE_TRY(crypto_stream_seal_chunk(&req->seal, req->plain, want, req->cipher, CRYPTO_CHUNK_CIPHER_MAX,
                                          &sealed));
        req->plain_fill = 0;
        if (crypto_stream_is_complete(&req->seal)) {
            /* the final chunk waits in req->cipher until the digests matched */
            req->cipher_held = sealed;
        } else {
            send_upstream(req, req->cipher, sealed);
        }
    }
    return CORE_OK;
}

enum core_err proxy_body_feed(struct proxy_request *req, const uint8_t *data, size_t len,
                              enum s3_error_code *error)
{
    (void)error;
    if (req->sha256 != NULL && EVP_DigestUpdate(req->sha256, data, len) != 1) {
        return CORE_INTERNAL;
    }
    if (req->md5 != NULL && EVP_DigestUpdate(req->md5, data, len) != 1) {
        return CORE_INTERNAL;
    }

    switch (req->body_mode) {
    case PROXY_BODY_SEAL:
        return seal_some(req, data, len);
    case PROXY_BODY_BUFFER:
        return evbuffer_add(req->small_body, data, len) == 0 ? CORE_OK : CORE_NOMEM;
    default:
        return CORE_OK;
    }
}

static enum core_err verify_digests(struct proxy_request *req, enum s3_error_code *error)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (req->sha256 != NULL) {
        char hex[65];

        if (EVP_DigestFinal_ex(req->sha256, digest, &digest_len) != 1) {
            return CORE_INTERNAL;
        }
        for (unsigned int i = 0; i < digest_len; i++) {
            snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        }
        if (CRYPTO_memcmp(hex, req->auth.payload_hash, 64) != 0) {
            *error = S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH;
            return CORE_CLIENT;
        }
    }
    if (req->md5 != NULL) {
        if (EVP_DigestFinal_ex(req->md5, digest, &digest_len) != 1) {
            return CORE_INTERNAL;
        }
        if (CRYPTO_memcmp(digest, req->content_md5, sizeof(req->content_md5)) != 0) {
            *error = S3_ERR_BAD_DIGEST;
            return CORE_CLIENT;
        }
    }
    return CORE_OK;
}

enum core_err proxy_body_finish(struct proxy_request *req, enum s3_error_code *error)
{
    if (req->body_mode == PROXY_BODY_NONE) {
        return CORE_OK;
    }
    CORE_TRY(verify_digests(req, error));

    if (req->body_mode == PROXY_BODY_SEAL) {
        if (!crypto_stream_is_complete(&req->seal)) {
            *error = S3_ERR_INCOMPLETE_BODY;
            return CORE_CLIENT;
        }
        send_upstream(req, req->cipher, req->cipher_held);
        req->cipher_held = 0;
    } else if (req->body_mode == PROXY_BODY_BUFFER && req->up != NULL) {
        evbuffer_add_buffer(proxy_upstream_output(req->up), req->small_body);
    }
    req->upstream_sent_all = true;
    return CORE_OK;
}

void proxy_body_cleanup(struct proxy_request *req)
{
    crypto_stream_cleanup(&req->seal);
    if (req->plain != NULL) {
        OPENSSL_clear_free(req->plain, CRYPTO_CHUNK_PLAIN_MAX);
        req->plain = NULL;
    }
    free(req->cipher);
    req->cipher = NULL;
    free(req->envelope);
    req->envelope = NULL;
    if (req->small_body != NULL) {
        evbuffer_free(req->small_body);
        req->small_body = NULL;
    }
    EVP_MD_CTX_free(req->sha256);
    req->sha256 = NULL;
    EVP_MD_CTX_free(req->md5);
    req->md5 = NULL;
}
