/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Responses from the backend on their way to the client. Encrypted object
 * bodies are verified and decrypted chunk by chunk, and the response head is
 * held back until the first chunk verified, so a tampered object or a wrong
 * key gives an error response instead of a short body. Listings get their
 * sizes rewritten to plaintext sizes; everything else passes unchanged.
 */
#include <inttypes.h>
#include <stdio.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_log.h"
#include "crypto/crypto_envelope.h"
#include "kms/kms_ssec.h"
#include "proxy/proxy.h"
#include "proxy/proxy_obs.h"
#include "s3/s3_list.h"
#include "s3/s3_uri.h"

#define META_VALUE_MAX 2048
#define META_SLOTS 8

/* NUL-terminated copies of metadata values for crypto_envelope_parse. */
struct meta_lookup {
    const struct proxy_head *head;
    char values[META_SLOTS][META_VALUE_MAX];
    size_t used;
};

static const char *lookup_meta(void *arg, const char *name)
{
    struct meta_lookup *m = arg;
    char header[128];
    const struct s3_header *h;

    snprintf(header, sizeof(header), "x-amz-meta-%s", name);
    h = proxy_head_find(m->head, header);
    if (h == NULL || h->value_len >= META_VALUE_MAX || m->used == META_SLOTS) {
        return NULL;
    }
    memcpy(m->values[m->used], h->value, h->value_len);
    m->values[m->used][h->value_len] = '\0';
    return m->values[m->used++];
}

static bool is_hidden_header(const struct s3_header *h, bool encrypted)
{
    static const char *const hop[] = {"connection", "keep-alive", "transfer-encoding", "content-length",
                                      "proxy-connection", "trailer", "upgrade"};

    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        if (proxy_header_is(h, hop[i])) {
            return true;
        }
    }
    if (proxy_header_has_prefix(h, "x-amz-meta-" CRYPTO_META_PREFIX)) {
        return true;
    }
    /* checksums, MD5s and ranges from the backend are in ciphertext terms; s3seal states the encryption */
    return encrypted && (proxy_header_has_prefix(h, "x-amz-checksum-") || proxy_header_is(h, "content-md5") ||
                         proxy_header_is(h, "content-range") ||
                         proxy_header_has_prefix(h, "x-amz-server-side-encryption"));
}

/*
 * Marks a response for an object s3seal encrypted. Clients that otherwise
 * compare a single-part ETag with an MD5 of the data (the AWS SDK for Java
 * 1.x among them) skip that comparison for KMS-encrypted objects.
 */
void proxy_response_add_encryption_header(struct evbuffer *out, const struct proxy_request *req)
{
    /* S3 returns the algorithm and the key's MD5 for SSE-C requests, in place of the encryption header */
    if (req->ssec_object && req->ssec.present) {
        evbuffer_add_printf(out,
                            "x-amz-server-side-encryption-customer-algorithm: AES256\r\n"
                            "x-amz-server-side-encryption-customer-key-MD5: %s\r\n",
                            req->ssec.key_md5);
        return;
    }
    evbuffer_add_printf(out, "x-amz-server-side-encryption: aws:kms\r\n");
}

/*
 * Writes a status line and the headers the client may see, without framing
 * headers. reason NULL keeps the backend's status and reason phrase.
 */
void proxy_response_write_head(struct evbuffer *out, struct proxy_request *req,
                               const struct proxy_upstream *up, bool encrypted, const char *reason)
{
    const struct proxy_head *h = &up->head;

    proxy_obs_response_status(req, reason != NULL ? (int)strtol(reason, NULL, 10) : req->status);
    if (reason != NULL) {
        evbuffer_add_printf(out, "HTTP/1.1 %s\r\n", reason);
    } else {
        evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", req->status, (int)h->url_len, h->data + h->url_off);
    }
    for (size_t i = 0; i < h->count; i++) {
        if (!is_hidden_header(&h->views[i], encrypted)) {
            evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)h->views[i].name_len, h->views[i].name,
                                (int)h->views[i].value_len, h->views[i].value);
        }
    }
    /* S3 echoes the checksum it verified; s3seal verified it, the backend never saw it */
    if (req->target.op == S3_OP_PUT_OBJECT && req->status == 200 && req->checksum_value[0] != '\0') {
        evbuffer_add_printf(out, "%s: %s\r\n", req->checksum_header, req->checksum_value);
    }
    if (encrypted) {
        proxy_response_add_encryption_header(out, req);
    }
    evbuffer_add_printf(out, "Connection: %s\r\n", req->keep_alive ? "keep-alive" : "close");
}

