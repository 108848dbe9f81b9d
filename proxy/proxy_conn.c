/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client connections: reads requests with llhttp, authenticates them, picks
 * what s3seal does with each operation, and writes S3 error responses. One
 * request is served at a time per connection; pipelined requests wait in the
 * input buffer until the previous response is complete.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "core/core_log.h"
#include "crypto/crypto_envelope.h"
#include "proxy/proxy.h"
#include "proxy/proxy_obs.h"
#include "s3/s3_multipart.h"
#include "s3/s3_uri.h"

static void process_input(struct proxy_conn *c);
static void advance(struct proxy_conn *c);

struct evbuffer *proxy_conn_output(struct proxy_conn *c)
{
    return bufferevent_get_output(c->bev);
}

/* Raises libevent's per-call read and write limits of a connection to PROXY_SOCKET_IO_MAX. */
void proxy_bufferevent_tune(struct bufferevent *bev)
{
    if (bufferevent_set_max_single_read(bev, PROXY_SOCKET_IO_MAX) != 0 ||
        bufferevent_set_max_single_write(bev, PROXY_SOCKET_IO_MAX) != 0) {
        core_log(CORE_LOG_WARN, "proxy", "cannot raise the read and write size of a connection to %d bytes",
                 PROXY_SOCKET_IO_MAX);
    }
}

/*
 * Reads what a plain socket has waiting, up to the input's high-water mark,
 * in one readv into the bufferevent's input. libevent 2.1.12's
 * evbuffer_read moves at most 4096 bytes per call when more is waiting, so
 * a 1 GiB transfer took 262,144 reads, each with an ioctl(FIONREAD) and an
 * epoll_wait (measured with strace). Call it only from a read callback of a
 * socket bufferevent without TLS. The end of the input stays frozen outside
 * libevent's own reads, so it is thawed for this read and frozen again. An
 * end of stream or an error stays in the socket, and libevent's next read
 * reports it as usual. An input shorter than libevent's cap means its read
 * took all the socket held, so the readv is skipped: on a small request it
 * would only return EAGAIN, a system call per side for nothing.
 */
void proxy_socket_read_more(struct bufferevent *bev)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t have = evbuffer_get_length(in);
    evutil_socket_t fd = bufferevent_getfd(bev);
    struct evbuffer_iovec space[2];
    struct iovec iov[2];
    ssize_t got;
    int count;

    if (fd < 0 || have < PROXY_LIBEVENT_READ_MAX || have >= PROXY_HIGH_WATER) {
        return;
    }
    evbuffer_unfreeze(in, 0);
    count = evbuffer_reserve_space(in, (ev_ssize_t)(PROXY_HIGH_WATER - have), space, 2);
    if (count <= 0) {
        evbuffer_freeze(in, 0);
        return;
    }
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = space[i].iov_base;
        iov[i].iov_len = space[i].iov_len;
    }

    got = readv(fd, iov, count);
    if (got <= 0) {
        count = 0; /* EAGAIN, end of stream or an error: libevent's next read sees it */
    } else if ((size_t)got <= space[0].iov_len) {
        space[0].iov_len = (size_t)got;
        count = 1;
    } else {
        space[1].iov_len = (size_t)got - space[0].iov_len;
        count = 2;
    }
    evbuffer_commit_space(in, space, count);
    evbuffer_freeze(in, 0);
}

void proxy_add_date_header(struct evbuffer *out)
{
    char date[64];

    if (s3_http_date(time(NULL), date, sizeof(date)) == CORE_OK) {
        evbuffer_add_printf(out, "Date: %s\r\n", date);
    }
}

/*
 * A request id is a random 64-bit start, drawn once per worker thread, plus
 * a count of the thread's requests. Ids only have to be distinct, and
 * RAND_bytes for every request cost a lock and a getpid() system call.
 */
static void make_request_id(char id[17])
{
    static const char hex[] = "0123456789ABCDEF";
    static __thread uint64_t next;
    static __thread bool seeded;
    uint64_t value;

    if (!seeded) {
        if (RAND_bytes((unsigned char *)&next, sizeof(next)) != 1) {
            /* a request id only correlates logs; a weak start is better than none */
            next = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&next;
        }
        seeded = true;
    }
    value = next++;
    for (int i = 15; i >= 0; i--) {
        id[i] = hex[value & 15];
        value >>= 4;
    }
    id[16] = '\0';
}

static void request_free(struct proxy_request *req)
{
    if (req == NULL) {
        return;
    }
    proxy_obs_request_end(req);
    if (req->up != NULL) {
        proxy_upstream_release(req->up, false);
        req->up = NULL;
    }
    if (req->source_up != NULL) {
        proxy_upstream_release(req->source_up, false);
    }
    proxy_keys_release(req);
    OPENSSL_cleanse(req->key_dek, sizeof(req->key_dek));
    s3_ssec_wipe(&req->ssec);
    s3_ssec_wipe(&req->copy_ssec);
    proxy_body_cleanup(req);
    proxy_response_cleanup(req);
    proxy_upload_cleanup(req);
    s3_target_cleanup(&req->target);
    s3_auth_cleanup(&req->auth);
    proxy_head_cleanup(&req->head);
    proxy_gen_unref(req->gen);
    free(req);
}

