/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies on their way to the backend. The HTTP framing is undone by
 * llhttp, an aws-chunked framing by the s3/ decoder; what remains is the
 * plaintext. Object bodies are sealed chunk by chunk; small XML bodies are
 * buffered. Either way the last bytes reach the backend only after every
 * check over the whole body passed (payload hash, chunk signatures,
 * Content-MD5, x-amz-checksum-*, length), so a body that fails
 * verification never becomes a stored object.
 */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core_log.h"
#include "crypto/crypto_base64.h"
#include "crypto/crypto_envelope.h"
#include "crypto/crypto_mac.h"
#include "kms/kms_ssec.h"
#include "proxy/proxy.h"
#include "proxy/proxy_obs.h"

static void md5_once(const uint8_t *data, size_t len, uint8_t digest[16])
{
    unsigned int digest_len = 16;

    EVP_Digest(data, len, digest, &digest_len, EVP_md5(), NULL);
}

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

static bool header_decimal(const struct s3_header *h, uint64_t *out)
{
    uint64_t v = 0;

    if (h == NULL || h->value_len == 0 || h->value_len > 19) {
        return false;
    }
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(h->value[i] - '0');
    }
    *out = v;
    return true;
}

/* Picks the payload check: a signed SHA-256, nothing, or an aws-chunked decoder. */
static enum core_err prepare_payload(struct proxy_request *req, enum s3_error_code *error)
{
    const char *hash = req->auth.payload_hash;
    enum s3_chunked_mode mode = s3_chunked_mode_from_payload_hash(hash);
    const struct s3_header *trailer = proxy_head_find(&req->head, "x-amz-trailer");
    char declared[128] = "";

    req->plain_expected = req->content_length;
    if (is_hex_sha256(hash)) {
        req->sha256 = EVP_MD_CTX_new();
        if (req->sha256 == NULL || EVP_DigestInit_ex(req->sha256, crypto_md_sha256(), NULL) != 1) {
            return CORE_NOMEM;
        }
        return CORE_OK;
    }
    if (mode == 0) {
        return CORE_OK; /* UNSIGNED-PAYLOAD; the verifier accepts no other value */
    }

    /* S3 API, aws-chunked uploads: x-amz-decoded-content-length is the payload length */
    if (!header_decimal(proxy_head_find(&req->head, "x-amz-decoded-content-length"), &req->plain_expected)) {
        *error = S3_ERR_MISSING_CONTENT_LENGTH;
        return CORE_CLIENT;
    }
    if (trailer != NULL) {
        if (trailer->value_len >= sizeof(declared)) {
            *error = S3_ERR_INVALID_REQUEST;
            return CORE_CLIENT;
        }
        memcpy(declared, trailer->value, trailer->value_len);
    }
    if (s3_chunked_new(mode, &req->auth, trailer != NULL ? declared : NULL, &req->chunked) != CORE_OK) {
        *error = S3_ERR_INVALID_REQUEST;
        return CORE_CLIENT;
    }
    return CORE_OK;
}

static enum core_err prepare_md5(struct proxy_request *req, enum s3_error_code *error)
{
    const struct s3_header *md5 = proxy_head_find(&req->head, "content-md5");
    size_t decoded = 0;

    if (md5 == NULL && req->body_mode != PROXY_BODY_BUFFER) {
        return CORE_OK;
    }
    if (md5 != NULL && (crypto_base64_decode(md5->value, md5->value_len, req->content_md5,
                                             sizeof(req->content_md5), &decoded) != CORE_OK ||
                        decoded != sizeof(req->content_md5))) {
        *error = S3_ERR_INVALID_DIGEST;
        return CORE_CLIENT;
    }
    /* a buffered body also gets an MD5 computed for the backend, which may require one */
    req->md5 = EVP_MD_CTX_new();
    if (req->md5 == NULL || EVP_DigestInit_ex(req->md5, EVP_md5(), NULL) != 1) {
        return CORE_NOMEM;
    }
    return CORE_OK;
}

