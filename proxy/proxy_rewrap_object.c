/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rewrap of one object: a HEAD on the backend, a check of its envelope
 * and a wrap of its data key under the target key. The new envelope is
 * written with a server-side copy of the object onto itself, conditioned
 * on the ETag that the HEAD returned, so the backend copies the stored
 * body byte for byte.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "crypto/crypto_envelope.h"
#include "kms/kms_ssec.h"
#include "proxy/proxy.h"
#include "proxy/proxy_rewrap.h"
#include "proxy/proxy_rewrap_impl.h"
#include "s3/s3_multipart.h"
#include "s3/s3_op.h"
#include "s3/s3_uri.h"

#define META_PREFIX "x-amz-meta-"
#define COPY_HEADERS_MAX 120

/* Headers of a copy request; the views borrow from the HEAD response and from the new envelope. */
struct header_set {
    struct s3_header items[COPY_HEADERS_MAX];
    size_t count;
};

/* State of the rewrap of one object. */
struct object_work {
    struct rewrap_run *run;
    const char *key;
    struct proxy_backend_response head; /* owned */
    const char *etag;                   /* borrowed from head */
    uint64_t stored_size;
    char copy_source[3 * (S3_KEY_MAX + 256) + 4];
    struct crypto_envelope_headers envelope;
    struct header_set metadata; /* metadata and content headers of the rewritten object */
    struct rewrap_result *result;
};

static void fail(struct object_work *w, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct object_work *w, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    vsnprintf(w->result->reason, sizeof(w->result->reason), format, ap);
    va_end(ap);
    w->result->outcome = REWRAP_OUTCOME_FAILED;
}

static bool add_header(struct header_set *set, const char *name, const char *value)
{
    if (set->count == COPY_HEADERS_MAX) {
        return false;
    }
    set->items[set->count++] = (struct s3_header){name, strlen(name), value, strlen(value)};
    return true;
}

/* Describes a failed backend response by its status and S3 error code, where the body has one. */
static void describe_status(const struct proxy_backend_response *resp, char *out, size_t cap)
{
    char code[64] = "";

    if (resp->body != NULL && s3_multipart_parse_error_code(resp->body, resp->body_len, code, sizeof(code)) == CORE_OK) {
        snprintf(out, cap, "status %ld %s", resp->status, code);
    } else {
        snprintf(out, cap, "status %ld", resp->status);
    }
}

/* ---- reading the object ---- */

static const char *lookup_meta(void *arg, const char *name)
{
    const struct proxy_backend_response *head = arg;
    char header[128];

    snprintf(header, sizeof(header), META_PREFIX "%s", name);
    return proxy_backend_header(head, header);
}

/* Sends the HEAD; returns false when the object is gone or the HEAD failed (result->outcome records which). */
static bool read_head(struct object_work *w)
{
    const struct proxy_backend_request req = {
        .method = "HEAD",
        .bucket = w->run->bucket,
        .key = w->key,
        .timeout_s = w->run->cfg->backend_timeout_s,
    };
    const char *length;
    char status[96];
    char *end = NULL;

    if (proxy_backend_send(w->run->backend, &req, &w->head) != CORE_OK) {
        fail(w, "HEAD failed: %s", w->head.error);
        return false;
    }
    if (w->head.status == 404) {
        w->result->outcome = REWRAP_OUTCOME_GONE;
        return false;
    }
    if (w->head.status != 200) {
        describe_status(&w->head, status, sizeof(status));
        fail(w, "HEAD returned %s", status);
        return false;
    }
    w->etag = proxy_backend_header(&w->head, "etag");
    length = proxy_backend_header(&w->head, "content-length");
    if (w->etag == NULL || length == NULL) {
        fail(w, "the backend's HEAD response lacks %s", w->etag == NULL ? "an ETag" : "a Content-Length");
        return false;
    }
    w->stored_size = strtoull(length, &end, 10);
    if (end == length || *end != '\0') {
        fail(w, "the backend's HEAD response has an invalid Content-Length");
        return false;
    }
    w->result->stored_size = w->stored_size;
    return true;
}

/* ---- the new envelope ---- */

/*
 * Unwraps the data key under the old envelope, checks the envelope, wraps
 * the key under the target and seals the new envelope. The envelope MAC is
 * keyed with a key derived from the data key, so the data key must be in
 * memory here whatever the provider can do inside the KMS: kms_rewrap would
 * save no unwrap, and is not used.
 */