static void conn_free(struct proxy_conn *c)
{
    request_free(c->req);
    c->req = NULL;
    proxy_life_conn_removed(c);
    if (c->bev != NULL) {
        proxy_obs_conn_close(c);
        bufferevent_free(c->bev);
    }
    free(c);
}

void proxy_conn_close(struct proxy_conn *c)
{
    conn_free(c);
}

void proxy_conn_maybe_free(struct proxy_conn *c)
{
    if (c->dead && !c->in_parser) {
        conn_free(c);
    }
}

void proxy_conn_abort(struct proxy_conn *c, const char *why)
{
    core_log(CORE_LOG_WARN, "proxy", "closing client connection: %s r=%s peer=%s", why,
             c->req ? c->req->id : "-", c->peer);
    if (c->req != NULL) {
        proxy_obs_request_end_by(c->req, PROXY_END_S3SEAL);
    }
    c->dead = true;
}

void proxy_conn_response_done(struct proxy_conn *c)
{
    if (c->req != NULL) {
        c->req->response_done = true;
    }
    if (!c->in_parser) {
        advance(c);
    }
}

void proxy_conn_resume_reading(struct proxy_conn *c)
{
    if (c->paused_for_upstream) {
        c->paused_for_upstream = false;
        if (!c->in_parser) {
            advance(c);
        }
    }
}

static void log_rejection(const struct proxy_request *req, enum s3_error_code code, const char *message)
{
    const char *op = s3_op_name(req->target.op);
    enum core_log_level level = s3_error_status(code) >= 500 ? CORE_LOG_ERROR : CORE_LOG_WARN;

    core_log(level, "proxy", "%s %s: %d %s%s%s r=%s peer=%s op=%s", req->method ? req->method : "-",
             req->target.bucket ? req->target.bucket : "-", s3_error_status(code), s3_error_name(code),
             message ? ": " : "", message ? message : "", req->id, req->conn->peer, op ? op : "-");
}

enum core_err proxy_conn_format_error(struct proxy_request *req, struct evbuffer *out, enum s3_error_code code,
                                      const char *message, const struct s3_error_extra *extra, size_t extra_count)
{
    char resource[1100];
    char *xml = NULL;
    size_t xml_len = 0;

    snprintf(resource, sizeof(resource), "/%s%s%.*s", req->target.bucket ? req->target.bucket : "",
             req->target.key ? "/" : "", (int)req->target.key_len, req->target.key ? req->target.key : "");
    CORE_TRY(s3_error_xml(code, message, resource, req->id, extra, extra_count, &xml, &xml_len));
    proxy_obs_response_status(req, s3_error_status(code));

    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", s3_error_status(code), s3_error_name(code));
    evbuffer_add_printf(out, "Content-Type: application/xml\r\nx-amz-request-id: %s\r\n", req->id);
    proxy_add_date_header(out);
    if (req->content_range[0] != '\0') {
        evbuffer_add_printf(out, "Content-Range: %s\r\n", req->content_range);
    }
    evbuffer_add_printf(out, "Content-Length: %zu\r\n", req->is_head_method ? (size_t)0 : xml_len);
    evbuffer_add_printf(out, "Connection: %s\r\n\r\n", req->keep_alive ? "keep-alive" : "close");
    if (!req->is_head_method) {
        evbuffer_add(out, xml, xml_len);
    }
    free(xml);
    return CORE_OK;
}

void proxy_conn_send_error(struct proxy_request *req, enum s3_error_code code, const char *message,
                           const struct s3_error_extra *extra, size_t extra_count)
{
    struct proxy_conn *c = req->conn;
    struct evbuffer *response;

    log_rejection(req, code, message);
    proxy_obs_request_end_by(req, PROXY_END_S3SEAL);

    if (req->response_started) {
        /* the client already has a status line; only a cut connection can signal the failure */
        proxy_conn_abort(c, "error after the response started");
        return;
    }

    /* an unread request body would be parsed as the next request: close instead */
    if (!req->body_done && req->has_body) {
        req->keep_alive = false;
    }
    response = evbuffer_new();
    if (response == NULL || proxy_conn_format_error(req, response, code, message, extra, extra_count) != CORE_OK) {
        if (response != NULL) {
            evbuffer_free(response);
        }
        proxy_conn_abort(c, "cannot build an error response");
        return;
    }
    if (req->up != NULL) {
        proxy_upstream_release(req->up, false);
        req->up = NULL;
    }
    if (req->source_up != NULL) {
        proxy_upstream_release(req->source_up, false);
    }

    /* a backend upload s3seal opened for this request goes away before the client hears of the failure */
    if (req->backend_upload_id[0] != '\0' && req->step != PROXY_STEP_ABORT && req->deferred == NULL) {
        req->deferred = response;
        if (proxy_upload_abort_instead(req)) {
            return;
        }
        req->deferred = NULL;
    }

    evbuffer_add_buffer(proxy_conn_output(c), response);
    evbuffer_free(response);
    req->response_started = true;
    proxy_conn_response_done(c);
}

