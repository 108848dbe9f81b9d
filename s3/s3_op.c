/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maps a path-style or virtual-hosted-style S3 request to its operation,
 * following the request syntax of each operation in the Amazon S3 API
 * Reference.
 */
#include "s3/s3_op.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3/s3_uri.h"

/* query parameter names that select an operation */
enum {
    Q_UPLOADS = 1u << 0,
    Q_UPLOAD_ID = 1u << 1,
    Q_PART_NUMBER = 1u << 2,
    Q_VERSIONS = 1u << 3,
    Q_DELETE = 1u << 4,
    Q_ATTRIBUTES = 1u << 5,
    Q_SELECT = 1u << 6,
    Q_SELECT_TYPE = 1u << 7,
    Q_RESTORE = 1u << 8,
    Q_LIST_TYPE = 1u << 9,
    Q_VERSION_ID = 1u << 10,
    Q_X_ID = 1u << 11,      /* operation name some SDKs append; carries no meaning */
    Q_PRESIGNED = 1u << 12, /* X-Amz-* of a presigned URL */
    Q_OBJECT_SUB = 1u << 13,
    Q_BUCKET_SUB = 1u << 14,
    Q_OTHER = 1u << 15, /* any name not listed here */
};

/* names that are harmless on any object write */
#define Q_NEUTRAL (Q_VERSION_ID | Q_X_ID | Q_PRESIGNED)

struct query_info {
    unsigned flags;
    bool list_type_2;
    bool select_type_2;
};

struct param_name {
    const char *name;
    unsigned flag;
};

static const struct param_name param_names[] = {
    {"uploads", Q_UPLOADS},
    {"uploadId", Q_UPLOAD_ID},
    {"partNumber", Q_PART_NUMBER},
    {"versions", Q_VERSIONS},
    {"delete", Q_DELETE},
    {"attributes", Q_ATTRIBUTES},
    {"select", Q_SELECT},
    {"select-type", Q_SELECT_TYPE},
    {"restore", Q_RESTORE},
    {"list-type", Q_LIST_TYPE},
    {"versionId", Q_VERSION_ID},
    {"x-id", Q_X_ID},
    {"tagging", Q_OBJECT_SUB},
    {"acl", Q_OBJECT_SUB},
    {"retention", Q_OBJECT_SUB},
    {"legal-hold", Q_OBJECT_SUB},
    {"torrent", Q_OBJECT_SUB},
    {"accelerate", Q_BUCKET_SUB},
    {"analytics", Q_BUCKET_SUB},
    {"cors", Q_BUCKET_SUB},
    {"encryption", Q_BUCKET_SUB},
    {"intelligent-tiering", Q_BUCKET_SUB},
    {"inventory", Q_BUCKET_SUB},
    {"lifecycle", Q_BUCKET_SUB},
    {"location", Q_BUCKET_SUB},
    {"logging", Q_BUCKET_SUB},
    {"metrics", Q_BUCKET_SUB},
    {"notification", Q_BUCKET_SUB},
    {"object-lock", Q_BUCKET_SUB},
    {"ownershipControls", Q_BUCKET_SUB},
    {"policy", Q_BUCKET_SUB},
    {"policyStatus", Q_BUCKET_SUB},
    {"publicAccessBlock", Q_BUCKET_SUB},
    {"replication", Q_BUCKET_SUB},
    {"requestPayment", Q_BUCKET_SUB},
    {"versioning", Q_BUCKET_SUB},
    {"website", Q_BUCKET_SUB},
};