/* Finds the client's x-amz-checksum-*: a value in a header, or a trailer declared in x-amz-trailer. */
static enum core_err prepare_checksum(struct proxy_request *req, enum s3_error_code *error)
{
    enum s3_checksum_alg alg = S3_CHECKSUM_NONE;

    for (size_t i = 0; i < req->head.count && alg == S3_CHECKSUM_NONE; i++) {
        const struct s3_header *h = &req->head.views[i];

        alg = s3_checksum_alg_from_header(h->name, h->name_len);
        if (alg != S3_CHECKSUM_NONE) {
            if (h->value_len >= sizeof(req->checksum_expected)) {
                *error = S3_ERR_INVALID_REQUEST;
                return CORE_CLIENT;
            }
            memcpy(req->checksum_expected, h->value, h->value_len);
        }
    }
    if (alg == S3_CHECKSUM_NONE) {
        const struct s3_header *trailer = proxy_head_find(&req->head, "x-amz-trailer");

        if (trailer != NULL) {
            alg = s3_checksum_alg_from_header(trailer->value, trailer->value_len);
        }
    }
    if (alg == S3_CHECKSUM_NONE) {
        return CORE_OK;
    }
    snprintf(req->checksum_header, sizeof(req->checksum_header), "%s", s3_checksum_header_name(alg));
    return s3_checksum_init(&req->checksum, alg);
}

/* Checks the size limit of one stream and allocates the buffers for one chunk each way. */
static enum core_err prepare_buffers(struct proxy_request *req, enum s3_error_code *error)
{
    if (req->plain_expected > CRYPTO_PLAIN_MAX_SINGLE) {
        *error = S3_ERR_ENTITY_TOO_LARGE;
        return CORE_TOO_LARGE;
    }
    /* a body smaller than a chunk gets a buffer of its own size, which is also all that is wiped */
    req->cipher_cap = CRYPTO_CHUNK_CIPHER_MAX;
    if (req->plain_expected < CRYPTO_CHUNK_PLAIN_MAX) {
        req->cipher_cap = (size_t)req->plain_expected + CRYPTO_CHUNK_OVERHEAD;
    }
    req->cipher = malloc(req->cipher_cap);
    /* plaintext is gathered where its ciphertext goes, and sealed in place */
    req->plain = req->cipher != NULL ? req->cipher + CRYPTO_CHUNK_HEADER_LEN : NULL;
    return req->cipher != NULL ? CORE_OK : CORE_NOMEM;
}

/* Starts the sealing stream under the data key proxy_body_fetch_key got, and the object's envelope. */
static enum core_err prepare_seal(struct proxy_request *req, enum s3_error_code *error)
{
    uint8_t stream_id[CRYPTO_STREAM_ID_LEN];
    const char *bucket = req->target.bucket;
    const struct proxy_wrapped_key *w = &req->key_wrapped;

    CORE_ENSURE(req->key_ready, CORE_INTERNAL);
    CORE_TRY(prepare_buffers(req, error));
    req->envelope = calloc(1, sizeof(*req->envelope));
    if (req->envelope == NULL) {
        return CORE_NOMEM;
    }
    CORE_TRY(crypto_random(stream_id, sizeof(stream_id)));
    CORE_TRY(crypto_envelope_seal(req->key_dek, w->kms_id, w->blob, w->len, req->plain_expected, bucket,
                                  strlen(bucket), req->target.key, req->target.key_len, req->envelope));
    return crypto_stream_seal_init(&req->seal, req->key_dek, 0, stream_id, req->plain_expected);
}

/* Makes a data key and wraps it under the client's SSE-C key: no KMS takes part. */
static enum core_err make_customer_key(struct proxy_request *req, const uint8_t *context, size_t context_len)
{
    struct proxy_wrapped_key *w = &req->key_wrapped;