static enum core_err seal_new_envelope(struct object_work *w, const struct crypto_envelope *env)
{
    const char *bucket = w->run->bucket;
    size_t context_cap = crypto_wrap_context_len(strlen(bucket), strlen(w->key));
    uint8_t *context = context_cap > 0 ? malloc(context_cap) : NULL;
    size_t context_len = 0;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t wrapped[KMS_WRAPPED_MAX];
    size_t wrapped_len = 0;
    char kms_id[KMS_KEY_ID_MAX];
    enum core_err err;

    if (context == NULL) {
        fail(w, "out of memory");
        return CORE_NOMEM;
    }
    err = crypto_wrap_context(bucket, strlen(bucket), w->key, strlen(w->key), context, context_cap, &context_len);
    if (err == CORE_OK) {
        err = kms_unwrap(w->run->kms, env->kms, env->wrapped, env->wrapped_len, context, context_len, dek);
        if (err != CORE_OK) {
            fail(w, "cannot unwrap the data key under %s: %s", env->kms,
                 err == CORE_CRYPTO ? "the wrapped key does not verify for this bucket and key"
                                    : core_err_str(err));
        }
    }
    if (err == CORE_OK) {
        err = crypto_envelope_verify(env, dek, bucket, strlen(bucket), w->key, strlen(w->key));
        if (err != CORE_OK) {
            fail(w, "the envelope fails verification (commitment or MAC); the object was changed on the backend");
        }
    }
    if (err == CORE_OK) {
        err = kms_wrap_with(w->run->kms, w->run->key_ref, dek, context, context_len, wrapped, sizeof(wrapped),
                            &wrapped_len, kms_id, sizeof(kms_id));
        if (err != CORE_OK) {
            fail(w, "cannot wrap the data key under %s: %s", w->run->target, core_err_str(err));
        }
    }
    if (err == CORE_OK) {
        err = env->multipart
                  ? crypto_envelope_seal_multipart(dek, kms_id, wrapped, wrapped_len, bucket, strlen(bucket), w->key,
                                                   strlen(w->key), &w->envelope)
                  : crypto_envelope_seal(dek, kms_id, wrapped, wrapped_len, env->plain_len, bucket, strlen(bucket),
                                         w->key, strlen(w->key), &w->envelope);
        if (err != CORE_OK) {
            fail(w, "cannot seal the new envelope: %s", core_err_str(err));
        }
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    free(context);
    return err;
}

static bool is_kept_header(const char *name)
{
    static const char *const kept[] = {
        "content-type",       "cache-control",   "content-disposition",
        "content-encoding",   "content-language", "expires",
        "x-amz-storage-class", "x-amz-website-redirect-location", "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
    };

    if (strncmp(name, META_PREFIX, strlen(META_PREFIX)) == 0) {
        return strncmp(name + strlen(META_PREFIX), CRYPTO_META_PREFIX, strlen(CRYPTO_META_PREFIX)) != 0;
    }
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        if (strcmp(name, kept[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Collects the headers that the rewritten object must keep: its user
 * metadata other than the envelope, its content headers and storage class,
 * plus the new envelope. A copy with REPLACE keeps only what it is sent.
 */
static bool collect_metadata(struct object_work *w)
{
    const struct crypto_envelope_headers *e = &w->envelope;
    struct header_set *set = &w->metadata;
    bool ok = true;

    for (size_t i = 0; ok && i < w->head.header_count; i++) {
        if (is_kept_header(w->head.headers[i].name)) {
            ok = add_header(set, w->head.headers[i].name, w->head.headers[i].value);
        }
    }
    ok = ok && add_header(set, META_PREFIX CRYPTO_META_VERSION, e->version) &&
         add_header(set, META_PREFIX CRYPTO_META_KMS, e->kms) && add_header(set, META_PREFIX CRYPTO_META_DEK, e->dek) &&
         add_header(set, META_PREFIX CRYPTO_META_COMMITMENT, e->commitment) &&
         add_header(set, META_PREFIX CRYPTO_META_MAC, e->mac);
    /* exactly one of the two, because a parser rejects an envelope that has both */
    if (ok && e->multipart[0] != '\0') {
        ok = add_header(set, META_PREFIX CRYPTO_META_MULTIPART, e->multipart);
    } else if (ok) {
        ok = add_header(set, META_PREFIX CRYPTO_META_LENGTH, e->length);
    }
    if (!ok) {
        fail(w, "the object has more than %d metadata headers", COPY_HEADERS_MAX - 8);
    }
    return ok;
}

static bool format_copy_source(struct object_work *w)
{
    char key[3 * S3_KEY_MAX + 1];
    char bucket[3 * 256 + 1];
    size_t key_len = 0;
    size_t bucket_len = 0;

    if (s3_uri_encode(w->run->bucket, strlen(w->run->bucket), false, bucket, sizeof(bucket), &bucket_len) !=
            CORE_OK ||
        s3_uri_encode(w->key, strlen(w->key), true, key, sizeof(key), &key_len) != CORE_OK) {
        fail(w, "the bucket or key is too long for x-amz-copy-source");
        return false;
    }
    snprintf(w->copy_source, sizeof(w->copy_source), "/%.*s/%.*s", (int)bucket_len, bucket, (int)key_len, key);
    return true;
}

/* ---- writing it back ---- */

/* Sends req and checks for status 200; 412 means the object changed after the HEAD. */
static bool send_expect_ok(struct object_work *w, const struct proxy_backend_request *req,
                           struct proxy_backend_response *resp, const char *what)
{
    char status[96];

    if (proxy_backend_send(w->run->backend, req, resp) != CORE_OK) {
        fail(w, "%s failed: %s", what, resp->error);
        return false;
    }
    if (resp->status == 412) {
        fail(w, "the object changed after it was read (its ETag no longer matches), so it was left as it is; "
                "run the command again to rewrap the new version");
        return false;
    }
    if (resp->status != 200) {
        describe_status(resp, status, sizeof(status));
        fail(w, "%s returned %s", what, status);
        return false;
    }
    return true;
}

/* Copies the object onto itself with one CopyObject; writes the new ETag to etag. */
static bool copy_object(struct object_work *w, char *etag, size_t etag_cap)
{
    struct header_set set = w->metadata;
    struct proxy_backend_response resp;
    bool ok = add_header(&set, "x-amz-copy-source", w->copy_source) &&
              add_header(&set, "x-amz-copy-source-if-match", w->etag) &&
              add_header(&set, "x-amz-metadata-directive", "REPLACE");
    struct proxy_backend_request req = {
        .method = "PUT",
        .bucket = w->run->bucket,
        .key = w->key,
        .headers = set.items,
        .header_count = set.count,
    };

    if (!ok) {
        fail(w, "the object has too many metadata headers");
        return false;
    }
    ok = send_expect_ok(w, &req, &resp, "CopyObject");
    /* S3 API, CopyObject: a 200 response can still carry an error, sent once the copy failed */
    if (ok && s3_multipart_parse_copy_object_etag(resp.body, resp.body_len, etag, etag_cap) != CORE_OK) {
        char status[96];

        describe_status(&resp, status, sizeof(status));
        fail(w, "CopyObject returned %s without a CopyObjectResult", status);
        ok = false;
    }
    proxy_backend_response_cleanup(&resp);
    return ok;
}

static void abort_upload(struct object_work *w, const char *query)
{
    struct proxy_backend_response resp;
    const struct proxy_backend_request req = {
        .method = "DELETE",
        .bucket = w->run->bucket,
        .key = w->key,
        .query = query,
        .timeout_s = w->run->cfg->backend_timeout_s,
    };

    if (proxy_backend_send(w->run->backend, &req, &resp) != CORE_OK || resp.status != 204) {
        core_log(CORE_LOG_WARN, "rewrap", "cannot abort backend upload of %s (status %ld); a lifecycle rule removes it",
                 w->key, resp.status);
    }
    proxy_backend_response_cleanup(&resp);
}

static bool start_upload(struct object_work *w, char *upload_query, size_t cap)
{
    struct proxy_backend_response resp;
    char upload_id[1024];
    char encoded[3 * sizeof(upload_id)];
    size_t encoded_len = 0;
    const struct proxy_backend_request req = {
        .method = "POST",
        .bucket = w->run->bucket,
        .key = w->key,
        .query = "uploads",
        .headers = w->metadata.items,
        .header_count = w->metadata.count,
        .timeout_s = w->run->cfg->backend_timeout_s,
    };
    bool ok = send_expect_ok(w, &req, &resp, "CreateMultipartUpload");

    if (ok && (s3_multipart_parse_initiate(resp.body, resp.body_len, upload_id, sizeof(upload_id)) != CORE_OK ||
               s3_uri_encode(upload_id, strlen(upload_id), false, encoded, sizeof(encoded), &encoded_len) != CORE_OK)) {
        fail(w, "CreateMultipartUpload returned no valid UploadId");
        ok = false;
    }
    if (ok) {
        snprintf(upload_query, cap, "uploadId=%.*s", (int)encoded_len, encoded);
    }
    proxy_backend_response_cleanup(&resp);
    return ok;
}

/* Copies stored bytes [first, last] into part number, conditioned on source_etag. */
static bool copy_part(struct object_work *w, const char *upload_query, uint32_t number, const char *source_etag,
                      uint64_t first, uint64_t last, bool ranged, char *etag, size_t etag_cap)
{
    struct header_set set = {.count = 0};
    struct proxy_backend_response resp;
    char query[1200];
    char range[64];
    bool ok;

    snprintf(query, sizeof(query), "partNumber=%" PRIu32 "&%s", number, upload_query);
    snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, first, last);
    add_header(&set, "x-amz-copy-source", w->copy_source);
    add_header(&set, "x-amz-copy-source-if-match", source_etag);
    if (ranged) {
        add_header(&set, "x-amz-copy-source-range", range);
    }
    const struct proxy_backend_request req = {
        .method = "PUT",
        .bucket = w->run->bucket,
        .key = w->key,
        .query = query,
        .headers = set.items,
        .header_count = set.count,
    };
    ok = send_expect_ok(w, &req, &resp, "UploadPartCopy");
    if (ok && s3_multipart_parse_copy_part_etag(resp.body, resp.body_len, etag, etag_cap) != CORE_OK) {
        fail(w, "UploadPartCopy of part %" PRIu32 " returned no CopyPartResult", number);
        ok = false;
    }
    proxy_backend_response_cleanup(&resp);
    return ok;
}

/* Checks with a HEAD that the object still has source_etag, right before the upload replaces it. */
static bool still_unchanged(struct object_work *w, const char *source_etag)
{
    struct proxy_backend_response resp;
    const struct proxy_backend_request req = {
        .method = "HEAD",
        .bucket = w->run->bucket,
        .key = w->key,
        .timeout_s = w->run->cfg->backend_timeout_s,
    };
    const char *etag;
    bool same;

    if (proxy_backend_send(w->run->backend, &req, &resp) != CORE_OK) {
        fail(w, "HEAD before CompleteMultipartUpload failed: %s", resp.error);
        proxy_backend_response_cleanup(&resp);
        return false;
    }
    etag = proxy_backend_header(&resp, "etag");
    same = resp.status == 200 && etag != NULL && strcmp(etag, source_etag) == 0;
    if (!same) {
        fail(w, "the object changed while its parts were copied, so it was left as it is; run the command again");
    }
    proxy_backend_response_cleanup(&resp);
    return same;
}

static bool complete_upload(struct object_work *w, const char *upload_query, uint32_t count,
                            const char (*part_etags)[80])
{
    uint32_t *numbers = calloc(count, sizeof(*numbers));
    const char **etags = calloc(count, sizeof(*etags));
    struct proxy_backend_response resp = {0};
    char *xml = NULL;
    size_t xml_len = 0;
    char code[64];
    bool ok = numbers != NULL && etags != NULL;

    for (uint32_t i = 0; ok && i < count; i++) {
        numbers[i] = i + 1;
        etags[i] = part_etags[i];
    }
    ok = ok && s3_multipart_build_complete(numbers, etags, count, &xml, &xml_len) == CORE_OK;
    if (!ok) {
        fail(w, "cannot build the CompleteMultipartUpload body");
    } else {
        const struct proxy_backend_request req = {
            .method = "POST",
            .bucket = w->run->bucket,
            .key = w->key,
            .query = upload_query,
            .headers = NULL,
            .body = xml,
            .body_len = xml_len,
        };
        ok = send_expect_ok(w, &req, &resp, "CompleteMultipartUpload");
        /* S3 API, CompleteMultipartUpload: a 200 response can carry an Error body */
        if (ok && s3_multipart_parse_error_code(resp.body, resp.body_len, code, sizeof(code)) == CORE_OK) {
            fail(w, "CompleteMultipartUpload returned %s", code);
            ok = false;
        }
    }
    proxy_backend_response_cleanup(&resp);
    free(xml);
    free(etags);
    free(numbers);
    return ok;
}

/*
 * Copies the object onto itself the way the proxy's own CopyObject does:
 * a new upload with the new metadata, UploadPartCopy of parts of at most
 * PROXY_COPY_PART_MAX bytes, each conditioned on source_etag, then Complete.
 * The result has a multipart ETag, and part sizes that are multiples of
 * the chunk size keep the ranged-read arithmetic of docs/FORMAT.md.
 */
static bool copy_multipart(struct object_work *w, const char *source_etag)
{
    uint32_t count = w->stored_size <= PROXY_COPY_PART_MAX
                         ? 1
                         : (uint32_t)((w->stored_size + PROXY_COPY_PART_MAX - 1) / PROXY_COPY_PART_MAX);
    char (*part_etags)[80] = calloc(count, sizeof(*part_etags));
    char upload_query[1100];
    bool ok;

    if (part_etags == NULL) {
        fail(w, "out of memory");
        return false;
    }
    ok = start_upload(w, upload_query, sizeof(upload_query));
    if (!ok) {
        free(part_etags);
        return false;
    }
    for (uint32_t i = 0; ok && i < count; i++) {
        uint64_t first = (uint64_t)i * PROXY_COPY_PART_MAX;
        uint64_t last = first + PROXY_COPY_PART_MAX - 1 < w->stored_size ? first + PROXY_COPY_PART_MAX - 1
                                                                          : w->stored_size - 1;

        /* one part without a range copies the whole object, which works for an empty one too */
        ok = copy_part(w, upload_query, i + 1, source_etag, first, last, count > 1, part_etags[i],
                       sizeof(part_etags[i]));
    }

    /*
     * NOTE: a write that lands between this HEAD and Complete is replaced by
     * the rewrapped old version, because S3 backends such as Ceph RGW 16.2
     * take no condition on CompleteMultipartUpload. The window is one
     * request long. CopyObject, the default, has no such window.
     */
    ok = ok && still_unchanged(w, source_etag) && complete_upload(w, upload_query, count, part_etags);
    if (!ok) {
        abort_upload(w, upload_query);
    }
    free(part_etags);
    return ok;
}

/*
 * Writes the new envelope. CopyObject keeps the multipart ETag form on Ceph
 * RGW, but backends such as AWS S3 give the copy a single-part ETag, which
 * clients may compare with an MD5 of the plaintext they read. On such a
 * backend the object is copied again with the multipart copy, and the rest
 * of the run uses that directly.
 */
static bool write_envelope(struct object_work *w)
{
    char etag[80];

    if (w->run->multipart_copy || w->stored_size > PROXY_REWRAP_COPY_OBJECT_MAX) {
        return copy_multipart(w, w->etag);
    }
    if (!copy_object(w, etag, sizeof(etag))) {
        return false;
    }
    if (proxy_rewrap_etag_is_multipart(etag) || !proxy_rewrap_etag_is_multipart(w->etag)) {
        return true;
    }
    core_log(CORE_LOG_NOTICE, "rewrap",
             "the backend gave the copy of %s a single-part ETag; copying it again as a multipart upload, "
             "as for all further objects",
             w->key);
    w->run->multipart_copy = true;
    return copy_multipart(w, etag);
}

/* ---- one object ---- */

static void rewrap_read_object(struct object_work *w)
{
    struct crypto_envelope env;

    if (!read_head(w)) {
        return;
    }
    if (!crypto_envelope_is_present(lookup_meta, &w->head)) {
        w->result->outcome = REWRAP_OUTCOME_PLAINTEXT;
        return;
    }
    if (crypto_envelope_parse(lookup_meta, &w->head, &env) != CORE_OK) {
        fail(w, "the envelope in the metadata is malformed; 's3seal inspect' shows which field");
        return;
    }
    snprintf(w->result->old_kms, sizeof(w->result->old_kms), "%s", env.kms);
    if (strcmp(env.kms, w->run->target) == 0) {
        w->result->outcome = REWRAP_OUTCOME_CURRENT;
    } else if (kms_ssec_is_id(env.kms)) {
        w->result->outcome = REWRAP_OUTCOME_CUSTOMER_KEY;
    } else if (w->run->dry_run) {
        w->result->outcome = REWRAP_OUTCOME_REWRAPPED;
    } else if (seal_new_envelope(w, &env) == CORE_OK && collect_metadata(w) && format_copy_source(w) &&
               write_envelope(w)) {
        w->result->outcome = REWRAP_OUTCOME_REWRAPPED;
    }
    OPENSSL_cleanse(&env, sizeof(env));
}

void proxy_rewrap_object(struct rewrap_run *run, const char *key, struct rewrap_result *result)
{
    struct object_work *w = calloc(1, sizeof(*w));

    memset(result, 0, sizeof(*result));
    if (w == NULL) {
        result->outcome = REWRAP_OUTCOME_FAILED;
        snprintf(result->reason, sizeof(result->reason), "out of memory");
        return;
    }
    w->run = run;
    w->key = key;
    w->result = result;
    rewrap_read_object(w);
    OPENSSL_cleanse(&w->envelope, sizeof(w->envelope));
    proxy_backend_response_cleanup(&w->head);
    free(w);
}