static const char *const op_names[S3_OP_COUNT] = {
    [S3_OP_UNKNOWN] = "Unknown",
    [S3_OP_LIST_BUCKETS] = "ListBuckets",
    [S3_OP_CREATE_BUCKET] = "CreateBucket",
    [S3_OP_DELETE_BUCKET] = "DeleteBucket",
    [S3_OP_HEAD_BUCKET] = "HeadBucket",
    [S3_OP_LIST_OBJECTS] = "ListObjects",
    [S3_OP_LIST_OBJECTS_V2] = "ListObjectsV2",
    [S3_OP_LIST_OBJECT_VERSIONS] = "ListObjectVersions",
    [S3_OP_BUCKET_SUBRESOURCE] = "BucketSubresource",
    [S3_OP_DELETE_OBJECTS] = "DeleteObjects",
    [S3_OP_PUT_OBJECT] = "PutObject",
    [S3_OP_COPY_OBJECT] = "CopyObject",
    [S3_OP_GET_OBJECT] = "GetObject",
    [S3_OP_HEAD_OBJECT] = "HeadObject",
    [S3_OP_DELETE_OBJECT] = "DeleteObject",
    [S3_OP_OBJECT_SUBRESOURCE] = "ObjectSubresource",
    [S3_OP_CREATE_MULTIPART_UPLOAD] = "CreateMultipartUpload",
    [S3_OP_UPLOAD_PART] = "UploadPart",
    [S3_OP_UPLOAD_PART_COPY] = "UploadPartCopy",
    [S3_OP_COMPLETE_MULTIPART_UPLOAD] = "CompleteMultipartUpload",
    [S3_OP_ABORT_MULTIPART_UPLOAD] = "AbortMultipartUpload",
    [S3_OP_LIST_PARTS] = "ListParts",
    [S3_OP_LIST_MULTIPART_UPLOADS] = "ListMultipartUploads",
    [S3_OP_POST_OBJECT] = "PostObject",
    [S3_OP_SELECT_OBJECT_CONTENT] = "SelectObjectContent",
    [S3_OP_RESTORE_OBJECT] = "RestoreObject",
    [S3_OP_GET_OBJECT_ATTRIBUTES] = "GetObjectAttributes",
};

static unsigned lookup_param(const char *name, size_t len)
{
    if (len > 6 && memcmp(name, "X-Amz-", 6) == 0) {
        return Q_PRESIGNED;
    }
    for (size_t i = 0; i < sizeof(param_names) / sizeof(param_names[0]); i++) {
        if (strlen(param_names[i].name) == len && memcmp(param_names[i].name, name, len) == 0) {
            return param_names[i].flag;
        }
    }
    return Q_OTHER;
}

/* Returns true if raw decodes to exactly "2"; invalid escapes count as false. */
static bool value_is_2(const char *raw, size_t len)
{
    char value[4];
    size_t value_len;

    if (s3_uri_decode(raw, len, value, sizeof(value), &value_len) != CORE_OK) {
        return false;
    }
    return value_len == 1 && value[0] == '2';
}

static enum core_err scan_param(const char *piece, size_t len, struct query_info *info)
{
    const char *eq = memchr(piece, '=', len);
    size_t raw_name_len = eq ? (size_t)(eq - piece) : len;
    const char *raw_value = eq ? eq + 1 : piece + len;
    size_t raw_value_len = eq ? len - raw_name_len - 1 : 0;
    char name[64];
    size_t name_len;
    enum core_err err;
    unsigned flag;

    err = s3_uri_decode(piece, raw_name_len, name, sizeof(name), &name_len);
    if (err == CORE_TOO_LARGE) {
        /* longer than every name we know */
        info->flags |= Q_OTHER;
        return CORE_OK;
    }
    CORE_TRY(err);

    flag = lookup_param(name, name_len);
    info->flags |= flag;
    if (flag == Q_LIST_TYPE) {
        info->list_type_2 = value_is_2(raw_value, raw_value_len);
    } else if (flag == Q_SELECT_TYPE) {
        info->select_type_2 = value_is_2(raw_value, raw_value_len);
    }
    return CORE_OK;
}

static enum core_err scan_query(const char *q, size_t len, struct query_info *info)
{
    size_t start = 0;

    memset(info, 0, sizeof(*info));
    for (size_t i = 0; i <= len; i++) {
        if (i < len && q[i] != '&') {
            continue;
        }
        if (i > start) {
            CORE_TRY(scan_param(q + start, i - start, info));
        }
        start = i + 1;
    }
    return CORE_OK;
}