/* Returns the secret of a client access key id for the SigV4 verifier. */
static const struct s3_credential *lookup_credential(void *arg, const char *access_key_id)
{
    struct proxy_request *req = arg;
    static __thread struct s3_credential found;
    const char *secret = proxy_config_find_secret(req->cfg, access_key_id);

    if (secret == NULL) {
        return NULL;
    }
    found.access_key_id = access_key_id;
    found.secret_access_key = secret;
    return &found;
}

/* Detects Signature Version 2 requests, so they get a clear error instead of a failed SigV4 check. */
static bool is_sigv2(const struct proxy_request *req)
{
    const struct s3_header *authorization = proxy_head_find(&req->head, "authorization");
    const char *query = memchr(req->s3.target, '?', req->s3.target_len);

    if (authorization != NULL) {
        return authorization->value_len > 4 && strncmp(authorization->value, "AWS ", 4) == 0;
    }
    return query != NULL && memmem(query, req->s3.target_len - (size_t)(query - req->s3.target),
                                   "AWSAccessKeyId=", 15) != NULL;
}

static bool verify_signature(struct proxy_request *req)
{
    const struct proxy_config *cfg = req->cfg;
    enum core_err rc;

    if (is_sigv2(req)) {
        proxy_conn_send_error(req, S3_ERR_INVALID_REQUEST,
                              "Signature Version 2 is not supported; sign requests with AWS4-HMAC-SHA256", NULL,
                              0);
        return false;
    }
    rc = s3_sigv4_verify(&req->s3, lookup_credential, req, time(NULL), &req->auth);

    if (rc == CORE_OK && req->auth.error == S3_ERR_NONE && strcmp(req->auth.region, cfg->region) != 0) {
        char message[256];

        snprintf(message, sizeof(message), "the region '%.64s' is wrong; expecting '%.64s'", req->auth.region,
                 cfg->region);
        proxy_conn_send_error(req, S3_ERR_AUTHORIZATION_HEADER_MALFORMED, message, NULL, 0);
        return false;
    }
    if (rc == CORE_OK && req->auth.error == S3_ERR_NONE) {
        return true;
    }

    if (req->auth.error == S3_ERR_REQUEST_TIME_TOO_SKEWED) {
        char server_time[17];
        struct s3_error_extra extra[3] = {
            {"RequestTime", req->auth.request_time},
            {"ServerTime", server_time},
            {"MaxAllowedSkewMilliseconds", "900000"},
        };

        s3_sigv4_amz_date(time(NULL), server_time);
        proxy_conn_send_error(req, S3_ERR_REQUEST_TIME_TOO_SKEWED, NULL, extra, 3);
        return false;
    }
    if (req->auth.error == S3_ERR_INVALID_ACCESS_KEY_ID) {
        struct s3_error_extra extra[1] = {{"AWSAccessKeyId", req->auth.access_key_id}};

        proxy_conn_send_error(req, S3_ERR_INVALID_ACCESS_KEY_ID, NULL, extra, 1);
        return false;
    }
    proxy_conn_send_error(req, req->auth.error != S3_ERR_NONE ? req->auth.error : S3_ERR_ACCESS_DENIED, NULL,
                          NULL, 0);
    return false;
}

static bool authenticate(struct proxy_request *req)
{
    if (verify_signature(req)) {
        return true;
    }
    proxy_obs_auth_failure(req);
    return false;
}

/* Rejects client metadata in s3seal's own namespace, which would forge an envelope. */
static bool has_reserved_metadata(const struct proxy_request *req)
{
    static const char prefix[] = "x-amz-meta-" CRYPTO_META_PREFIX;

    for (size_t i = 0; i < req->head.count; i++) {
        if (proxy_header_has_prefix(&req->head.views[i], prefix)) {
            return true;
        }
    }
    return false;
}

/* Reads ?partNumber= of a GetObject or HeadObject; S3 rejects it together with a Range. */
static bool parse_part_request(struct proxy_request *req, bool has_range)
{
    const char *query = memchr(req->s3.target, '?', req->s3.target_len);
    char value[16];
    char *end = NULL;
    unsigned long number;

    if (query == NULL ||
        !s3_query_get(query + 1, req->s3.target_len - (size_t)(query + 1 - req->s3.target), "partNumber", value,
                      sizeof(value))) {
        return true;
    }
    number = strtoul(value, &end, 10);
    if (value[0] == '\0' || *end != '\0' || number < 1 || number > 10000) {
        proxy_conn_send_error(req, S3_ERR_INVALID_ARGUMENT, "partNumber must be a number from 1 to 10000", NULL,
                              0);
        return false;
    }
    if (has_range) {
        proxy_conn_send_error(req, S3_ERR_INVALID_REQUEST, "a Range header and partNumber cannot be combined",
                              NULL, 0);
        return false;
    }
    req->part_request = (uint32_t)number;
    return true;
}

/*
 * Decides what s3seal does with an operation: forward it unchanged, encrypt
 * its body, or refuse it because it would store or reveal data in a way
 * s3seal cannot protect yet.
 */
