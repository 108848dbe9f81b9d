/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copies. The data key is bound to the object's bucket and key, so for a
 * CopyObject of an encrypted object s3seal reads the source's envelope with a
 * HEAD and wraps the data key again for the destination. The backend then
 * copies the ciphertext with UploadPartCopy into a new multipart upload, so
 * the body never passes through s3seal and the copy gets a multipart ETag
 * like every other object. UploadPartCopy, and a copy of an object s3seal
 * did not write, read the source through s3seal and seal it again.
 */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/core_log.h"
#include "crypto/crypto_envelope.h"
#include "kms/kms_ssec.h"
#include "proxy/proxy.h"
#include "proxy/proxy_obs.h"
#include "s3/s3_uri.h"

void proxy_copy_free(struct proxy_copy *copy)
{
    if (copy == NULL) {
        return;
    }
    free(copy->source_bucket);
    free(copy->source_key);
    free(copy->copy_source);
    free(copy->part_etags);
    proxy_head_cleanup(&copy->source_head);
    proxy_reader_cleanup(&copy->reader);
    OPENSSL_cleanse(copy->source_dek, sizeof(copy->source_dek));
    free(copy);
}

/* Splits "bucket/key[?versionId=v]" (leading slash optional, percent-encoded) into its parts. */
static enum core_err parse_copy_source(struct proxy_copy *copy, const char *value, size_t len)
{
    char decoded[2048];
    size_t decoded_len = 0;
    const char *question = memchr(value, '?', len);
    size_t path_len = question != NULL ? (size_t)(question - value) : len;
    const char *slash;

    if (path_len > 0 && value[0] == '/') {
        value++;
        path_len--;
        len--;
    }
    CORE_TRY(s3_uri_decode(value, path_len, decoded, sizeof(decoded) - 1, &decoded_len));
    decoded[decoded_len] = '\0';
    slash = memchr(decoded, '/', decoded_len);
    CORE_ENSURE(slash != NULL && slash != decoded && (size_t)(slash - decoded) + 1 < decoded_len, CORE_CLIENT);
    CORE_ENSURE((size_t)(decoded + decoded_len - slash - 1) <= S3_KEY_MAX, CORE_CLIENT);

    copy->source_bucket = strndup(decoded, (size_t)(slash - decoded));
    copy->source_key_len = decoded_len - (size_t)(slash - decoded) - 1;
    copy->source_key = malloc(copy->source_key_len + 1);
    CORE_ENSURE(copy->source_bucket != NULL && copy->source_key != NULL, CORE_NOMEM);
    memcpy(copy->source_key, slash + 1, copy->source_key_len);
    copy->source_key[copy->source_key_len] = '\0';

    if (question != NULL) {
        size_t query_len = len - (size_t)(question + 1 - value);

        if (!s3_query_get(question + 1, query_len, "versionId", copy->source_version,
                          sizeof(copy->source_version))) {
            return CORE_CLIENT;
        }
    }
    return CORE_OK;
}

/* Builds the x-amz-copy-source value for the backend, encoded the way S3 expects it. */
static enum core_err format_copy_source(struct proxy_copy *copy)
{
    char bucket[768];
    char key[3 * S3_KEY_MAX + 1];
    char version[3 * 256 + 1];
    size_t bucket_len = 0;
    size_t key_len = 0;
    size_t version_len = 0;

    CORE_TRY(s3_uri_encode(copy->source_bucket, strlen(copy->source_bucket), false, bucket, sizeof(bucket),
                           &bucket_len));
    CORE_TRY(s3_uri_encode(copy->source_key, copy->source_key_len, true, key, sizeof(key), &key_len));
    CORE_TRY(s3_uri_encode(copy->source_version, strlen(copy->source_version), false, version, sizeof(version),
                           &version_len));
    if (asprintf(&copy->copy_source, "/%.*s/%.*s%s%.*s", (int)bucket_len, bucket, (int)key_len, key,
                 version_len > 0 ? "?versionId=" : "", (int)version_len, version) < 0) {
        copy->copy_source = NULL;
        return CORE_NOMEM;
    }
    return CORE_OK;
}