    CORE_TRY(crypto_random(req->key_dek, sizeof(req->key_dek)));
    CORE_TRY(kms_ssec_wrap(req->ssec.key, req->key_dek, context, context_len, w->blob, sizeof(w->blob), &w->len));
    snprintf(w->kms_id, sizeof(w->kms_id), "%s", KMS_SSEC_ID);
    req->ssec_object = true;
    return CORE_OK;
}

enum core_err proxy_body_fetch_key(struct proxy_request *req, enum s3_error_code *error, proxy_keys_ready_fn ready)
{
    const char *bucket = req->target.bucket;
    uint8_t context[2200];
    size_t context_len = 0;
    enum core_err err;

    if (req->key_ready) {
        return CORE_OK;
    }
    switch (req->target.op) {
    case S3_OP_UPLOAD_PART:
    case S3_OP_UPLOAD_PART_COPY:
        err = proxy_upload_fetch_part_key(req, error, ready);
        break;
    case S3_OP_PUT_OBJECT:
    case S3_OP_COPY_OBJECT:
    case S3_OP_CREATE_MULTIPART_UPLOAD:
        CORE_TRY(crypto_wrap_context(bucket, strlen(bucket), req->target.key, req->target.key_len, context,
                                     sizeof(context), &context_len));
        if (req->ssec.present) {
            err = make_customer_key(req, context, context_len);
            break;
        }
        err = proxy_keys_generate(req, context, context_len, req->key_dek, &req->key_wrapped, ready);
        if (err != CORE_OK && err != CORE_AGAIN) {
            core_log(CORE_LOG_ERROR, "proxy", "cannot make a data key: %s r=%s", core_err_str(err), req->id);
            *error = proxy_keys_s3_error(err);
        }
        break;
    default:
        return CORE_OK;
    }
    req->key_ready = err == CORE_OK;
    return err;
}

enum core_err proxy_body_prepare(struct proxy_request *req, enum s3_error_code *error)
{
    if (req->plaintext_write && (req->target.op == S3_OP_PUT_OBJECT || req->target.op == S3_OP_UPLOAD_PART)) {
        req->body_mode = PROXY_BODY_PLAIN;
        req->holdback = evbuffer_new();
        if (req->holdback == NULL) {
            return CORE_NOMEM;
        }
    } else if (req->plaintext_write && req->target.op == S3_OP_CREATE_MULTIPART_UPLOAD) {
        req->body_mode = PROXY_BODY_NONE;
    } else if (req->target.op == S3_OP_PUT_OBJECT || req->target.op == S3_OP_UPLOAD_PART) {
        req->body_mode = PROXY_BODY_SEAL;
    } else if (req->has_body) {
        req->body_mode = PROXY_BODY_BUFFER;
        req->small_body = evbuffer_new();
        if (req->small_body == NULL) {
            return CORE_NOMEM;
        }
    } else {
        req->body_mode = PROXY_BODY_NONE;
    }

    CORE_TRY(prepare_payload(req, error));
    if (req->body_mode == PROXY_BODY_BUFFER && req->plain_expected > PROXY_SMALL_BODY_MAX) {
        *error = S3_ERR_ENTITY_TOO_LARGE;
        return CORE_TOO_LARGE;
    }
    CORE_TRY(prepare_md5(req, error));
    CORE_TRY(prepare_checksum(req, error));
    if (req->plaintext_write) {
        return req->plain_expected > CRYPTO_PLAIN_MAX_SINGLE ? (*error = S3_ERR_ENTITY_TOO_LARGE, CORE_TOO_LARGE)
                                                             : CORE_OK;
    }
    switch (req->target.op) {
    case S3_OP_PUT_OBJECT:
        return prepare_seal(req, error);
    case S3_OP_UPLOAD_PART:
        CORE_TRY(prepare_buffers(req, error));
        return proxy_upload_prepare_part(req, error);
    case S3_OP_CREATE_MULTIPART_UPLOAD:
        return proxy_upload_prepare_create(req, error);
    default:
        return CORE_OK;
    }
}