enum core_err proxy_response_parse_envelope(const struct proxy_upstream *up, struct crypto_envelope *env,
                                            bool *present)
{
    static __thread struct meta_lookup lookup;

    lookup.head = &up->head;
    lookup.used = 0;
    *present = crypto_envelope_is_present(lookup_meta, &lookup);
    if (!*present) {
        return CORE_OK;
    }
    lookup.used = 0;
    return crypto_envelope_parse(lookup_meta, &lookup, env);
}

void proxy_response_log_integrity(const struct proxy_request *req, const char *what)
{
    proxy_obs_integrity_failure(req);
    core_log(CORE_LOG_ERROR, "proxy", "stored object failed verification (%s) r=%s bucket=%s key=%.*s", what,
             req->id, req->target.bucket ? req->target.bucket : "-", (int)req->target.key_len,
             req->target.key ? req->target.key : "");
}

static bool header_u64(const struct proxy_head *h, const char *name, uint64_t *out)
{
    const struct s3_header *hd = proxy_head_find(h, name);
    char text[24];
    char *end;

    if (hd == NULL || hd->value_len == 0 || hd->value_len >= sizeof(text)) {
        return false;
    }
    memcpy(text, hd->value, hd->value_len);
    text[hd->value_len] = '\0';
    *out = strtoull(text, &end, 10);
    return *end == '\0' && text[0] >= '0' && text[0] <= '9';
}

/* Reads "bytes first-last/total" from the backend's Content-Range. */
bool proxy_response_content_range(const struct proxy_head *h, uint64_t *first, uint64_t *total)
{
    const struct s3_header *hd = proxy_head_find(h, "content-range");
    char text[80];
    uint64_t last = 0;
    int used = 0;

    if (hd == NULL || hd->value_len >= sizeof(text)) {
        return false;
    }
    memcpy(text, hd->value, hd->value_len);
    text[hd->value_len] = '\0';
    return sscanf(text, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64 "%n", first, &last, total, &used) == 3 &&
           (size_t)used == hd->value_len;
}

/*
 * Finds the plaintext size of an encrypted object: the envelope contains it for
 * a single-stream object; a multipart object's follows from its stored size,
 * because every part but the last contains whole 64 KiB chunks.
 */
static bool plaintext_size(const struct proxy_request *req, const struct proxy_upstream *up,
                           const struct crypto_envelope *env, uint64_t *size)
{
    uint64_t first = 0;
    uint64_t stored = 0;

    if (!env->multipart) {
        *size = env->plain_len;
        return true;
    }
    if (req->status == 206 ? !proxy_response_content_range(&up->head, &first, &stored)
                           : !header_u64(&up->head, "content-length", &stored)) {
        return false;
    }
    return crypto_size_decrypted(stored, size);
}

static void on_reader_key(struct proxy_request *req);

/*
 * Unwraps the data key of an SSE-C object with the customer key of the request. S3 returns 400 for a read
 * of such an object without its key and for a customer key sent for an object stored without one, and 403
 * for a wrong key.
 */