enum core_err proxy_copy_prepare(struct proxy_request *req, enum s3_error_code *error)
{
    const struct s3_header *source = proxy_head_find(&req->head, "x-amz-copy-source");
    const struct s3_header *directive = proxy_head_find(&req->head, "x-amz-metadata-directive");
    struct proxy_copy *copy = calloc(1, sizeof(*copy));

    if (copy == NULL) {
        return CORE_NOMEM;
    }
    req->copy = copy;
    if (source == NULL || parse_copy_source(copy, source->value, source->value_len) != CORE_OK) {
        *error = S3_ERR_INVALID_ARGUMENT;
        return CORE_CLIENT;
    }
    if (directive != NULL) {
        if (directive->value_len == 7 && strncasecmp(directive->value, "REPLACE", 7) == 0) {
            copy->replace_metadata = true;
        } else if (!(directive->value_len == 4 && strncasecmp(directive->value, "COPY", 4) == 0)) {
            *error = S3_ERR_INVALID_ARGUMENT;
            return CORE_CLIENT;
        }
    }
    CORE_TRY(format_copy_source(copy));

    /* S3 API, CopyObject: a copy onto itself must change something, which only REPLACE does */
    if (req->target.op == S3_OP_COPY_OBJECT && !copy->replace_metadata && copy->source_version[0] == '\0' &&
        strcmp(copy->source_bucket, req->target.bucket) == 0 && copy->source_key_len == req->target.key_len &&
        memcmp(copy->source_key, req->target.key, req->target.key_len) == 0) {
        *error = S3_ERR_INVALID_REQUEST;
        return CORE_CLIENT;
    }
    req->step = PROXY_STEP_COPY_HEAD;
    return CORE_OK;
}

/* Keeps the source's HEAD response for its metadata; the views are rebuilt over the copied buffer. */
static enum core_err keep_source_head(struct proxy_copy *copy, const struct proxy_head *head)
{
    copy->source_head = *head;
    copy->source_head.data = malloc(head->cap > 0 ? head->cap : 1);
    CORE_ENSURE(copy->source_head.data != NULL, CORE_NOMEM);
    memcpy(copy->source_head.data, head->data, head->len);
    proxy_head_finish(&copy->source_head);
    return CORE_OK;
}

static void fail_with(struct proxy_request *req, enum s3_error_code code, const char *message)
{
    if (code == S3_ERR_OBJECT_INTEGRITY) {
        proxy_obs_integrity_failure(req);
    }
    req->pending_error = code;
    snprintf(req->pending_message, sizeof(req->pending_message), "%s", message ? message : "");
}

/*
 * Asks for the source's HEAD again once a KMS call ended: the envelope is read afresh, and the key that
 * arrived waits in the request (the source's in copy->source_dek, a new one in req->key_dek).
 */
static void on_copy_key(struct proxy_request *req)
{
    req->copy->key_wait = false;
    req->next_step = PROXY_STEP_COPY_HEAD;
    proxy_upload_next(req);
}

/* Gets the source's data key into copy->source_dek; CORE_AGAIN while a KMS call runs. */
static enum core_err fetch_source_key(struct proxy_request *req, const struct crypto_envelope *env)
{
    struct proxy_copy *copy = req->copy;
    uint8_t context[2200];
    size_t context_len = 0;
    enum core_err err;

    if (copy->source_key_ready) {
        return CORE_OK;
    }
    CORE_TRY(crypto_wrap_context(copy->source_bucket, strlen(copy->source_bucket), copy->source_key,
                                 copy->source_key_len, context, sizeof(context), &context_len));
    if (kms_ssec_is_id(env->kms) != req->copy_ssec.present) {
        fail_with(req, S3_ERR_INVALID_REQUEST,
                  req->copy_ssec.present ? "the copy source is not stored with a customer key (SSE-C)"
                                         : "the copy source is stored with a customer key: send it in the "
                                           "x-amz-copy-source-server-side-encryption-customer-* headers");
        return CORE_CLIENT;
    }
    if (req->copy_ssec.present) {
        err = kms_ssec_unwrap(req->copy_ssec.key, env->wrapped, env->wrapped_len, context, context_len,
                              copy->source_dek);
        if (err == CORE_CRYPTO) {
            fail_with(req, S3_ERR_ACCESS_DENIED, "the customer key (SSE-C) does not open the copy source");
            return CORE_CLIENT;
        }
        copy->source_key_ready = err == CORE_OK;
        return err;
    }
    err = proxy_keys_unwrap(req, env->kms, env->wrapped, env->wrapped_len, context, context_len, copy->source_dek,
                            on_copy_key);
    copy->source_key_ready = err == CORE_OK;
    return err;
}