static void send_upstream(struct proxy_request *req, const uint8_t *data, size_t len)
{
    /* the backend may have responded already (an error), and its connection is then gone */
    if (req->up != NULL && (req->step == PROXY_STEP_DIRECT || req->step == PROXY_STEP_PART)) {
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
            return CORE_INTERNAL; /* the length was checked by the caller, so this is a bug */
        }
        take = want - req->plain_fill < len ? want - req->plain_fill : len;
        memcpy(req->plain + req->plain_fill, data, take);
        req->plain_fill += take;
        data += take;
        len -= take;
        if (req->plain_fill < want) {
            break;
        }

        CORE_TRY(crypto_stream_seal_chunk(&req->seal, req->plain, want, req->cipher, req->cipher_cap,
                                          &sealed));
        proxy_obs_encrypted(req, want);
        req->plain_fill = 0;
        if (crypto_stream_is_complete(&req->seal)) {
            /* the final chunk waits in req->cipher until every check over the body passed */
            req->cipher_held = sealed;
        } else {
            send_upstream(req, req->cipher, sealed);
        }
    }
    return CORE_OK;
}

/*
 * Forwards an unencrypted body but keeps its last 64 KiB until the whole
 * body verified, so a failed upload leaves the backend request incomplete.
 */
static enum core_err hold_back(struct proxy_request *req, const uint8_t *data, size_t len)
{
    size_t held;

    if (evbuffer_add(req->holdback, data, len) != 0) {
        return CORE_NOMEM;
    }
    held = evbuffer_get_length(req->holdback);
    if (held > CRYPTO_CHUNK_PLAIN_MAX && req->up != NULL) {
        evbuffer_remove_buffer(req->holdback, proxy_upstream_output(req->up), held - CRYPTO_CHUNK_PLAIN_MAX);
    }
    return CORE_OK;
}

/* Takes plaintext body bytes: checks their length, digests them and seals or buffers them. */
static enum core_err on_plaintext(void *arg, const uint8_t *data, size_t len)
{
    struct proxy_request *req = arg;

    if (len > req->plain_expected - req->plain_received) {
        return CORE_CLIENT;
    }
    req->plain_received += len;
    if (req->md5 != NULL && EVP_DigestUpdate(req->md5, data, len) != 1) {
        return CORE_INTERNAL;
    }
    if (req->checksum_header[0] != '\0') {
        CORE_TRY(s3_checksum_update(&req->checksum, data, len));
    }

    switch (req->body_mode) {
    case PROXY_BODY_SEAL:
        return seal_some(req, data, len);
    case PROXY_BODY_PLAIN:
        return hold_back(req, data, len);
    case PROXY_BODY_BUFFER:
        return evbuffer_add(req->small_body, data, len) == 0 ? CORE_OK : CORE_NOMEM;
    default:
        return CORE_OK;
    }
}

enum core_err proxy_body_plaintext(struct proxy_request *req, const uint8_t *data, size_t len)
{
    return on_plaintext(req, data, len);
}

/*
 * Prepares sealing for a copy that s3seal reads itself: plain_expected
 * bytes of the source become the body. UploadPartCopy seals under the
 * destination upload's key; CopyObject of a plaintext source gets a fresh
 * data key and envelope like a PutObject.
 */
enum core_err proxy_body_prepare_copy(struct proxy_request *req, enum s3_error_code *error)
{
    req->body_mode = PROXY_BODY_SEAL;
    if (req->target.op == S3_OP_UPLOAD_PART_COPY) {
        CORE_TRY(prepare_buffers(req, error));
        return proxy_upload_prepare_part(req, error);
    }
    return prepare_seal(req, error);
}

enum core_err proxy_body_feed(struct proxy_request *req, const uint8_t *data, size_t len,
                              enum s3_error_code *error)
{
    enum core_err err;