static enum core_err unwrap_customer_key(struct proxy_request *req, const struct crypto_envelope *env,
                                         const uint8_t *context, size_t context_len, uint8_t dek[KMS_DEK_LEN],
                                         enum s3_error_code *failure)
{
    if (!kms_ssec_is_id(env->kms) || !req->ssec.present) {
        snprintf(req->pending_message, sizeof(req->pending_message), "%s",
                 req->ssec.present ? "the object is not stored with a customer key (SSE-C)"
                                   : "the object is stored with a customer key: send it in the SSE-C headers");
        *failure = S3_ERR_INVALID_REQUEST;
        return CORE_CLIENT;
    }
    req->ssec_object = true;
    if (kms_ssec_unwrap(req->ssec.key, env->wrapped, env->wrapped_len, context, context_len, dek) != CORE_OK) {
        snprintf(req->pending_message, sizeof(req->pending_message), "%s",
                 "the customer key (SSE-C) does not open this object");
        *failure = S3_ERR_ACCESS_DENIED;
        return CORE_CLIENT;
    }
    return CORE_OK;
}

/* Checks the customer key of a HEAD of an SSE-C object, as S3 does, without reading the object. */
static enum core_err check_customer_key(struct proxy_request *req, struct proxy_upstream *up,
                                        const struct crypto_envelope *env)
{
    const char *bucket = req->target.bucket;
    uint8_t context[2200];
    uint8_t dek[KMS_DEK_LEN];
    size_t context_len = 0;
    enum core_err err;

    if (!kms_ssec_is_id(env->kms) && !req->ssec.present) {
        return CORE_OK;
    }
    CORE_TRY(crypto_wrap_context(bucket, strlen(bucket), req->target.key, req->target.key_len, context,
                                 sizeof(context), &context_len));
    err = unwrap_customer_key(req, env, context, context_len, dek, &up->failure);
    OPENSSL_cleanse(dek, sizeof(dek));
    return err;
}

/*
 * Gets the object's data key from the key service and starts decryption at first_chunk. While a KMS call
 * runs, the envelope is kept and the backend response waits unread (req->reader_key_wait); on_reader_key
 * carries on.
 */
static enum core_err open_reader(struct proxy_request *req, const struct crypto_envelope *env,
                                 uint64_t first_chunk, enum s3_error_code *failure)
{
    const char *bucket = req->target.bucket;
    uint8_t context[2200];
    uint8_t dek[KMS_DEK_LEN];
    size_t context_len = 0;
    enum core_err err;

    CORE_TRY(crypto_wrap_context(bucket, strlen(bucket), req->target.key, req->target.key_len, context,
                                 sizeof(context), &context_len));
    if (kms_ssec_is_id(env->kms) || req->ssec.present) {
        err = unwrap_customer_key(req, env, context, context_len, dek, failure);
        if (err != CORE_OK) {
            return err;
        }
    } else {
        err = proxy_keys_unwrap(req, env->kms, env->wrapped, env->wrapped_len, context, context_len, dek,
                                on_reader_key);
    }
    if (err == CORE_AGAIN) {
        if (req->reader_env == NULL) {
            req->reader_env = malloc(sizeof(*req->reader_env));
            CORE_ENSURE(req->reader_env != NULL, CORE_NOMEM);
            memcpy(req->reader_env, env, sizeof(*env));
        }
        req->reader_first_chunk = first_chunk;
        req->reader_key_wait = true;
        return CORE_OK;
    }
    if (err == CORE_OK) {
        err = proxy_reader_open(&req->reader, dek, env, bucket, req->target.key, req->target.key_len, first_chunk);
    } else {
        req->reader.failure = err == CORE_CRYPTO ? "data key does not unwrap" : "key management failed";
    }
    OPENSSL_cleanse(dek, sizeof(dek));

    if (err == CORE_CRYPTO) {
        proxy_response_log_integrity(req, req->reader.failure);
        *failure = S3_ERR_OBJECT_INTEGRITY;
    } else if (err != CORE_OK) {
        core_log(CORE_LOG_ERROR, "proxy", "cannot get the data key of %s: %s r=%s", env->kms, core_err_str(err),
                 req->id);
        *failure = proxy_keys_s3_error(err);
    }
    return err;
}

static enum core_err start_open(struct proxy_request *req, struct proxy_upstream *up,
                                const struct crypto_envelope *env, uint64_t first_chunk)
{
    return open_reader(req, env, first_chunk, &up->failure);
}

static void send_pending_head(struct proxy_request *req);