/* Wraps the source's data key again for the destination's bucket and key; CORE_AGAIN while the KMS works. */
static enum core_err rewrap(struct proxy_request *req, const struct crypto_envelope *env)
{
    struct proxy_copy *copy = req->copy;
    struct proxy_wrapped_key wrapped;
    uint8_t context[2200];
    size_t context_len = 0;
    const char *bucket = req->target.bucket;

    CORE_TRY(crypto_envelope_verify(env, copy->source_dek, copy->source_bucket, strlen(copy->source_bucket),
                                    copy->source_key, copy->source_key_len));
    CORE_TRY(crypto_wrap_context(bucket, strlen(bucket), req->target.key, req->target.key_len, context,
                                 sizeof(context), &context_len));
    if (req->ssec.present) {
        /* the copy is wrapped under the customer key the request gives for the destination */
        CORE_TRY(kms_ssec_wrap(req->ssec.key, copy->source_dek, context, context_len, wrapped.blob,
                               sizeof(wrapped.blob), &wrapped.len));
        snprintf(wrapped.kms_id, sizeof(wrapped.kms_id), "%s", KMS_SSEC_ID);
        req->ssec_object = true;
    } else {
        CORE_TRY(proxy_keys_wrap(req, copy->source_dek, context, context_len, &wrapped, on_copy_key));
    }

    req->envelope = calloc(1, sizeof(*req->envelope));
    CORE_ENSURE(req->envelope != NULL, CORE_NOMEM);
    if (env->multipart) {
        return crypto_envelope_seal_multipart(copy->source_dek, wrapped.kms_id, wrapped.blob, wrapped.len, bucket,
                                              strlen(bucket), req->target.key, req->target.key_len, req->envelope);
    }
    return crypto_envelope_seal(copy->source_dek, wrapped.kms_id, wrapped.blob, wrapped.len, env->plain_len, bucket,
                                strlen(bucket), req->target.key, req->target.key_len, req->envelope);
}

/* Lets the HEAD response end without a next step; on_copy_key starts one when the KMS call ends. */
static enum core_err wait_for_key(struct proxy_request *req)
{
    req->copy->key_wait = true;
    return CORE_OK;
}

/* Plans the parts of the copy, so each UploadPartCopy stays within S3's 5 GiB per part. */
static enum core_err plan_parts(struct proxy_copy *copy, const struct proxy_upstream *up)
{
    const struct s3_header *length = proxy_head_find(&up->head, "content-length");
    const struct s3_header *etag = proxy_head_find(&up->head, "etag");
    char text[24];

    CORE_ENSURE(length != NULL && length->value_len < sizeof(text), CORE_UPSTREAM);
    CORE_ENSURE(etag != NULL && etag->value_len < sizeof(copy->source_etag), CORE_UPSTREAM);
    memcpy(text, length->value, length->value_len);
    text[length->value_len] = '\0';
    copy->stored_size = strtoull(text, NULL, 10);
    memcpy(copy->source_etag, etag->value, etag->value_len);
    copy->source_etag[etag->value_len] = '\0';

    copy->part_count = copy->stored_size <= PROXY_COPY_PART_MAX
                           ? 1
                           : (uint32_t)((copy->stored_size + PROXY_COPY_PART_MAX - 1) / PROXY_COPY_PART_MAX);
    copy->part_etags = calloc(copy->part_count, sizeof(*copy->part_etags));
    return copy->part_etags != NULL ? CORE_OK : CORE_NOMEM;
}

static enum core_err setup_read(struct proxy_request *req, struct proxy_upstream *up,
                                const struct crypto_envelope *env);

enum core_err proxy_copy_source_head(struct proxy_request *req, struct proxy_upstream *up)
{
    static __thread struct crypto_envelope env;
    bool present = false;
    enum core_err err;