static bool method_is(const struct s3_request *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

static enum s3_op classify_service(const struct s3_request *req)
{
    return method_is(req, "GET") ? S3_OP_LIST_BUCKETS : S3_OP_UNKNOWN;
}

static enum s3_op classify_bucket_get(const struct query_info *q)
{
    if (q->flags & Q_VERSIONS) {
        return S3_OP_LIST_OBJECT_VERSIONS;
    }
    if (q->flags & Q_UPLOADS) {
        return S3_OP_LIST_MULTIPART_UPLOADS;
    }
    if (q->flags & (Q_BUCKET_SUB | Q_OBJECT_SUB)) {
        return S3_OP_BUCKET_SUBRESOURCE;
    }
    return q->list_type_2 ? S3_OP_LIST_OBJECTS_V2 : S3_OP_LIST_OBJECTS;
}

static enum s3_op classify_bucket(const struct s3_request *req, const struct query_info *q)
{
    bool subresource = (q->flags & (Q_BUCKET_SUB | Q_OBJECT_SUB)) != 0;

    if (method_is(req, "GET")) {
        return classify_bucket_get(q);
    }
    if (method_is(req, "HEAD")) {
        return S3_OP_HEAD_BUCKET;
    }
    if (method_is(req, "PUT")) {
        /* every bucket PUT body is configuration, so unknown names are safe to forward */
        return subresource || (q->flags & Q_OTHER) ? S3_OP_BUCKET_SUBRESOURCE : S3_OP_CREATE_BUCKET;
    }
    if (method_is(req, "DELETE")) {
        return subresource ? S3_OP_BUCKET_SUBRESOURCE : S3_OP_DELETE_BUCKET;
    }
    if (method_is(req, "POST")) {
        unsigned names = q->flags & ~(unsigned)(Q_X_ID | Q_PRESIGNED);

        if (names == Q_DELETE) {
            return S3_OP_DELETE_OBJECTS;
        }
        /* a form upload carries object data, so anything unexpected is rejected */
        return names == 0 ? S3_OP_POST_OBJECT : S3_OP_UNKNOWN;
    }
    return S3_OP_UNKNOWN;
}

static enum s3_op classify_object_put(const struct query_info *q, bool copy)
{
    unsigned part = Q_PART_NUMBER | Q_UPLOAD_ID;

    if (q->flags & ~(unsigned)(part | Q_OBJECT_SUB | Q_NEUTRAL)) {
        return S3_OP_UNKNOWN;
    }
    if ((q->flags & part) == part) {
        return copy ? S3_OP_UPLOAD_PART_COPY : S3_OP_UPLOAD_PART;
    }
    if (q->flags & part) {
        return S3_OP_UNKNOWN;
    }
    if (q->flags & Q_OBJECT_SUB) {
        return S3_OP_OBJECT_SUBRESOURCE;
    }
    return copy ? S3_OP_COPY_OBJECT : S3_OP_PUT_OBJECT;
}

static enum s3_op classify_object_post(const struct query_info *q)
{
    unsigned known = Q_UPLOADS | Q_UPLOAD_ID | Q_SELECT | Q_SELECT_TYPE | Q_RESTORE | Q_NEUTRAL;

    if (q->flags & ~known) {
        return S3_OP_UNKNOWN;
    }
    if (q->flags & Q_UPLOADS) {
        return S3_OP_CREATE_MULTIPART_UPLOAD;
    }
    if (q->flags & Q_UPLOAD_ID) {
        return S3_OP_COMPLETE_MULTIPART_UPLOAD;
    }
    if ((q->flags & Q_SELECT) && q->select_type_2) {
        return S3_OP_SELECT_OBJECT_CONTENT;
    }
    if (q->flags & Q_RESTORE) {
        return S3_OP_RESTORE_OBJECT;
    }
    return S3_OP_UNKNOWN;
}

static enum s3_op classify_object(const struct s3_request *req, const struct query_info *q)
{
    const struct s3_header *copy_source = s3_request_find_header(req, "x-amz-copy-source");

    if (method_is(req, "GET")) {
        if (q->flags & Q_UPLOAD_ID) {
            return S3_OP_LIST_PARTS;
        }
        if (q->flags & Q_ATTRIBUTES) {
            return S3_OP_GET_OBJECT_ATTRIBUTES;
        }
        return q->flags & Q_OBJECT_SUB ? S3_OP_OBJECT_SUBRESOURCE : S3_OP_GET_OBJECT;
    }
    if (method_is(req, "HEAD")) {
        return S3_OP_HEAD_OBJECT;
    }
    if (method_is(req, "DELETE")) {
        if (q->flags & Q_UPLOAD_ID) {
            return S3_OP_ABORT_MULTIPART_UPLOAD;
        }
        return q->flags & Q_OBJECT_SUB ? S3_OP_OBJECT_SUBRESOURCE : S3_OP_DELETE_OBJECT;
    }
    if (method_is(req, "PUT")) {
        return classify_object_put(q, copy_source != NULL && copy_source->value_len > 0);
    }
    if (method_is(req, "POST")) {
        return classify_object_post(q);
    }
    return S3_OP_UNKNOWN;
}

static bool is_bucket_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* Decodes raw into a new string; sets *len to the decoded length. */
static enum core_err decode_dup(const char *raw, size_t raw_len, char **out, size_t *len)
{
    enum core_err err;
    char *s = malloc(raw_len + 1);

    CORE_ENSURE(s != NULL, CORE_NOMEM);
    err = s3_uri_decode(raw, raw_len, s, raw_len + 1, len);
    if (err != CORE_OK) {
        free(s);
        return err;
    }
    *out = s;
    return CORE_OK;
}

static enum core_err fail(struct s3_target *out, enum s3_error_code code)
{
    out->error = code;
    return CORE_CLIENT;
}

static enum core_err parse_bucket(const char *raw, size_t raw_len, struct s3_target *out)
{
    enum core_err err;
    size_t len;

    err = decode_dup(raw, raw_len, &out->bucket, &len);
    if (err == CORE_CLIENT) {
        return fail(out, S3_ERR_INVALID_URI);
    }
    CORE_TRY(err);

    if (len == 0 || len > S3_BUCKET_NAME_MAX) {
        return fail(out, S3_ERR_INVALID_BUCKET_NAME);
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_bucket_char(out->bucket[i])) {
            return fail(out, S3_ERR_INVALID_BUCKET_NAME);
        }
    }
    return CORE_OK;
}