static bool check_operation(struct proxy_request *req)
{
    const struct proxy_config *cfg = req->cfg;

    if (req->target.key != NULL && req->target.op != S3_OP_COPY_OBJECT &&
        proxy_config_is_plaintext(cfg, req->target.bucket, req->target.key, req->target.key_len)) {
        req->plaintext_write = true;
    }
    switch (req->target.op) {
    case S3_OP_LIST_BUCKETS:
    case S3_OP_CREATE_BUCKET:
    case S3_OP_DELETE_BUCKET:
    case S3_OP_HEAD_BUCKET:
    case S3_OP_LIST_OBJECTS:
    case S3_OP_LIST_OBJECTS_V2:
    case S3_OP_LIST_OBJECT_VERSIONS:
    case S3_OP_BUCKET_SUBRESOURCE:
    case S3_OP_DELETE_OBJECTS:
    case S3_OP_DELETE_OBJECT:
    case S3_OP_OBJECT_SUBRESOURCE:
    case S3_OP_LIST_MULTIPART_UPLOADS:
        return true;
    case S3_OP_GET_OBJECT:
    case S3_OP_HEAD_OBJECT: {
        const struct s3_header *range = proxy_head_find(&req->head, "range");

        if (range != NULL) {
            s3_range_parse(range->value, range->value_len, &req->range);
        }
        if (!parse_part_request(req, range != NULL)) {
            return false;
        }
        /* the plaintext size is not known yet, so ask for the chunks that cover the range */
        if (req->target.op == S3_OP_GET_OBJECT && range != NULL) {
            req->fetch = req->range.kind != S3_RANGE_NONE ? PROXY_FETCH_CHUNKS : PROXY_FETCH_WHOLE;
        }
        /* s3seal finds a part itself, starting with the header of the first stored chunk (proxy_part.c) */
        if (req->part_request != 0) {
            req->fetch = PROXY_FETCH_PART_PROBE;
            req->part.number = req->part_request;
        }
        return true;
    }
    case S3_OP_UPLOAD_PART:
    case S3_OP_UPLOAD_PART_COPY:
    case S3_OP_COMPLETE_MULTIPART_UPLOAD:
    case S3_OP_ABORT_MULTIPART_UPLOAD:
    case S3_OP_LIST_PARTS:
        return true;
    case S3_OP_PUT_OBJECT:
    case S3_OP_COPY_OBJECT:
    case S3_OP_CREATE_MULTIPART_UPLOAD:
        if (has_reserved_metadata(req)) {
            proxy_conn_send_error(req, S3_ERR_INVALID_ARGUMENT,
                                  "metadata names starting with " CRYPTO_META_PREFIX " are reserved by s3seal",
                                  NULL, 0);
            return false;
        }
        return true;
    default:
        break;
    }
    {
        char message[128];

        snprintf(message, sizeof(message), "s3seal does not support %s yet", s3_op_name(req->target.op));
        proxy_conn_send_error(req, S3_ERR_NOT_IMPLEMENTED, message, NULL, 0);
    }
    return false;
}

/*
 * Finds how long the body is. HTTP chunked framing is accepted only around an
 * aws-chunked body, because its x-amz-decoded-content-length gives the
 * length. The AWS SDK for JavaScript sends stream bodies this way. Any other
 * body without a length gets 411, as on S3.
 */
static bool parse_content_length(struct proxy_request *req)
{
    const struct s3_header *te = proxy_head_find(&req->head, "transfer-encoding");
    const struct s3_header *decoded = proxy_head_find(&req->head, "x-amz-decoded-content-length");

    if (te != NULL) {
        if (!(req->conn->parser.flags & F_CHUNKED) || decoded == NULL) {
            req->keep_alive = false;
            proxy_conn_send_error(req, S3_ERR_MISSING_CONTENT_LENGTH,
                                  "a request body needs Content-Length or x-amz-decoded-content-length", NULL,
                                  0);
            return false;
        }
        req->has_body = true;
        return true;
    }
    req->content_length = req->conn->parser.content_length;
    req->has_body = (req->conn->parser.flags & F_CONTENT_LENGTH) != 0 && req->content_length > 0;
    return true;
}

static bool classify(struct proxy_request *req)
{
    const struct proxy_config *cfg = req->cfg;

    if (s3_op_classify_host(&req->s3, (const char *const *)cfg->base_domains, cfg->base_domain_count,
                            &req->target) != CORE_OK) {
        enum s3_error_code code = req->target.error != S3_ERR_NONE ? req->target.error : S3_ERR_INVALID_REQUEST;

        proxy_conn_send_error(req, code, NULL, NULL, 0);
        return false;
    }
    return true;
}

/*
 * Refuses a browser form upload before authentication: its signature is in
 * the form, not the headers, and s3seal does not encrypt form uploads yet.
 */
static bool reject_form_upload(struct proxy_request *req)
{
    if (req->target.op != S3_OP_POST_OBJECT) {
        return true;
    }
    /* TODO: POST Object (browser form upload) is refused; encrypting it needs a form parser. */
    proxy_conn_send_error(req, S3_ERR_NOT_IMPLEMENTED, "s3seal does not support browser form uploads (POST Object)",
                          NULL, 0);
    return false;
}