    req->response_mode = PROXY_RESPONSE_DISCARD;
    if (req->status == 304 || req->status == 412) {
        fail_with(req, S3_ERR_PRECONDITION_FAILED, NULL);
        return CORE_OK;
    }
    if (req->status == 404 || req->status == 403) {
        fail_with(req, req->status == 404 ? S3_ERR_NO_SUCH_KEY : S3_ERR_ACCESS_DENIED, "the copy source");
        return CORE_OK;
    }
    if (req->status != 200) {
        fail_with(req, S3_ERR_UPSTREAM_UNAVAILABLE, "the backend failed to read the copy source");
        return CORE_OK;
    }
    if (proxy_response_parse_envelope(up, &env, &present) != CORE_OK) {
        fail_with(req, S3_ERR_OBJECT_INTEGRITY, "the copy source has a malformed envelope");
        return CORE_OK;
    }
    err = present ? fetch_source_key(req, &env) : CORE_OK;
    if (err == CORE_OK && !present && req->target.op == S3_OP_COPY_OBJECT) {
        enum s3_error_code error = S3_ERR_NONE;

        /* a source s3seal did not write is encrypted on the way, under a new data key */
        err = proxy_body_fetch_key(req, &error, on_copy_key);
    }
    if (err == CORE_OK && (req->target.op == S3_OP_UPLOAD_PART_COPY || !present)) {
        err = setup_read(req, up, present ? &env : NULL);
        OPENSSL_cleanse(&env, sizeof(env));
        return err;
    }
    if (err == CORE_OK) {
        err = rewrap(req, &env);
    }
    OPENSSL_cleanse(&env, sizeof(env));
    if (err == CORE_AGAIN) {
        return wait_for_key(req);
    }
    if (err == CORE_CLIENT) {
        /* fail_with named the problem with the customer key */
        return CORE_OK;
    }
    if (err != CORE_OK) {
        core_log(CORE_LOG_ERROR, "proxy", "cannot get or wrap again the copy source's data key: %s r=%s",
                 core_err_str(err), req->id);
        fail_with(req, proxy_keys_s3_error(err), err == CORE_CRYPTO ? "the copy source failed verification" : NULL);
        return CORE_OK;
    }
    CORE_TRY(keep_source_head(req->copy, &up->head));
    CORE_TRY(plan_parts(req->copy, up));
    req->next_step = PROXY_STEP_CREATE;
    req->retry_pending = true;
    return CORE_OK;
}

/* Reads "bytes=first-last" of x-amz-copy-source-range; absent means the whole source. */
static bool copy_source_range(const struct proxy_request *req, uint64_t size, uint64_t *first, uint64_t *last)
{
    const struct s3_header *h = proxy_head_find(&req->head, "x-amz-copy-source-range");
    char text[80];
    int used = 0;

    if (h == NULL) {
        if (size == 0) {
            *first = 1;
            *last = 0; /* an empty range: nothing to read */
            return true;
        }
        *first = 0;
        *last = size - 1;
        return true;
    }
    if (h->value_len >= sizeof(text)) {
        return false;
    }
    memcpy(text, h->value, h->value_len);
    text[h->value_len] = '\0';
    return sscanf(text, "bytes=%" SCNu64 "-%" SCNu64 "%n", first, last, &used) == 2 &&
           (size_t)used == h->value_len && *first <= *last && *last < size;
}

/*
 * Prepares a copy that s3seal reads itself: UploadPartCopy, whose part is
 * sealed under the destination upload's key, and CopyObject of an object
 * s3seal did not write, which is encrypted on the way.
 */