/* Resumes a GET whose data key came from a KMS call; the backend response waited unread until now. */
static void on_reader_key(struct proxy_request *req)
{
    enum s3_error_code failure = S3_ERR_INTERNAL_ERROR;
    struct crypto_envelope *env = req->reader_env;
    enum core_err err;

    req->reader_env = NULL;
    req->reader_key_wait = false;
    err = open_reader(req, env, req->reader_first_chunk, &failure);
    OPENSSL_cleanse(env, sizeof(*env));
    free(env);
    if (err != CORE_OK || req->reader_key_wait) {
        /* a second wait cannot happen: the call that just ended left its result for this one */
        proxy_upstream_release(req->up, false);
        proxy_conn_send_error(req, err != CORE_OK ? failure : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
        return;
    }
    if (req->reader.remaining == 0) {
        send_pending_head(req);
    }
    proxy_upstream_continue(req->up);
}

static enum core_err alloc_pending_head(struct proxy_request *req)
{
    req->pending_head = evbuffer_new();
    return req->pending_head != NULL ? CORE_OK : CORE_NOMEM;
}

/* Rejects an unsatisfiable range with 416 and the plaintext size, as S3 does. */
static enum core_err reject_range(struct proxy_request *req, struct proxy_upstream *up, uint64_t size)
{
    snprintf(req->content_range, sizeof(req->content_range), "bytes */%" PRIu64, size);
    up->failure = S3_ERR_INVALID_RANGE;
    return CORE_CLIENT;
}

/* Starts decrypting a whole object; the head waits for the first verified chunk. */
static enum core_err head_open_whole(struct proxy_request *req, struct proxy_upstream *up,
                                     const struct crypto_envelope *env)
{
    uint64_t stored = 0;
    uint64_t size = 0;

    if (!plaintext_size(req, up, env, &size) || (header_u64(&up->head, "content-length", &stored) &&
                                                  stored != crypto_size_encrypted(size))) {
        proxy_response_log_integrity(req, "stored size does not match the envelope");
        up->failure = S3_ERR_OBJECT_INTEGRITY;
        return CORE_CRYPTO;
    }
    CORE_TRY(start_open(req, up, env, 0));
    CORE_TRY(alloc_pending_head(req));

    req->reader.remaining = size;
    proxy_response_write_head(req->pending_head, req, up, true, NULL);
    evbuffer_add_printf(req->pending_head, "Content-Length: %" PRIu64 "\r\n\r\n", size);
    return CORE_OK;
}

/*
 * Starts decrypting the chunks that cover the client's range. The response
 * contains either those chunks (206) or the whole object (200, from a backend
 * that ignored the range); the offset of its first byte says which.
 */
static enum core_err head_open_range(struct proxy_request *req, struct proxy_upstream *up,
                                     const struct crypto_envelope *env)
{
    uint64_t size = 0;
    uint64_t first = 0;
    uint64_t last = 0;
    uint64_t offset = 0;
    uint64_t total = 0;
    uint64_t chunk = 0;
    uint64_t cipher_first = 0;
    uint64_t cipher_last = 0;

    if (req->part_request != 0 && !env->multipart) {
        /* the part was found in a multipart object, and another object replaced it since */
        up->failure = S3_ERR_SERVICE_UNAVAILABLE;
        return CORE_UPSTREAM;
    }
    if (!plaintext_size(req, up, env, &size)) {
        proxy_response_log_integrity(req, "stored size is not a valid encrypted size");
        up->failure = S3_ERR_OBJECT_INTEGRITY;
        return CORE_CRYPTO;
    }
    if (!s3_range_resolve(&req->range, size, &first, &last)) {
        return reject_range(req, up, size);
    }
    if (req->status == 206 ? !proxy_response_content_range(&up->head, &offset, &total)
                           : !header_u64(&up->head, "content-length", &total)) {
        up->failure = S3_ERR_UPSTREAM_UNAVAILABLE;
        return CORE_UPSTREAM;
    }
    crypto_range_map(first, last, &chunk, &cipher_first, &cipher_last);
    if (total != crypto_size_encrypted(size) || cipher_first < offset) {
        proxy_response_log_integrity(req, "stored size or range does not match the envelope");
        up->failure = S3_ERR_OBJECT_INTEGRITY;
        return CORE_CRYPTO;
    }
    /* a part must be exactly one stream: its own part number, from sequence 0 to its FINAL chunk */
    req->reader.part_number = req->part_request;
    CORE_TRY(start_open(req, up, env, chunk));
    CORE_TRY(alloc_pending_head(req));

    req->reader.ranged = true;
    req->reader.skip_cipher = cipher_first - offset;
    req->reader.skip_plain = first - chunk * CRYPTO_CHUNK_PLAIN_MAX;
    req->reader.remaining = last - first + 1;
    proxy_response_write_head(req->pending_head, req, up, true, "206 Partial Content");
    evbuffer_add_printf(req->pending_head, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
                        first, last, size);
    proxy_part_add_count(req, req->pending_head);
    evbuffer_add_printf(req->pending_head, "Content-Length: %" PRIu64 "\r\n\r\n", last - first + 1);
    return CORE_OK;
}

static void send_pending_head(struct proxy_request *req)
{
    evbuffer_add_buffer(proxy_conn_output(req->conn), req->pending_head);
    req->response_started = true;
}

static enum core_err head_pass(struct proxy_request *req, struct proxy_upstream *up)
{
    struct evbuffer *out = proxy_conn_output(req->conn);
    const struct s3_header *length = proxy_head_find(&up->head, "content-length");
    bool no_body = req->is_head_method || req->status == 204 || req->status == 304;
    /*
     * A part s3seal sealed is reported as KMS-encrypted, as S3 reports the parts of an SSE-KMS upload, so
     * clients such as s3cmd do not compare its ETag (the MD5 of the ciphertext) with the part's MD5.
     */
    bool sealed_part = req->target.op == S3_OP_UPLOAD_PART && !req->plaintext_write && req->status == 200;

    proxy_response_write_head(out, req, up, sealed_part, NULL);
    if (length != NULL) {
        evbuffer_add_printf(out, "Content-Length: %.*s\r\n\r\n", (int)length->value_len, length->value);
    } else if (no_body) {
        evbuffer_add_printf(out, "\r\n");
    } else {
        /* the backend framed the body by chunks or by closing; s3seal frames it by chunks */
        evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n\r\n");
        req->response_chunked = true;
    }
    req->response_started = true;
    return CORE_OK;
}

/*
 * Writes the HeadObject response for an object of `size` bytes: the plaintext size of an
 * encrypted object, and the client's range applied by s3seal, because the
 * Range header is not forwarded on HEAD.
 */
static enum core_err head_object(struct proxy_request *req, struct proxy_upstream *up, uint64_t size,
                                 bool encrypted)
{
    struct evbuffer *out = proxy_conn_output(req->conn);
    uint64_t first = 0;
    uint64_t last = 0;

    req->response_mode = PROXY_RESPONSE_HEAD;
    if (req->range.kind == S3_RANGE_NONE) {
        proxy_response_write_head(out, req, up, encrypted, NULL);
        evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n\r\n", size);
    } else if (s3_range_resolve(&req->range, size, &first, &last)) {
        proxy_response_write_head(out, req, up, encrypted, "206 Partial Content");
        evbuffer_add_printf(out, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", first, last,
                            size);
        evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n\r\n", last - first + 1);
    } else {
        return reject_range(req, up, size);
    }
    req->response_started = true;
    return CORE_OK;
}

/*
 * Checks a partNumber read of an object written with one PutObject, which
 * has exactly one part, the whole object. proxy_part.c finds the parts of a
 * client's multipart object and sends this fetch only after its first probe
 * found no multipart envelope. A multipart envelope here means another
 * object replaced that one in between, which gives 503.
 */
static bool part_available(struct proxy_request *req, struct proxy_upstream *up,
                           const struct crypto_envelope *env)
{
    if (req->part_request == 0) {
        return true;
    }
    if (env->multipart) {
        up->failure = S3_ERR_SERVICE_UNAVAILABLE;
        return false;
    }
    if (req->part_request > 1) {
        up->failure = S3_ERR_INVALID_PART_NUMBER;
        return false;
    }
    return true;
}

/* Tells whether an operator rule refuses this object because it has no envelope. */
static bool unencrypted_rejected(const struct proxy_request *req)
{
    const struct proxy_config *cfg = req->cfg;

    return cfg->reject_unencrypted_reads && req->target.key != NULL &&
           !proxy_config_is_plaintext(cfg, req->target.bucket, req->target.key, req->target.key_len);
}

/* Drops this response and sends the request to the backend again with the given fetch. */
enum core_err proxy_response_retry(struct proxy_request *req, enum proxy_fetch fetch)
{
    req->fetch = fetch;
    req->retry_pending = true;
    req->response_mode = PROXY_RESPONSE_DISCARD;
    return CORE_OK;
}

static enum core_err head_get_object(struct proxy_request *req, struct proxy_upstream *up,
                                     const struct crypto_envelope *env, bool present)
{
    bool found = req->status == 200 || req->status == 206;
    uint64_t first = 0;
    uint64_t last = 0;
    uint64_t size = 0;

    switch (req->fetch) {
    case PROXY_FETCH_CHUNKS:
        if (req->status == 416) {
            return proxy_response_retry(req, PROXY_FETCH_PROBE);
        }
        if (found && !present) {
            return proxy_response_retry(req, PROXY_FETCH_DIRECT);
        }
        if (present) {
            req->response_mode = PROXY_RESPONSE_OPEN;
            return head_open_range(req, up, env);
        }
        break;
    case PROXY_FETCH_PROBE:
        if (req->status != 200 || !present) {
            return proxy_response_retry(req, PROXY_FETCH_DIRECT);
        }
        if (!plaintext_size(req, up, env, &size)) {
            return proxy_response_retry(req, PROXY_FETCH_DIRECT);
        }
        if (!s3_range_resolve(&req->range, size, &first, &last)) {
            return reject_range(req, up, size);
        }
        return proxy_response_retry(req, PROXY_FETCH_CHUNKS);
    case PROXY_FETCH_WHOLE:
        if (!present && (found || req->status == 416)) {
            /* a plaintext object: let the backend apply or ignore the client's range itself */
            return proxy_response_retry(req, PROXY_FETCH_DIRECT);
        }
        if (present && !part_available(req, up, env)) {
            return CORE_CLIENT;
        }
        if (present) {
            req->response_mode = PROXY_RESPONSE_OPEN;
            return head_open_whole(req, up, env);
        }
        break;
    default:
        if (present && req->status == 206) {
            /* the object became an encrypted one since the first answer */
            return proxy_response_retry(req, req->range.kind != S3_RANGE_NONE ? PROXY_FETCH_CHUNKS : PROXY_FETCH_WHOLE);
        }
        if (present) {
            req->response_mode = PROXY_RESPONSE_OPEN;
            return head_open_whole(req, up, env);
        }
        break;
    }
    req->response_mode = PROXY_RESPONSE_PASS;
    return head_pass(req, up);
}

enum core_err proxy_response_head(struct proxy_request *req, struct proxy_upstream *up)
{
    static __thread struct crypto_envelope env;
    bool present = false;
    bool listing = req->target.op == S3_OP_LIST_OBJECTS || req->target.op == S3_OP_LIST_OBJECTS_V2 ||
                   req->target.op == S3_OP_LIST_OBJECT_VERSIONS;
    bool object = req->target.op == S3_OP_GET_OBJECT || req->target.op == S3_OP_HEAD_OBJECT;
    uint64_t size = 0;
    enum core_err err = CORE_OK;

    if (req->step != PROXY_STEP_DIRECT || req->backend_upload_id[0] != '\0' ||
        (req->target.op == S3_OP_CREATE_MULTIPART_UPLOAD && !req->plaintext_write)) {
        bool handled = false;

        err = proxy_upload_response_head(req, up, &handled);
        if (err != CORE_OK || handled) {
            return err;
        }
    }

    if (object && (req->status == 200 || req->status == 206)) {
        if (proxy_response_parse_envelope(up, &env, &present) != CORE_OK) {
            proxy_response_log_integrity(req, "malformed envelope");
            up->failure = S3_ERR_OBJECT_INTEGRITY;
            return CORE_CRYPTO;
        }
    }

    if (object && !present && (req->status == 200 || req->status == 206) && unencrypted_rejected(req)) {
        proxy_response_log_integrity(req, "object has no envelope and unencrypted reads are rejected");
        up->failure = S3_ERR_OBJECT_INTEGRITY;
        return CORE_CRYPTO;
    }
    if (object && req->fetch == PROXY_FETCH_PART_PROBE) {
        err = proxy_part_head(req, up, &env, present);
    } else if (req->target.op == S3_OP_GET_OBJECT) {
        err = head_get_object(req, up, &env, present);
    } else if (req->target.op == S3_OP_HEAD_OBJECT && present && !part_available(req, up, &env)) {
        err = CORE_CLIENT;
    } else if (req->target.op == S3_OP_HEAD_OBJECT && present && check_customer_key(req, up, &env) != CORE_OK) {
        err = CORE_CLIENT;
    } else if (req->target.op == S3_OP_HEAD_OBJECT && present) {
        /* HEAD is served from the envelope and the stored size alone, without a KMS call */
        if (!plaintext_size(req, up, &env, &size)) {
            proxy_response_log_integrity(req, "stored size is not a valid encrypted size");
            up->failure = S3_ERR_OBJECT_INTEGRITY;
            return CORE_CRYPTO;
        }
        err = head_object(req, up, size, true);
    } else if (req->target.op == S3_OP_HEAD_OBJECT && req->status == 200 &&
               header_u64(&up->head, "content-length", &size)) {
        err = head_object(req, up, size, false);
    } else if (listing && req->status == 200) {
        req->response_mode = PROXY_RESPONSE_LIST;
        req->list_body = evbuffer_new();
        err = req->list_body != NULL ? CORE_OK : CORE_NOMEM;
    } else {
        req->response_mode = PROXY_RESPONSE_PASS;
        err = head_pass(req, up);
    }

    if (err == CORE_OK && req->response_mode == PROXY_RESPONSE_OPEN && req->reader.remaining == 0 &&
        !req->reader_key_wait) {
        send_pending_head(req);
    }
    OPENSSL_cleanse(&env, sizeof(env));
    return err;
}

/* Sends verified plaintext to the client, after the response head that waited for the first chunk. */
static enum core_err send_plaintext(void *arg, const uint8_t *plain, size_t len)
{
    struct proxy_request *req = arg;

    if (!req->response_started) {
        send_pending_head(req);
    }
    proxy_obs_decrypted(req, len);
    return evbuffer_add(proxy_conn_output(req->conn), plain, len) == 0 ? CORE_OK : CORE_NOMEM;
}

static enum core_err open_some(struct proxy_request *req, const uint8_t *data, size_t len)
{
    enum core_err err = proxy_reader_feed(&req->reader, data, len, send_plaintext, req);

    if (err == CORE_CRYPTO) {
        proxy_response_log_integrity(req, req->reader.failure);
    }
    return err;
}

enum core_err proxy_response_body(struct proxy_request *req, const uint8_t *data, size_t len)
{
    struct evbuffer *out = proxy_conn_output(req->conn);

    switch (req->response_mode) {
    case PROXY_RESPONSE_OPEN:
        return open_some(req, data, len);
    case PROXY_RESPONSE_LIST:
        if (evbuffer_get_length(req->list_body) + len > PROXY_LIST_BODY_MAX) {
            return CORE_TOO_LARGE;
        }
        return evbuffer_add(req->list_body, data, len) == 0 ? CORE_OK : CORE_NOMEM;
    case PROXY_RESPONSE_HEAD:
        return CORE_UPSTREAM;
    case PROXY_RESPONSE_PART_PROBE:
        return proxy_part_body(req, data, len);
    case PROXY_RESPONSE_DISCARD:
        return CORE_OK;
    case PROXY_RESPONSE_COLLECT:
    case PROXY_RESPONSE_DEFER:
        return proxy_upload_collect(req, data, len);
    case PROXY_RESPONSE_PASS:
    default:
        if (req->response_chunked) {
            evbuffer_add_printf(out, "%zx\r\n", len);
            evbuffer_add(out, data, len);
            evbuffer_add(out, "\r\n", 2);
        } else {
            evbuffer_add(out, data, len);
        }
        return CORE_OK;
    }
}

/*
 * Maps a stored ciphertext size to the plaintext size a client expects,
 * except for keys an operator rule keeps unencrypted.
 */
static bool map_size(void *arg, const char *key, uint64_t stored, uint64_t *plain)
{
    const struct proxy_request *req = arg;
    const struct proxy_config *cfg = req->cfg;

    if (key != NULL && cfg->plaintext_prefix_count > 0) {
        char decoded[3 * 1024 + 1];
        size_t decoded_len = strlen(key);
        const char *query = memchr(req->s3.target, '?', req->s3.target_len);
        bool url_encoded = query != NULL && memmem(query, req->s3.target_len - (size_t)(query - req->s3.target),
                                                   "encoding-type=url", 17) != NULL;

        if (url_encoded && s3_uri_decode(key, strlen(key), decoded, sizeof(decoded), &decoded_len) == CORE_OK) {
            key = decoded;
        }
        if (proxy_config_is_plaintext(cfg, req->target.bucket, key, decoded_len)) {
            return false;
        }
    }
    return crypto_size_decrypted(stored, plain);
}

static enum core_err finish_list(struct proxy_request *req)
{
    struct evbuffer *out = proxy_conn_output(req->conn);
    size_t len = evbuffer_get_length(req->list_body);
    const char *xml = (const char *)evbuffer_pullup(req->list_body, -1);
    char *rewritten = NULL;
    size_t rewritten_len = 0;

    CORE_TRY(s3_list_rewrite_sizes_keyed(xml ? xml : "", len, map_size, req, &rewritten, &rewritten_len));

    proxy_response_write_head(out, req, req->up, false, NULL);
    evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n", rewritten_len);
    evbuffer_add(out, rewritten, rewritten_len);
    free(rewritten);
    req->response_started = true;
    return CORE_OK;
}

enum core_err proxy_response_finish(struct proxy_request *req)
{
    if (req->step != PROXY_STEP_DIRECT || req->response_mode == PROXY_RESPONSE_COLLECT ||
        req->response_mode == PROXY_RESPONSE_DEFER) {
        return proxy_upload_response_finish(req);
    }
    switch (req->response_mode) {
    case PROXY_RESPONSE_OPEN:
        if (!proxy_reader_complete(&req->reader)) {
            proxy_response_log_integrity(req, "object is truncated");
            return CORE_CRYPTO;
        }
        return CORE_OK;
    case PROXY_RESPONSE_LIST:
        return finish_list(req);
    case PROXY_RESPONSE_PART_PROBE:
        return proxy_part_finish(req);
    case PROXY_RESPONSE_PASS:
        if (req->response_chunked) {
            evbuffer_add_printf(proxy_conn_output(req->conn), "0\r\n\r\n");
        }
        return CORE_OK;
    default:
        return CORE_OK;
    }
}

void proxy_response_cleanup(struct proxy_request *req)
{
    proxy_reader_cleanup(&req->reader);
    if (req->reader_env != NULL) {
        OPENSSL_cleanse(req->reader_env, sizeof(*req->reader_env));
        free(req->reader_env);
        req->reader_env = NULL;
    }
    if (req->pending_head != NULL) {
        evbuffer_free(req->pending_head);
        req->pending_head = NULL;
    }
    if (req->list_body != NULL) {
        evbuffer_free(req->list_body);
        req->list_body = NULL;
    }
}