static enum core_err parse_key(const char *raw, size_t raw_len, struct s3_target *out)
{
    enum core_err err = decode_dup(raw, raw_len, &out->key, &out->key_len);

    if (err == CORE_CLIENT) {
        return fail(out, S3_ERR_INVALID_URI);
    }
    CORE_TRY(err);
    if (out->key_len > S3_KEY_MAX) {
        return fail(out, S3_ERR_KEY_TOO_LONG);
    }
    return CORE_OK;
}

/* Splits "/bucket[/key]" and fills bucket and key; "/" leaves both NULL. */
static enum core_err parse_path(const char *path, size_t len, struct s3_target *out)
{
    const char *bucket = path + 1;
    const char *slash;
    size_t bucket_len;
    size_t key_len;

    if (len == 0 || path[0] != '/') {
        return fail(out, S3_ERR_INVALID_URI);
    }
    if (len == 1) {
        return CORE_OK;
    }

    slash = memchr(bucket, '/', len - 1);
    bucket_len = slash ? (size_t)(slash - bucket) : len - 1;
    CORE_TRY(parse_bucket(bucket, bucket_len, out));

    key_len = slash ? len - 2 - bucket_len : 0;
    if (key_len == 0) {
        return CORE_OK;
    }
    return parse_key(slash + 1, key_len, out);
}

/* Picks the operation once bucket and key are known; fills out->has_query. */
static enum core_err classify_resource(const struct s3_request *req, struct s3_target *out)
{
    struct query_info q;
    const char *query;
    size_t query_len;
    enum core_err err;

    out->has_query = s3_request_query(req, &query, &query_len);
    err = scan_query(query, query_len, &q);
    if (err == CORE_CLIENT) {
        return fail(out, S3_ERR_INVALID_URI);
    }
    CORE_TRY(err);