static enum core_err setup_read(struct proxy_request *req, struct proxy_upstream *up,
                                const struct crypto_envelope *env)
{
    struct proxy_copy *copy = req->copy;
    enum s3_error_code error = S3_ERR_NONE;
    uint64_t stored = 0;
    uint64_t size = 0;

    CORE_TRY(plan_parts(copy, up));
    stored = copy->stored_size;
    if (env != NULL && !env->multipart) {
        size = env->plain_len;
    } else if (env != NULL) {
        if (!crypto_size_decrypted(stored, &size)) {
            fail_with(req, S3_ERR_OBJECT_INTEGRITY, "the copy source has an invalid stored size");
            return CORE_OK;
        }
    } else {
        size = stored;
    }
    if (!copy_source_range(req, size, &copy->source_first, &copy->source_last)) {
        fail_with(req, S3_ERR_INVALID_ARGUMENT, "x-amz-copy-source-range is not a range within the source");
        return CORE_OK;
    }

    copy->read_through = true;
    copy->source_encrypted = env != NULL;
    copy->part_count = 1;
    copy->reader.remaining = copy->source_last + 1 - copy->source_first;
    copy->reader.ranged = true;
    req->plain_expected = copy->reader.remaining;
    if (env != NULL && copy->reader.remaining > 0) {
        enum core_err err = proxy_reader_open(&copy->reader, copy->source_dek, env, copy->source_bucket,
                                              copy->source_key, copy->source_key_len,
                                              copy->source_first / CRYPTO_CHUNK_PLAIN_MAX);

        if (err != CORE_OK) {
            core_log(CORE_LOG_ERROR, "proxy", "copy source failed verification (%s) r=%s",
                     copy->reader.failure ? copy->reader.failure : core_err_str(err), req->id);
            fail_with(req, S3_ERR_OBJECT_INTEGRITY, "the copy source failed verification");
            return CORE_OK;
        }
    }
    if (proxy_body_prepare_copy(req, &error) != CORE_OK) {
        fail_with(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL);
        return CORE_OK;
    }
    req->next_step = req->target.op == S3_OP_UPLOAD_PART_COPY ? PROXY_STEP_DIRECT : PROXY_STEP_CREATE;
    req->retry_pending = true;
    return CORE_OK;
}