static size_t envelope_metadata_size(const struct crypto_envelope_headers *env)
{
    return strlen(CRYPTO_META_VERSION) + strlen(env->version) + strlen(CRYPTO_META_KMS) + strlen(env->kms) +
           strlen(CRYPTO_META_DEK) + strlen(env->dek) + strlen(CRYPTO_META_COMMITMENT) + strlen(env->commitment) +
           (env->multipart[0] != '\0' ? strlen(CRYPTO_META_MULTIPART) + strlen(env->multipart)
                                      : strlen(CRYPTO_META_LENGTH) + strlen(env->length)) +
           strlen(CRYPTO_META_MAC) + strlen(env->mac);
}

/*
 * S3 API, user-defined metadata: names (after x-amz-meta-) and values
 * together may not exceed 2 KB. The envelope counts against that limit, so
 * s3seal returns MetadataTooLarge itself before anything is stored.
 */
static bool metadata_fits(const struct proxy_request *req)
{
    static const size_t limit = 2048;
    const struct crypto_envelope_headers *env = req->envelope != NULL ? req->envelope : req->multipart_envelope;
    size_t total = 0;

    if (env == NULL) {
        return true;
    }
    for (size_t i = 0; i < req->head.count; i++) {
        const struct s3_header *h = &req->head.views[i];

        if (proxy_header_has_prefix(h, "x-amz-meta-")) {
            total += h->name_len - strlen("x-amz-meta-") + h->value_len;
        }
    }
    return total + envelope_metadata_size(env) <= limit;
}

static void on_request_key(struct proxy_request *req);

/*
 * Reads the SSE-C headers of the object and of a copy's source. S3 accepts customer keys only over
 * HTTPS; s3seal also refuses them where it would store the object unencrypted.
 */
static bool parse_customer_keys(struct proxy_request *req)
{
    const char *message = NULL;

    if (s3_ssec_parse(&req->s3, S3_SSEC_OBJECT, &req->ssec, &message) != CORE_OK ||
        s3_ssec_parse(&req->s3, S3_SSEC_COPY_SOURCE, &req->copy_ssec, &message) != CORE_OK) {
        proxy_conn_send_error(req, S3_ERR_INVALID_ARGUMENT, message, NULL, 0);
        return false;
    }
    if (!req->ssec.present && !req->copy_ssec.present) {
        return true;
    }
    if (bufferevent_openssl_get_ssl(req->conn->bev) == NULL) {
        proxy_conn_send_error(req, S3_ERR_INVALID_REQUEST,
                              "requests with a customer key (SSE-C) must be made over HTTPS", NULL, 0);
        return false;
    }
    if (req->ssec.present && req->plaintext_write) {
        proxy_conn_send_error(req, S3_ERR_INVALID_REQUEST,
                              "a customer key (SSE-C) cannot be used where S3SEAL_PLAINTEXT_PREFIXES stores "
                              "objects unencrypted",
                              NULL, 0);
        return false;
    }
    return true;
}

/*
 * Gets the data key the request needs before its body can be sealed. Returns false when the request got
 * an error response, or waits for a KMS call: then on_request_key runs the rest of the request.
 */
