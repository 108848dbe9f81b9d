/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Classification of an S3 request into an operation, with its bucket and
 * object key, from the method, path, query parameter names and
 * x-amz-copy-source. proxy/ uses the operation to decide what to encrypt,
 * decrypt, rewrite or reject.
 */
#ifndef S3_OP_H
#define S3_OP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core_err.h"
#include "s3/s3_error.h"
#include "s3/s3_request.h"

#define S3_KEY_MAX 1024 /* S3 limit on an object key, in bytes of UTF-8 */
/* generous on purpose: S3 allows 63 bytes, but older regions and other backends allow more */
#define S3_BUCKET_NAME_MAX 255

enum s3_op {
    S3_OP_UNKNOWN = 0, /* not recognised; proxy/ must reject, never forward blindly */
    S3_OP_LIST_BUCKETS,
    S3_OP_CREATE_BUCKET,
    S3_OP_DELETE_BUCKET,
    S3_OP_HEAD_BUCKET,
    S3_OP_LIST_OBJECTS,    /* ListObjects, version 1 */
    S3_OP_LIST_OBJECTS_V2, /* GET bucket with list-type=2 */
    S3_OP_LIST_OBJECT_VERSIONS,
    S3_OP_BUCKET_SUBRESOURCE, /* any other bucket GET/PUT/DELETE with a subresource, e.g. ?versioning */
    S3_OP_DELETE_OBJECTS,     /* POST ?delete */
    S3_OP_PUT_OBJECT,
    S3_OP_COPY_OBJECT, /* PUT with x-amz-copy-source */
    S3_OP_GET_OBJECT,
    S3_OP_HEAD_OBJECT,
    S3_OP_DELETE_OBJECT,
    S3_OP_OBJECT_SUBRESOURCE, /* ?tagging ?acl ?retention ?legal-hold ?torrent on an object */
    S3_OP_CREATE_MULTIPART_UPLOAD,
    S3_OP_UPLOAD_PART,
    S3_OP_UPLOAD_PART_COPY,
    S3_OP_COMPLETE_MULTIPART_UPLOAD,
    S3_OP_ABORT_MULTIPART_UPLOAD,
    S3_OP_LIST_PARTS,
    S3_OP_LIST_MULTIPART_UPLOADS,
    S3_OP_POST_OBJECT, /* browser form upload: POST to a bucket without a subresource */
    S3_OP_SELECT_OBJECT_CONTENT,
    S3_OP_RESTORE_OBJECT,
    S3_OP_GET_OBJECT_ATTRIBUTES,
    S3_OP_COUNT /* number of operations; not an operation */
};

enum s3_addressing {
    S3_ADDRESSING_PATH = 0,     /* bucket is the first path segment */
    S3_ADDRESSING_VIRTUAL_HOST, /* bucket comes from the Host header */
};

struct s3_target {
    enum s3_op op;
    enum s3_addressing addressing;
    char *bucket;             /* owned, malloc'd, decoded; NULL for the service resource "/" */
    char *key;                /* owned, malloc'd, decoded, NUL-terminated; NULL for a bucket resource */
    size_t key_len;           /* bytes in key; a key may contain NUL from %00 */
    bool has_query;           /* the target had a '?' */
    enum s3_error_code error; /* set when classification returns CORE_CLIENT */
};

/*
 * Classifies a path-style request. "/" is the service, "/bkt" and "/bkt/"
 * are the same bucket resource, "/bkt/k..." is an object whose key is the
 * rest of the path decoded once (so "/bkt//a" has key "/a").
 *
 * Query parameters that pick the operation are matched by decoded name.
 * Unknown names are ignored on GET, HEAD and DELETE. On object PUT and POST
 * an unknown name makes the operation S3_OP_UNKNOWN, because forwarding a
 * write that s3seal does not understand could store plaintext.
 *
 * Returns CORE_OK with out filled (op may be S3_OP_UNKNOWN), or CORE_CLIENT
 * with out->error set: InvalidURI for a target that is not origin-form or
 * has an invalid escape, InvalidBucketName, KeyTooLong past S3_KEY_MAX
 * bytes. CORE_NOMEM on allocation failure. out is cleared first, so the
 * caller passes it to s3_target_cleanup after any return.
 */
enum core_err s3_op_classify(const struct s3_request *req, struct s3_target *out) CORE_WARN_UNUSED;

/*
 * Classifies a request that may use virtual-hosted-style addressing. When
 * the Host header, without its port and a trailing dot, ends with "." and
 * one of base_domains (compared ignoring case), the part before it is the
 * bucket, lower-cased, and may itself contain dots
 * ("my.bucket.s3.example.com" with base domain "s3.example.com" is bucket
 * "my.bucket"). The whole path decoded once is then the key: "/" is the
 * bucket resource and "/a/b" is key "a/b". Any other host, an IP literal
 * or a missing Host header falls back to s3_op_classify. Errors and the
 * cleanup rule are those of s3_op_classify; a Host bucket with characters
 * outside letters, digits, '.', '-' and '_' is InvalidBucketName.
 */
enum core_err s3_op_classify_host(const struct s3_request *req, const char *const *base_domains,
                                  size_t base_domain_count, struct s3_target *out) CORE_WARN_UNUSED;

/* Frees bucket and key and resets t; accepts NULL. */
void s3_target_cleanup(struct s3_target *t);

/* Returns the operation name as the S3 API spells it, e.g. "PutObject"; never NULL. */
const char *s3_op_name(enum s3_op op);

#endif