    if (req->sha256 != NULL && EVP_DigestUpdate(req->sha256, data, len) != 1) {
        return CORE_INTERNAL;
    }
    if (req->chunked == NULL) {
        err = on_plaintext(req, data, len);
        if (err == CORE_CLIENT) {
            *error = S3_ERR_INVALID_REQUEST;
        }
        return err;
    }

    err = s3_chunked_feed(req->chunked, data, len, on_plaintext, req);
    if (err != CORE_OK) {
        *error = s3_chunked_error(req->chunked);
        if (*error == S3_ERR_NONE && err == CORE_CLIENT) {
            /* on_plaintext rejected bytes beyond x-amz-decoded-content-length */
            *error = S3_ERR_INVALID_REQUEST;
        }
    }
    return err;
}

static enum core_err verify_sha256(struct proxy_request *req, enum s3_error_code *error)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    char hex[65];

    if (EVP_DigestFinal_ex(req->sha256, digest, &digest_len) != 1 || digest_len != 32) {
        return CORE_INTERNAL;
    }
    for (unsigned int i = 0; i < digest_len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    if (CRYPTO_memcmp(hex, req->auth.payload_hash, 64) != 0) {
        *error = S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH;
        return CORE_CLIENT;
    }
    return CORE_OK;
}

static enum core_err verify_md5(struct proxy_request *req, bool client_sent, enum s3_error_code *error)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    size_t encoded = 0;

    if (EVP_DigestFinal_ex(req->md5, digest, &digest_len) != 1 || digest_len != 16) {
        return CORE_INTERNAL;
    }
    if (client_sent && CRYPTO_memcmp(digest, req->content_md5, sizeof(req->content_md5)) != 0) {
        *error = S3_ERR_BAD_DIGEST;
        return CORE_CLIENT;
    }
    return crypto_base64_encode(digest, 16, req->computed_md5, sizeof(req->computed_md5), &encoded);
}

static enum core_err verify_checksum(struct proxy_request *req, enum s3_error_code *error)
{
    const char *expected = req->checksum_expected;

    CORE_TRY(s3_checksum_final_base64(&req->checksum, req->checksum_value, sizeof(req->checksum_value)));
    if (expected[0] == '\0' && req->chunked != NULL) {
        expected = s3_chunked_trailer_value(req->chunked, req->checksum_header);
    }
    if (expected == NULL || expected[0] == '\0') {
        /* declared as a trailer that never came; the decoder reports a missing trailer first */
        *error = S3_ERR_INVALID_REQUEST;
        return CORE_CLIENT;
    }
    if (strlen(expected) != strlen(req->checksum_value) ||
        CRYPTO_memcmp(expected, req->checksum_value, strlen(expected)) != 0) {
        *error = S3_ERR_BAD_DIGEST;
        return CORE_CLIENT;
    }
    return CORE_OK;
}

/* Runs every check that needs the whole body; the held-back bytes depend on it. */
static enum core_err verify_body(struct proxy_request *req, enum s3_error_code *error)
{
    if (req->chunked != NULL && s3_chunked_finish(req->chunked) != CORE_OK) {
        *error = s3_chunked_error(req->chunked);
        return CORE_CLIENT;
    }
    if (req->plain_received != req->plain_expected) {
        *error = S3_ERR_INCOMPLETE_BODY;
        return CORE_CLIENT;
    }
    if (req->sha256 != NULL) {
        CORE_TRY(verify_sha256(req, error));
    }
    if (req->md5 != NULL) {
        CORE_TRY(verify_md5(req, proxy_head_find(&req->head, "content-md5") != NULL, error));
    }
    if (req->checksum_header[0] != '\0') {
        CORE_TRY(verify_checksum(req, error));
    }
    return CORE_OK;
}

/*
 * Removes the client's part checksums from a CompleteMultipartUpload body:
 * they describe plaintext the backend never stored. The parts it names are
 * kept for the ETag of the response, and the body's MD5 is made anew.
 */
