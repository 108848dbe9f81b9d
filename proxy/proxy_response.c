/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Responses from the backend on their way to the client. Encrypted object
 * bodies are verified and decrypted chunk by chunk, and the response head is
 * held back until the first chunk verified, so a tampered object or a wrong
 * key gives an error response instead of a short body. Listings get their
 * sizes rewritten to plaintext sizes; everything else passes unchanged.
 */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_log.h"
#include "crypto/crypto_envelope.h"
#include "proxy/proxy.h"
#include "s3/s3_list.h"

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
    /* checksums and MD5s the backend computed describe ciphertext */
    return encrypted && (proxy_header_has_prefix(h, "x-amz-checksum-") || proxy_header_is(h, "content-md5"));
}

/* Writes the status line and the headers the client may see, without framing headers. */
static void write_head(struct evbuffer *out, const struct proxy_request *req, const struct proxy_upstream *up,
                       bool encrypted)
{
    const struct proxy_head *h = &up->head;

    evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", req->status, (int)h->url_len, h->data + h->url_off);
    for (size_t i = 0; i < h->count; i++) {
        if (!is_hidden_header(&h->views[i], encrypted)) {
            evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)h->views[i].name_len, h->views[i].name,
                                (int)h->views[i].value_len, h->views[i].value);
        }
    }
    evbuffer_add_printf(out, "Connection: %s\r\n", req->keep_alive ? "keep-alive" : "close");
}

static enum core_err parse_envelope(const struct proxy_upstream *up, struct crypto_envelope *env, bool *present)
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

static void log_integrity_failure(const struct proxy_request *req, const char *what)
{
    core_log(CORE_LOG_ERROR, "proxy", "stored object failed verification (%s) r=%s bucket=%s key=%.*s", what,
             req->id, req->target.bucket ? req->target.bucket : "-", (int)req->target.key_len,
             req->target.key ? req->target.key : "");
}