    if (out->bucket == NULL) {
        out->op = classify_service(req);
    } else if (out->key == NULL) {
        out->op = classify_bucket(req, &q);
    } else {
        out->op = classify_object(req, &q);
    }
    return CORE_OK;
}

enum core_err s3_op_classify(const struct s3_request *req, struct s3_target *out)
{
    const char *path;
    size_t path_len;

    memset(out, 0, sizeof(*out));
    out->addressing = S3_ADDRESSING_PATH;
    s3_request_path(req, &path, &path_len);
    CORE_TRY(parse_path(path, path_len, out));
    return classify_resource(req, out);
}

/* Sets *len to the length of host without a ":port" suffix and one trailing dot; false for IP literals. */
static bool host_name_length(const char *host, size_t len, size_t *name_len)
{
    const char *colon;

    if (len == 0 || host[0] == '[') {
        return false;
    }
    colon = memchr(host, ':', len);
    if (colon != NULL) {
        for (const char *c = colon + 1; c < host + len; c++) {
            if (*c < '0' || *c > '9') {
                return false;
            }
        }
        len = (size_t)(colon - host);
    }
    if (len > 0 && host[len - 1] == '.') {
        len--;
    }
    *name_len = len;
    return true;
}

/*
 * Returns the length of the bucket label in front of "." + a base domain,
 * or 0 when host is not below any of them.
 */
static size_t virtual_bucket_length(const char *host, size_t len, const char *const *base_domains,
                                    size_t base_domain_count)
{
    for (size_t i = 0; i < base_domain_count; i++) {
        const char *base = base_domains[i];
        size_t base_len = base ? strlen(base) : 0;

        if (base_len == 0 || len < base_len + 2) {
            continue;
        }
        if (host[len - base_len - 1] == '.' && strncasecmp(host + len - base_len, base, base_len) == 0) {
            return len - base_len - 1;
        }
    }
    return 0;
}

/* Copies the bucket from the Host header, lower-cased because DNS names ignore case. */
static enum core_err parse_host_bucket(const char *host, size_t len, struct s3_target *out)
{
    if (len > S3_BUCKET_NAME_MAX) {
        return fail(out, S3_ERR_INVALID_BUCKET_NAME);
    }
    out->bucket = malloc(len + 1);
    CORE_ENSURE(out->bucket != NULL, CORE_NOMEM);
    for (size_t i = 0; i < len; i++) {
        char c = host[i];

        if (!is_bucket_char(c)) {
            return fail(out, S3_ERR_INVALID_BUCKET_NAME);
        }
        out->bucket[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out->bucket[len] = '\0';
    return CORE_OK;
}

enum core_err s3_op_classify_host(const struct s3_request *req, const char *const *base_domains,
                                  size_t base_domain_count, struct s3_target *out)
{
    const struct s3_header *host = s3_request_find_header(req, "host");
    const char *path;
    size_t path_len;
    size_t host_len;
    size_t bucket_len = 0;

    if (host != NULL && host_name_length(host->value, host->value_len, &host_len)) {
        bucket_len = virtual_bucket_length(host->value, host_len, base_domains, base_domain_count);
    }
    if (bucket_len == 0) {
        return s3_op_classify(req, out);
    }

    memset(out, 0, sizeof(*out));
    out->addressing = S3_ADDRESSING_VIRTUAL_HOST;
    CORE_TRY(parse_host_bucket(host->value, bucket_len, out));

    s3_request_path(req, &path, &path_len);
    if (path_len == 0 || path[0] != '/') {
        return fail(out, S3_ERR_INVALID_URI);
    }
    if (path_len > 1) {
        CORE_TRY(parse_key(path + 1, path_len - 1, out));
    }
    return classify_resource(req, out);
}

void s3_target_cleanup(struct s3_target *t)
{
    if (t == NULL) {
        return;
    }
    free(t->bucket);
    free(t->key);
    memset(t, 0, sizeof(*t));
}

const char *s3_op_name(enum s3_op op)
{
    if ((int)op < 0 || (int)op >= (int)S3_OP_COUNT) {
        return op_names[S3_OP_UNKNOWN];
    }
    return op_names[op];
}