static bool request_key_ready(struct proxy_request *req)
{
    enum s3_error_code error = S3_ERR_NONE;
    enum core_err err;

    /* a CopyObject re-wraps its source's key, or gets a new one only for a source s3seal did not write */
    if (req->plaintext_write || req->target.op == S3_OP_COPY_OBJECT) {
        return true;
    }
    err = proxy_body_fetch_key(req, &error, on_request_key);
    if (err == CORE_AGAIN) {
        req->key_wait = true;
        req->body_blocked = true;
        return false;
    }
    if (err != CORE_OK) {
        proxy_conn_send_error(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
        return false;
    }
    return true;
}

/* Prepares the body and starts the backend request, once the request's data key is at hand. */
static void request_proceed(struct proxy_conn *c)
{
    struct proxy_request *req = c->req;
    enum s3_error_code error = S3_ERR_NONE;

    if (proxy_body_prepare(req, &error) != CORE_OK) {
        proxy_conn_send_error(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
        return;
    }
    if (!metadata_fits(req)) {
        proxy_conn_send_error(req, S3_ERR_METADATA_TOO_LARGE,
                              "user metadata and the s3seal envelope together exceed 2 KB", NULL, 0);
        return;
    }
    if (proxy_upload_prepare_id(req, &error) != CORE_OK) {
        proxy_conn_send_error(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
        return;
    }
    if (req->target.op == S3_OP_PUT_OBJECT && !req->plaintext_write) {
        /* the body waits until s3seal's backend upload exists */
        req->step = PROXY_STEP_CREATE;
        req->body_blocked = true;
    }
    if ((req->target.op == S3_OP_COPY_OBJECT || req->target.op == S3_OP_UPLOAD_PART_COPY) &&
        proxy_copy_prepare(req, &error) != CORE_OK) {
        proxy_conn_send_error(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
        return;
    }

    /* a buffered body is forwarded once it arrived and verified */
    if (req->body_mode != PROXY_BODY_BUFFER && proxy_forward_start(req) != CORE_OK) {
        if (!req->response_started) {
            proxy_conn_send_error(req, S3_ERR_SERVICE_UNAVAILABLE, "cannot reach the backend", NULL, 0);
        }
        return;
    }

    /* RFC 9110 section 10.1.1: the interim response lets the client send the body */
    if (req->expect_continue && req->has_body) {
        evbuffer_add_printf(proxy_conn_output(c), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    core_log(CORE_LOG_DEBUG, "proxy", "%s op=%s bucket=%s r=%s", req->method, s3_op_name(req->target.op),
             req->target.bucket ? req->target.bucket : "-", req->id);
}

/* Handles a complete request head; returns after the request got a response or was forwarded. */
static void request_begin(struct proxy_conn *c)
{
    struct proxy_request *req = c->req;
    const struct s3_header *expect;

    proxy_head_finish(&req->head);
    req->method = llhttp_method_name(c->parser.method);
    req->upstream_method = req->method;
    req->is_head_method = c->parser.method == HTTP_HEAD;
    req->keep_alive = llhttp_should_keep_alive(&c->parser) != 0;
    req->s3.method = req->method;
    req->s3.target = req->head.data + req->head.url_off;
    req->s3.target_len = req->head.url_len;
    req->s3.headers = req->head.views;
    req->s3.header_count = req->head.count;
    expect = proxy_head_find(&req->head, "expect");
    req->expect_continue = expect != NULL && expect->value_len == 12 && strncasecmp(expect->value, "100-continue", 12) == 0;

    if (proxy_life_refuse_busy(req)) {
        return;
    }

    if (!parse_content_length(req) || !classify(req) || !reject_form_upload(req) || !authenticate(req) ||
        !check_operation(req)) {
        return;
    }

    if (!parse_customer_keys(req)) {
        return;
    }
    if (request_key_ready(req)) {
        request_proceed(c);
    }
}

static int on_message_begin(llhttp_t *p)
{
    struct proxy_conn *c = p->data;

    c->req = calloc(1, sizeof(*c->req));
    if (c->req == NULL) {
        return -1;
    }
    c->req->conn = c;
    make_request_id(c->req->id);
    proxy_life_request_started(c);
    proxy_obs_request_begin(c->req);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_conn *c = p->data;

    return proxy_head_on_url(&c->req->head, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_conn *c = p->data;

    return proxy_head_on_field(&c->req->head, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_conn *c = p->data;

    return proxy_head_on_value(&c->req->head, at, len);
}

/* Ends the request body: checks its digests and releases the held-back bytes to the backend. */
static void body_complete(struct proxy_conn *c)
{
    struct proxy_request *req = c->req;
    enum s3_error_code error = S3_ERR_NONE;

    if (req->body_done) {
        return;
    }
    req->body_done = true;
    if (c->state == PROXY_CONN_READING_BODY) {
        c->state = PROXY_CONN_WAITING_RESPONSE;
    }
    if (req->body_mode != PROXY_BODY_DISCARD && proxy_body_finish(req, &error) != CORE_OK) {
        req->body_mode = PROXY_BODY_DISCARD;
        proxy_conn_send_error(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
    }
}

/* The part of a parsed request head's handling that follows request_begin. */
static void finish_head(struct proxy_conn *c)
{
    if (c->req->response_started) {
        c->req->body_mode = PROXY_BODY_DISCARD;
    }

    /* llhttp reports the end of a bodiless message only on its next call, which may never come */
    if (!c->req->has_body) {
        body_complete(c);
    }
}

static int on_headers_complete(llhttp_t *p)
{
    struct proxy_conn *c = p->data;

    c->state = PROXY_CONN_READING_BODY;
    proxy_life_head_done(c);
    request_begin(c);
    if (!c->req->key_wait) {
        finish_head(c);
    }
    /* pause so the caller regains control before any body byte is parsed */
    return HPE_PAUSED;
}

/*
 * Carries on with a request whose head waited for its data key, as if llhttp had just parsed the head:
 * in_parser defers freeing the request until the handling is over, as it does inside llhttp callbacks.
 */
static void on_request_key(struct proxy_request *req)
{
    struct proxy_conn *c = req->conn;

    c->in_parser = true;
    req->key_wait = false;
    req->body_blocked = false;
    if (request_key_ready(req)) {
        request_proceed(c);
    }
    if (!req->key_wait) {
        finish_head(c);
    }
    c->in_parser = false;

    c->paused_for_upstream = false;
    advance(c);
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct proxy_conn *c = p->data;
    struct proxy_request *req = c->req;
    enum s3_error_code error = S3_ERR_NONE;

    req->body_received += len;
    if (req->body_mode == PROXY_BODY_DISCARD) {
        return 0;
    }
    if (proxy_body_feed(req, (const uint8_t *)at, len, &error) != CORE_OK) {
        req->body_mode = PROXY_BODY_DISCARD;
        proxy_conn_send_error(req, error != S3_ERR_NONE ? error : S3_ERR_INTERNAL_ERROR, NULL, NULL, 0);
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct proxy_conn *c = p->data;

    body_complete(c);
    return HPE_PAUSED;
}

static bool upstream_output_full(struct proxy_conn *c)
{
    struct proxy_request *req = c->req;

    if (req == NULL || req->up == NULL || c->state != PROXY_CONN_READING_BODY) {
        return false;
    }
    return evbuffer_get_length(proxy_upstream_output(req->up)) > PROXY_LOW_WATER;
}

static void reject_malformed(struct proxy_conn *c, llhttp_errno_t err)
{
    if (c->req != NULL && proxy_life_reject_head(c->req)) {
        /* answered with the limit it passed */
    } else if (c->req != NULL) {
        c->req->keep_alive = false;
        proxy_conn_send_error(c->req, S3_ERR_BAD_REQUEST, llhttp_errno_name(err), NULL, 0);
    } else {
        core_log(CORE_LOG_WARN, "proxy", "malformed request: %s peer=%s", llhttp_errno_name(err), c->peer);
        evbuffer_add_printf(proxy_conn_output(c),
                            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    if (c->req != NULL) {
        c->req->keep_alive = false;
    }
    c->state = PROXY_CONN_CLOSING;
}

/* Feeds buffered client bytes to the parser while the request can take them. */
static void process_input(struct proxy_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (!c->dead && (c->state == PROXY_CONN_READING_HEAD || c->state == PROXY_CONN_READING_BODY)) {
        struct evbuffer_iovec v;
        size_t n;
        size_t consumed;
        llhttp_errno_t err;

        if (upstream_output_full(c) ||
            (c->req != NULL && c->req->body_blocked && c->state == PROXY_CONN_READING_BODY)) {
            c->paused_for_upstream = true;
            return;
        }
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
            return;
        }
        n = v.iov_len < PROXY_READ_SLICE ? v.iov_len : PROXY_READ_SLICE;

        c->in_parser = true;
        err = llhttp_execute(&c->parser, v.iov_base, n);
        c->in_parser = false;
        consumed = err == HPE_OK ? n : (size_t)(llhttp_get_error_pos(&c->parser) - (const char *)v.iov_base);
        evbuffer_drain(in, consumed);

        if (err == HPE_PAUSED) {
            llhttp_resume(&c->parser);
        } else if (err != HPE_OK) {
            reject_malformed(c, err);
        }
        if (c->req != NULL && c->req->response_done) {
            advance(c);
            return;
        }
    }
}

static void on_linger_read(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    c->linger_dropped += evbuffer_get_length(in);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (c->linger_dropped > PROXY_LINGER_MAX_BYTES || time(NULL) >= c->linger_until) {
        conn_free(c);
    }
}

static void on_linger_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_free(arg);
}

/*
 * Closing a socket with unread bytes makes the kernel send a reset, and a
 * client still sending its body then often loses the response too. So after
 * an error response to a request whose body was not read, s3seal ends its
 * own side and reads and drops the rest for a bounded time, like the
 * lingering close of other HTTP servers. TLS connections close at once,
 * because a TCP half-close under TLS would cut the TLS stream.
 */
static bool start_linger(struct proxy_conn *c)
{
    struct timeval idle = {PROXY_LINGER_IDLE_S, 0};
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    if (!c->linger || c->worker->tls != NULL || fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        return false;
    }
    c->linger = false;
    c->linger_until = time(NULL) + PROXY_LINGER_MAX_S;
    bufferevent_setcb(c->bev, on_linger_read, NULL, on_linger_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    /* a full input buffer would keep reading suspended, and with it the idle timeout */
    c->linger_dropped = evbuffer_get_length(bufferevent_get_input(c->bev));
    evbuffer_drain(bufferevent_get_input(c->bev), c->linger_dropped);
    bufferevent_set_timeouts(c->bev, &idle, NULL);
    bufferevent_enable(c->bev, EV_READ);
    return true;
}

static void on_flushed_close(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;

    (void)bev;
    if (evbuffer_get_length(proxy_conn_output(c)) == 0 && !start_linger(c)) {
        conn_free(c);
    }
}

/* Moves the connection to its next state at a point where freeing is safe. */
static void advance(struct proxy_conn *c)
{
    struct proxy_request *req = c->req;

    if (c->dead) {
        proxy_conn_maybe_free(c);
        return;
    }
    if (req != NULL && req->response_done) {
        /* a draining worker closes each connection after its response */
        if ((req->has_body && !req->body_done) || c->worker->draining) {
            req->keep_alive = false;
            c->linger = true;
        }
        c->state = req->keep_alive ? PROXY_CONN_READING_HEAD : PROXY_CONN_CLOSING;
        c->req = NULL;
        request_free(req);
        if (c->state == PROXY_CONN_READING_HEAD) {
            llhttp_init(&c->parser, HTTP_REQUEST, &c->settings);
            c->parser.data = c;
            proxy_life_wait_request(c);
        }
    }
    if (c->state == PROXY_CONN_CLOSING && c->client_gone) {
        conn_free(c);
        return;
    }
    if (c->state == PROXY_CONN_CLOSING) {
        bufferevent_disable(c->bev, EV_READ);
        bufferevent_setcb(c->bev, NULL, on_flushed_close, NULL, c);
        bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
        on_flushed_close(c->bev, c);
        return;
    }
    process_input(c);
    if (c->dead) {
        conn_free(c);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;

    if (!c->paused_for_upstream) {
        if (c->worker->tls == NULL) {
            proxy_socket_read_more(bev);
        }
        advance(c);
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;

    (void)bev;
    if (c->req != NULL && c->req->up != NULL && c->req->up->paused_for_client) {
        proxy_upstream_resume_reading(c->req->up);
    }
}

/*
 * Aborts the backend multipart upload of a request whose client left before
 * its response, so that the upload's parts do not stay stored on the backend.
 * The connection stays allocated, without reading or writing, until the abort
 * ends; advance() frees it then. Returns false when there is nothing to abort.
 */
static bool abort_abandoned_upload(struct proxy_conn *c)
{
    struct proxy_request *req = c->req;

    if (c->client_gone || req == NULL || req->backend_upload_id[0] == '\0' || req->step == PROXY_STEP_ABORT ||
        req->response_started) {
        return false;
    }
    c->client_gone = true;
    c->state = PROXY_CONN_WAITING_RESPONSE;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    req->keep_alive = false;
    req->body_mode = PROXY_BODY_DISCARD;

    /* the backend request in flight may be in the middle of its body, so its connection cannot be reused */
    if (req->up != NULL) {
        proxy_upstream_release(req->up, false);
        req->up = NULL;
    }
    if (req->source_up != NULL) {
        proxy_upstream_release(req->source_up, false);
    }
    core_log(CORE_LOG_WARN, "proxy", "client left during an upload; aborting backend upload %s r=%s peer=%s",
             req->backend_upload_id, req->id, c->peer);
    return proxy_upload_abort_instead(req);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct proxy_conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        /* the TLS handshake finished */
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && proxy_life_on_read_timeout(c)) {
        return;
    }
    if (c->req != NULL) {
        core_log(CORE_LOG_WARN, "proxy", "client connection %s while serving a request r=%s peer=%s",
                 (what & BEV_EVENT_TIMEOUT) ? "timed out" : (what & BEV_EVENT_EOF) ? "closed" : "failed",
                 c->req->id, c->peer);
        if (abort_abandoned_upload(c)) {
            return;
        }
    }
    conn_free(c);
}

static void format_peer(const struct sockaddr *addr, char *out, size_t cap)
{
    char host[48] = "?";
    int port = 0;

    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;

        evutil_inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
        port = ntohs(in4->sin_port);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

        evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

/* Wraps an accepted socket, in TLS when the listener has a certificate; closes fd on failure. */
static struct bufferevent *new_client_bufferevent(struct proxy_worker *w, evutil_socket_t fd)
{
    struct bufferevent *bev;
    SSL *ssl;

    if (w->tls == NULL) {
        bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL) {
            evutil_closesocket(fd);
        }
        return bev;
    }
    ssl = SSL_new(w->tls);
    if (ssl == NULL) {
        evutil_closesocket(fd);
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        return NULL;
    }
    /* many clients close without a TLS close_notify; that is an ordinary end of a connection */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void proxy_conn_accept(struct proxy_worker *w, evutil_socket_t fd, const struct sockaddr *addr, int addr_len)
{
    struct proxy_conn *c;
    struct timeval read_timeout = {w->cfg->body_timeout_s, 0};
    struct timeval write_timeout = {w->cfg->client_timeout_s, 0};
    int one = 1;

    (void)addr_len;
    if (!proxy_life_accept_allowed(w)) {
        char peer[64];

        format_peer(addr, peer, sizeof(peer));
        core_log(CORE_LOG_WARN, "proxy", "refusing a connection: worker %d holds %zu connections peer=%s",
                 w->index, w->conn_count, peer);
        evutil_closesocket(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->worker = w;
    format_peer(addr, c->peer, sizeof(c->peer));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->bev = new_client_bufferevent(w, fd);
    if (c->bev == NULL) {
        core_log(CORE_LOG_ERROR, "proxy", "cannot set up a connection from %s", c->peer);
        free(c);
        return;
    }

    llhttp_settings_init(&c->settings);
    c->settings.on_message_begin = on_message_begin;
    c->settings.on_url = on_url;
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_value = on_header_value;
    c->settings.on_headers_complete = on_headers_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    llhttp_init(&c->parser, HTTP_REQUEST, &c->settings);
    c->parser.data = c;

    proxy_bufferevent_tune(c->bev);
    proxy_obs_conn_open(c);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, PROXY_HIGH_WATER);
    bufferevent_setwatermark(c->bev, EV_WRITE, PROXY_LOW_WATER, 0);
    bufferevent_set_timeouts(c->bev, &read_timeout, &write_timeout);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    proxy_life_conn_added(c);
    proxy_life_wait_request(c);
}