/* Unwraps the data key, checks the envelope and the stored size, and starts decryption. */
static enum core_err start_open(struct proxy_request *req, struct proxy_upstream *up,
                                const struct crypto_envelope *env)
{
    uint8_t dek[KMS_DEK_LEN];
    uint8_t context[2200];
    size_t context_len = 0;
    const char *bucket = req->target.bucket;
    const struct s3_header *length = proxy_head_find(&up->head, "content-length");
    enum core_err err;

    if (length != NULL && strtoull(length->value, NULL, 10) != crypto_size_encrypted(env->plain_len)) {
        log_integrity_failure(req, "stored size does not match the envelope");
        up->failure = S3_ERR_OBJECT_INTEGRITY;
        return CORE_CRYPTO;
    }

    CORE_TRY(crypto_wrap_context(bucket, strlen(bucket), req->target.key, req->target.key_len, context,
                                 sizeof(context), &context_len));
    err = kms_unwrap(req->conn->worker->kms, env->kms, env->wrapped, env->wrapped_len, context, context_len, dek);
    if (err != CORE_OK) {
        log_integrity_failure(req, err == CORE_CRYPTO ? "data key does not unwrap" : "key management failed");
        up->failure = err == CORE_CRYPTO ? S3_ERR_OBJECT_INTEGRITY : S3_ERR_KMS;
        OPENSSL_cleanse(dek, sizeof(dek));
        return err;
    }
    err = crypto_envelope_verify(env, dek, bucket, strlen(bucket), req->target.key, req->target.key_len);
    if (err == CORE_OK) {
        err = crypto_stream_open_init(&req->open, dek, 0, env->plain_len, 0);
    } else {
        log_integrity_failure(req, "envelope authentication failed");
        up->failure = S3_ERR_OBJECT_INTEGRITY;
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    return err;
}

static enum core_err head_open(struct proxy_request *req, struct proxy_upstream *up,
                               const struct crypto_envelope *env)
{
    CORE_TRY(start_open(req, up, env));

    req->plain_length = env->plain_len;
    req->cipher = malloc(CRYPTO_CHUNK_CIPHER_MAX);
    req->plain = malloc(CRYPTO_CHUNK_PLAIN_MAX);
    req->pending_head = evbuffer_new();
    if (req->cipher == NULL || req->plain == NULL || req->pending_head == NULL) {
        return CORE_NOMEM;
    }
    write_head(req->pending_head, req, up, true);
    evbuffer_add_printf(req->pending_head, "Content-Length: %" PRIu64 "\r\n\r\n", env->plain_len);
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

    write_head(out, req, up, false);
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

enum core_err proxy_response_head(struct proxy_request *req, struct proxy_upstream *up)
{
    static __thread struct crypto_envelope env;
    bool present = false;
    bool listing = req->target.op == S3_OP_LIST_OBJECTS || req->target.op == S3_OP_LIST_OBJECTS_V2 ||
                   req->target.op == S3_OP_LIST_OBJECT_VERSIONS;
    bool object = req->target.op == S3_OP_GET_OBJECT || req->target.op == S3_OP_HEAD_OBJECT;
    enum core_err err = CORE_OK;

    if (object && (req->status == 200 || req->status == 206)) {
        if (parse_envelope(up, &env, &present) != CORE_OK) {
            log_integrity_failure(req, "malformed envelope");
            up->failure = S3_ERR_OBJECT_INTEGRITY;
            return CORE_CRYPTO;
        }
    }

    if (present && req->status == 206) {
        /* s3seal never forwards a Range header, so a partial response is not one it can decrypt */
        up->failure = S3_ERR_UPSTREAM_UNAVAILABLE;
        return CORE_UPSTREAM;
    }
    if (present && req->target.op == S3_OP_GET_OBJECT) {
        req->response_mode = PROXY_RESPONSE_OPEN;
        err = head_open(req, up, &env);
        if (err == CORE_OK && env.plain_len == 0) {
            send_pending_head(req);
        }
    } else if (present) {
        struct evbuffer *out = proxy_conn_output(req->conn);

        /* HEAD is served from the envelope alone, without a KMS call */
        req->response_mode = PROXY_RESPONSE_HEAD;
        write_head(out, req, up, true);
        evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n\r\n", env.plain_len);
        req->response_started = true;
    } else if (listing && req->status == 200) {
        req->response_mode = PROXY_RESPONSE_LIST;
        req->list_body = evbuffer_new();
        err = req->list_body != NULL ? CORE_OK : CORE_NOMEM;
    } else {
        req->response_mode = PROXY_RESPONSE_PASS;
        err = head_pass(req, up);
    }
    OPENSSL_cleanse(&env, sizeof(env));
    return err;
}

static enum core_err open_some(struct proxy_request *req, const uint8_t *data, size_t len)
{
    struct evbuffer *out = proxy_conn_output(req->conn);

    while (len > 0) {
        size_t want = crypto_stream_next_cipher_len(&req->open);
        size_t take;
        size_t opened = 0;

        if (want == 0) {
            log_integrity_failure(req, "bytes after the final chunk");
            return CORE_CRYPTO;
        }
        take = want - req->plain_fill < len ? want - req->plain_fill : len;
        memcpy(req->cipher + req->plain_fill, data, take);
        req->plain_fill += take;
        data += take;
        len -= take;
        if (req->plain_fill < want) {
            break;
        }

        req->plain_fill = 0;
        if (crypto_stream_open_chunk(&req->open, req->cipher, want, req->plain, CRYPTO_CHUNK_PLAIN_MAX, &opened) !=
            CORE_OK) {
            log_integrity_failure(req, "chunk authentication failed");
            return CORE_CRYPTO;
        }
        if (!req->response_started) {
            send_pending_head(req);
        }
        evbuffer_add(out, req->plain, opened);
    }
    return CORE_OK;
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

/* Maps a stored ciphertext size to the plaintext size a client expects. */
static bool map_size(void *arg, uint64_t stored, uint64_t *plain)
{
    (void)arg;
    return crypto_size_decrypted(stored, plain);
}

static enum core_err finish_list(struct proxy_request *req)
{
    struct evbuffer *out = proxy_conn_output(req->conn);
    size_t len = evbuffer_get_length(req->list_body);
    const char *xml = (const char *)evbuffer_pullup(req->list_body, -1);
    char *rewritten = NULL;
    size_t rewritten_len = 0;

    CORE_TRY(s3_list_rewrite_sizes(xml ? xml : "", len, map_size, NULL, &rewritten, &rewritten_len));

    write_head(out, req, req->up, false);
    evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n", rewritten_len);
    evbuffer_add(out, rewritten, rewritten_len);
    free(rewritten);
    req->response_started = true;
    return CORE_OK;
}

enum core_err proxy_response_finish(struct proxy_request *req)
{
    switch (req->response_mode) {
    case PROXY_RESPONSE_OPEN:
        if (!crypto_stream_is_complete(&req->open) || req->plain_fill != 0) {
            log_integrity_failure(req, "object is truncated");
            return CORE_CRYPTO;
        }
        return CORE_OK;
    case PROXY_RESPONSE_LIST:
        return finish_list(req);
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
    crypto_stream_cleanup(&req->open);
    if (req->pending_head != NULL) {
        evbuffer_free(req->pending_head);
        req->pending_head = NULL;
    }
    if (req->list_body != NULL) {
        evbuffer_free(req->list_body);
        req->list_body = NULL;
    }
}