static enum core_err rewrite_complete(struct proxy_request *req, enum s3_error_code *error)
{
    size_t len = evbuffer_get_length(req->small_body);
    const char *xml = (const char *)evbuffer_pullup(req->small_body, -1);
    uint8_t digest[16];
    char *rewritten = NULL;
    size_t rewritten_len = 0;
    size_t encoded = 0;

    if (xml == NULL || s3_multipart_rewrite_complete(xml, len, &rewritten, &rewritten_len,
                                                     &req->complete_parts) != CORE_OK) {
        *error = S3_ERR_MALFORMED_XML;
        return CORE_CLIENT;
    }
    evbuffer_drain(req->small_body, len);
    evbuffer_add(req->small_body, rewritten, rewritten_len);
    req->plain_received = rewritten_len;
    md5_once((const uint8_t *)rewritten, rewritten_len, digest);
    free(rewritten);
    return crypto_base64_encode(digest, sizeof(digest), req->computed_md5, sizeof(req->computed_md5), &encoded);
}

enum core_err proxy_body_finish(struct proxy_request *req, enum s3_error_code *error)
{
    if (req->body_mode == PROXY_BODY_NONE) {
        return CORE_OK;
    }
    CORE_TRY(verify_body(req, error));
    req->body_verified = true;

    if (req->body_mode == PROXY_BODY_PLAIN) {
        if (req->up != NULL) {
            evbuffer_add_buffer(proxy_upstream_output(req->up), req->holdback);
        }
        req->upstream_sent_all = true;
        return CORE_OK;
    }
    if (req->body_mode == PROXY_BODY_SEAL) {
        /* before its backend request is open, the chunk waits for proxy_forward_send_held */
        if (req->up != NULL && (req->step == PROXY_STEP_DIRECT || req->step == PROXY_STEP_PART)) {
            proxy_forward_send_held(req);
        }
        if (req->part_waiting) {
            req->part_waiting = false;
            proxy_upload_next(req);
        }
        return CORE_OK;
    }

    /* a buffered body goes out only now, with a head that carries its verified length and MD5 */
    if (req->body_mode == PROXY_BODY_BUFFER) {
        if (req->target.op == S3_OP_COMPLETE_MULTIPART_UPLOAD && !req->plaintext_write) {
            CORE_TRY(rewrite_complete(req, error));
            /* the part sizes are checked first; the body waits in small_body */
            req->step = PROXY_STEP_CHECK_PARTS;
            if (proxy_forward_start(req) != CORE_OK) {
                *error = S3_ERR_SERVICE_UNAVAILABLE;
                return CORE_UPSTREAM;
            }
            return CORE_OK;
        }
        if (proxy_forward_start(req) != CORE_OK) {
            *error = S3_ERR_SERVICE_UNAVAILABLE;
            return CORE_UPSTREAM;
        }
        evbuffer_add_buffer(proxy_upstream_output(req->up), req->small_body);
        req->upstream_sent_all = true;
    }
    return CORE_OK;
}

void proxy_body_cleanup(struct proxy_request *req)
{
    crypto_stream_cleanup(&req->seal);
    s3_checksum_cleanup(&req->checksum);
    s3_chunked_free(req->chunked);
    req->chunked = NULL;
    if (req->cipher != NULL) {
        OPENSSL_clear_free(req->cipher, req->cipher_cap);
        req->cipher = NULL;
    }
    req->plain = NULL;
    free(req->envelope);
    req->envelope = NULL;
    if (req->small_body != NULL) {
        evbuffer_free(req->small_body);
        req->small_body = NULL;
    }
    if (req->holdback != NULL) {
        evbuffer_free(req->holdback);
        req->holdback = NULL;
    }
    EVP_MD_CTX_free(req->sha256);
    req->sha256 = NULL;
    EVP_MD_CTX_free(req->md5);
    req->md5 = NULL;
}