void proxy_copy_start_read(struct proxy_request *req)
{
    enum s3_error_code error = S3_ERR_NONE;

    if (req->copy->reader.remaining == 0) {
        /* an empty source: the body is complete before it began */
        req->body_done = true;
        if (proxy_body_finish(req, &error) != CORE_OK) {
            proxy_conn_send_error(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
        }
        return;
    }
    if (proxy_forward_source(req) != CORE_OK) {
        proxy_conn_send_error(req, S3_ERR_SERVICE_UNAVAILABLE, "cannot read the copy source", NULL, 0);
    }
}

enum core_err proxy_copy_read_head(struct proxy_request *req, struct proxy_upstream *up)
{
    struct proxy_copy *copy = req->copy;
    const struct s3_header *range = proxy_head_find(&up->head, "content-range");
    uint64_t offset = 0;
    uint64_t first = copy->source_first;
    uint64_t chunk = first / CRYPTO_CHUNK_PLAIN_MAX;

    if (up->parser.status_code == 412) {
        up->failure = S3_ERR_PRECONDITION_FAILED;
        return CORE_CLIENT;
    }
    if (up->parser.status_code != 200 && up->parser.status_code != 206) {
        up->failure = S3_ERR_UPSTREAM_UNAVAILABLE;
        return CORE_UPSTREAM;
    }
    if (up->parser.status_code == 206) {
        char text[80];

        if (range == NULL || range->value_len >= sizeof(text)) {
            up->failure = S3_ERR_UPSTREAM_UNAVAILABLE;
            return CORE_UPSTREAM;
        }
        memcpy(text, range->value, range->value_len);
        text[range->value_len] = '\0';
        if (sscanf(text, "bytes %" SCNu64 "-", &offset) != 1) {
            up->failure = S3_ERR_UPSTREAM_UNAVAILABLE;
            return CORE_UPSTREAM;
        }
    }

    /* bytes of the response before the first chunk, or before the first byte of a plaintext range */
    first = copy->source_encrypted ? chunk * CRYPTO_CHUNK_CIPHER_MAX : copy->source_first;
    if (first < offset) {
        up->failure = S3_ERR_UPSTREAM_UNAVAILABLE;
        return CORE_UPSTREAM;
    }
    copy->reader.skip_cipher = first - offset;
    copy->reader.skip_plain = copy->source_encrypted ? copy->source_first - chunk * CRYPTO_CHUNK_PLAIN_MAX : 0;
    return CORE_OK;
}

/* Passes plaintext of the source on to the sealing of the destination. */
static enum core_err seal_source(void *arg, const uint8_t *plain, size_t len)
{
    return len > 0 ? proxy_body_plaintext(arg, plain, len) : CORE_OK;
}

/* Reads the source range: through the reader when encrypted, otherwise as the bytes themselves. */
enum core_err proxy_copy_read_body(struct proxy_request *req, const uint8_t *data, size_t len)
{
    struct proxy_reader *reader = &req->copy->reader;
    size_t skip;

    if (req->copy->source_encrypted) {
        enum core_err err = proxy_reader_feed(reader, data, len, seal_source, req);

        if (err == CORE_CRYPTO) {
            proxy_response_log_integrity(req, reader->failure);
        }
        return err;
    }
    skip = reader->skip_cipher < len ? (size_t)reader->skip_cipher : len;
    reader->skip_cipher -= skip;
    len -= skip;
    if (len > reader->remaining) {
        len = (size_t)reader->remaining;
    }
    reader->remaining -= len;
    return seal_source(req, data + skip, len);
}

enum core_err proxy_copy_read_finish(struct proxy_request *req)
{
    enum s3_error_code error = S3_ERR_NONE;

    if (req->copy->reader.remaining != 0) {
        core_log(CORE_LOG_ERROR, "proxy", "copy source ended early r=%s", req->id);
        proxy_obs_integrity_failure(req);
        return CORE_CRYPTO;
    }
    req->body_done = true;
    if (proxy_body_finish(req, &error) != CORE_OK) {
        req->pending_error = error;
        return CORE_INTERNAL;
    }
    return CORE_OK;
}


enum core_err proxy_copy_part_finish(struct proxy_request *req, const char *xml, size_t len)
{
    struct proxy_copy *copy = req->copy;

    /* S3 API, UploadPartCopy: a 200 response can still carry an error */
    if (s3_multipart_parse_copy_part_etag(xml, len, copy->part_etags[copy->parts_done],
                                          sizeof(copy->part_etags[0])) != CORE_OK) {
        return CORE_UPSTREAM;
    }
    copy->parts_done++;
    req->next_step = copy->parts_done < copy->part_count ? PROXY_STEP_PART_COPY : PROXY_STEP_COMPLETE;
    req->retry_pending = true;
    return CORE_OK;
}

/*
 * Sends the XML response of a copy, CopyObjectResult or CopyPartResult, with
 * the ETag of what was stored. LastModified is the time of the response,
 * because the backend's Complete and UploadPart responses carry none.
 */
static enum core_err send_copy_result(struct proxy_request *req, const char *root, const char *etag,
                                      size_t etag_len)
{
    struct evbuffer *out = proxy_conn_output(req->conn);
    char modified[32];
    char *body = NULL;
    int body_len;
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(modified, sizeof(modified), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    body_len = asprintf(&body,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s "
                        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>%s</LastModified>"
                        "<ETag>%.*s</ETag></%s>",
                        root, modified, (int)etag_len, etag, root);
    CORE_ENSURE(body_len >= 0, CORE_NOMEM);

    proxy_obs_response_status(req, 200);
    evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nx-amz-request-id: %s\r\n", req->id);
    if (req->copy->source_version[0] != '\0') {
        evbuffer_add_printf(out, "x-amz-copy-source-version-id: %s\r\n", req->copy->source_version);
    }
    proxy_response_add_encryption_header(out, req);
    proxy_upload_add_version_id(req, out);
    proxy_add_date_header(out);
    evbuffer_add_printf(out, "Content-Length: %d\r\nConnection: %s\r\n\r\n", body_len,
                        req->keep_alive ? "keep-alive" : "close");
    evbuffer_add(out, body, (size_t)body_len);
    free(body);
    req->response_started = true;
    return CORE_OK;
}

/* Sends the CopyObject response once the new upload completed. */
enum core_err proxy_copy_result(struct proxy_request *req)
{
    char etag[80];

    CORE_TRY(proxy_upload_multipart_etag(req->copy->part_etags, req->copy->part_count, etag, sizeof(etag)));
    return send_copy_result(req, "CopyObjectResult", etag, strlen(etag));
}

/* Sends the UploadPartCopy response once the destination part is stored. */
enum core_err proxy_copy_part_result(struct proxy_request *req, struct proxy_upstream *up)
{
    const struct s3_header *etag = proxy_head_find(&up->head, "etag");

    CORE_ENSURE(etag != NULL, CORE_UPSTREAM);
    req->response_mode = PROXY_RESPONSE_DISCARD;
    return send_copy_result(req, "CopyPartResult", etag->value, etag->value_len);
}
