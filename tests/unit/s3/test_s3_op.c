/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of request classification into S3 operations. */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_op.h"
#include "test_check.h"

struct op_case {
    const char *method;
    const char *target;
    const char *copy_source; /* x-amz-copy-source value or NULL */
    enum s3_op op;
    const char *bucket; /* NULL when none */
    const char *key;    /* NULL when none */
};

static const struct op_case op_cases[] = {
    {"GET", "/", NULL, S3_OP_LIST_BUCKETS, NULL, NULL},
    {"PUT", "/", NULL, S3_OP_UNKNOWN, NULL, NULL},
    {"PUT", "/bkt", NULL, S3_OP_CREATE_BUCKET, "bkt", NULL},
    {"PUT", "/bkt/", NULL, S3_OP_CREATE_BUCKET, "bkt", NULL},
    {"DELETE", "/bkt", NULL, S3_OP_DELETE_BUCKET, "bkt", NULL},
    {"HEAD", "/bkt/", NULL, S3_OP_HEAD_BUCKET, "bkt", NULL},
    {"GET", "/bkt", NULL, S3_OP_LIST_OBJECTS, "bkt", NULL},
    {"GET", "/bkt?prefix=J&max-keys=2", NULL, S3_OP_LIST_OBJECTS, "bkt", NULL},
    {"GET", "/bkt/?list-type=2&prefix=a", NULL, S3_OP_LIST_OBJECTS_V2, "bkt", NULL},
    {"GET", "/bkt?list-type=1", NULL, S3_OP_LIST_OBJECTS, "bkt", NULL},
    {"GET", "/bkt?versions&prefix=a", NULL, S3_OP_LIST_OBJECT_VERSIONS, "bkt", NULL},
    {"GET", "/bkt?uploads", NULL, S3_OP_LIST_MULTIPART_UPLOADS, "bkt", NULL},
    {"GET", "/bkt?location", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"GET", "/bkt?versioning", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"GET", "/bkt?acl", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"PUT", "/bkt?policy", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"PUT", "/bkt?somethingNew", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"DELETE", "/bkt?cors", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"DELETE", "/bkt?tagging", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"PUT", "/bkt?lifecycle", NULL, S3_OP_BUCKET_SUBRESOURCE, "bkt", NULL},
    {"POST", "/bkt?delete", NULL, S3_OP_DELETE_OBJECTS, "bkt", NULL},
    {"POST", "/bkt?delete=&x-id=DeleteObjects", NULL, S3_OP_DELETE_OBJECTS, "bkt", NULL},
    {"POST", "/bkt", NULL, S3_OP_POST_OBJECT, "bkt", NULL},
    {"POST", "/bkt?acl", NULL, S3_OP_UNKNOWN, "bkt", NULL},
    {"PUT", "/bkt/key", NULL, S3_OP_PUT_OBJECT, "bkt", "key"},
    {"PUT", "/bkt/key?x-id=PutObject", NULL, S3_OP_PUT_OBJECT, "bkt", "key"},
    {"PUT", "/bkt/key", "/src/obj", S3_OP_COPY_OBJECT, "bkt", "key"},
    {"PUT", "/bkt/key", "", S3_OP_PUT_OBJECT, "bkt", "key"},
    {"PUT", "/bkt/key?partNumber=1&uploadId=u1", NULL, S3_OP_UPLOAD_PART, "bkt", "key"},
    {"PUT", "/bkt/key?uploadId=u1&partNumber=2", "/src/obj", S3_OP_UPLOAD_PART_COPY, "bkt", "key"},
    {"PUT", "/bkt/key?uploadId=u1", NULL, S3_OP_UNKNOWN, "bkt", "key"},
    {"PUT", "/bkt/key?partNumber=1", NULL, S3_OP_UNKNOWN, "bkt", "key"},
    {"PUT", "/bkt/key?tagging", NULL, S3_OP_OBJECT_SUBRESOURCE, "bkt", "key"},
    {"PUT", "/bkt/key?retention&versionId=3", NULL, S3_OP_OBJECT_SUBRESOURCE, "bkt", "key"},
    {"PUT", "/bkt/key?legal-hold", NULL, S3_OP_OBJECT_SUBRESOURCE, "bkt", "key"},
    {"PUT", "/bkt/key?somethingNew", NULL, S3_OP_UNKNOWN, "bkt", "key"},
    {"PUT", "/bkt/key?versioning", NULL, S3_OP_UNKNOWN, "bkt", "key"},
    {"GET", "/bkt/key", NULL, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key?versionId=3&response-content-type=text%2Fplain", NULL, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key?partNumber=2", NULL, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key?acl", NULL, S3_OP_OBJECT_SUBRESOURCE, "bkt", "key"},
    {"GET", "/bkt/key?tagging&versionId=3", NULL, S3_OP_OBJECT_SUBRESOURCE, "bkt", "key"},
    {"GET", "/bkt/key?uploadId=u1", NULL, S3_OP_LIST_PARTS, "bkt", "key"},
    {"GET", "/bkt/key?attributes", NULL, S3_OP_GET_OBJECT_ATTRIBUTES, "bkt", "key"},
    {"HEAD", "/bkt/key", NULL, S3_OP_HEAD_OBJECT, "bkt", "key"},
    {"DELETE", "/bkt/key", NULL, S3_OP_DELETE_OBJECT, "bkt", "key"},
    {"DELETE", "/bkt/key?versionId=3", NULL, S3_OP_DELETE_OBJECT, "bkt", "key"},
    {"DELETE", "/bkt/key?uploadId=u1", NULL, S3_OP_ABORT_MULTIPART_UPLOAD, "bkt", "key"},
    {"DELETE", "/bkt/key?tagging", NULL, S3_OP_OBJECT_SUBRESOURCE, "bkt", "key"},
    {"POST", "/bkt/key?uploads", NULL, S3_OP_CREATE_MULTIPART_UPLOAD, "bkt", "key"},
    {"POST", "/bkt/key?uploadId=u1", NULL, S3_OP_COMPLETE_MULTIPART_UPLOAD, "bkt", "key"},
    {"POST", "/bkt/key?select&select-type=2", NULL, S3_OP_SELECT_OBJECT_CONTENT, "bkt", "key"},
    {"POST", "/bkt/key?select&select-type=3", NULL, S3_OP_UNKNOWN, "bkt", "key"},
    {"POST", "/bkt/key?restore&versionId=1", NULL, S3_OP_RESTORE_OBJECT, "bkt", "key"},
    {"POST", "/bkt/key", NULL, S3_OP_UNKNOWN, "bkt", "key"},
    {"PATCH", "/bkt/key", NULL, S3_OP_UNKNOWN, "bkt", "key"},
    {"OPTIONS", "/bkt", NULL, S3_OP_UNKNOWN, "bkt", NULL},
    /* keys: nested, decoded once, never normalised */
    {"GET", "/bkt/dir/sub/file.txt", NULL, S3_OP_GET_OBJECT, "bkt", "dir/sub/file.txt"},
    {"GET", "/bkt/a%20b%2Bc+d", NULL, S3_OP_GET_OBJECT, "bkt", "a b+c+d"},
    {"GET", "/bkt/what%3Fx%3Dy%26z", NULL, S3_OP_GET_OBJECT, "bkt", "what?x=y&z"},
    {"GET", "/bkt//lead", NULL, S3_OP_GET_OBJECT, "bkt", "/lead"},
    {"GET", "/bkt/a//b/./c/", NULL, S3_OP_GET_OBJECT, "bkt", "a//b/./c/"},
    {"GET", "/bkt/caf%C3%A9", NULL, S3_OP_GET_OBJECT, "bkt", "caf\xC3\xA9"},
    {"GET", "/bkt/%2525", NULL, S3_OP_GET_OBJECT, "bkt", "%25"},
    {"GET", "/my.bucket-1_x/k", NULL, S3_OP_GET_OBJECT, "my.bucket-1_x", "k"},
};

static enum core_err classify(const char *method, const char *target, const char *copy_source,
                              struct s3_target *t)
{
    struct s3_header headers[2] = {
        {"Host", 4, "localhost", 9},
        {"X-Amz-Copy-Source", 17, copy_source, copy_source ? strlen(copy_source) : 0},
    };
    struct s3_request req = {method, target, strlen(target), headers, copy_source ? 2 : 1};

    return s3_op_classify(&req, t);
}

static bool same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static void test_op_classify_table(void)
{
    for (size_t i = 0; i < sizeof(op_cases) / sizeof(op_cases[0]); i++) {
        const struct op_case *c = &op_cases[i];
        struct s3_target t;
        enum core_err err = classify(c->method, c->target, c->copy_source, &t);
        bool ok = err == CORE_OK && t.op == c->op && same_string(t.bucket, c->bucket) &&
                  same_string(t.key, c->key) && (t.key == NULL || t.key_len == strlen(c->key));

        if (!ok) {
            fprintf(stderr, "case %zu: %s %s -> err %d op %s bucket %s key %s (expected %s)\n", i, c->method,
                    c->target, (int)err, s3_op_name(t.op), t.bucket ? t.bucket : "(null)",
                    t.key ? t.key : "(null)", s3_op_name(c->op));
        }
        CHECK(ok);
        CHECK(t.has_query == (strchr(c->target, '?') != NULL));
        s3_target_cleanup(&t);
    }
}

static void test_op_key_length_limit(void)
{
    char target[1200];
    struct s3_target t;
    size_t prefix = strlen("/bkt/");

    memcpy(target, "/bkt/", prefix);
    memset(target + prefix, 'k', 1024);
    target[prefix + 1024] = '\0';
    CHECK(classify("GET", target, NULL, &t) == CORE_OK);
    CHECK(t.key_len == 1024);
    s3_target_cleanup(&t);

    target[prefix + 1024] = 'k';
    target[prefix + 1025] = '\0';
    CHECK(classify("GET", target, NULL, &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_KEY_TOO_LONG);
    s3_target_cleanup(&t);

    /* the limit applies after decoding: 1024 encoded bytes are 341 decoded ones */
    memcpy(target, "/bkt/", prefix);
    for (size_t i = 0; i < 341; i++) {
        memcpy(target + prefix + 3 * i, "%41", 3);
    }
    target[prefix + 3 * 341] = '\0';
    CHECK(classify("GET", target, NULL, &t) == CORE_OK);
    CHECK(t.key_len == 341);
    s3_target_cleanup(&t);
}

static void test_op_rejects_invalid_targets(void)
{
    struct s3_target t;

    CHECK(classify("GET", "bkt/key", NULL, &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_URI);
    s3_target_cleanup(&t);

    CHECK(classify("GET", "http://host/bkt/key", NULL, &t) == CORE_CLIENT);
    s3_target_cleanup(&t);

    CHECK(classify("GET", "/bkt/a%zz", NULL, &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_URI);
    s3_target_cleanup(&t);

    CHECK(classify("GET", "/bkt/key?acl%zz", NULL, &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_URI);
    s3_target_cleanup(&t);

    CHECK(classify("GET", "//key", NULL, &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_BUCKET_NAME);
    s3_target_cleanup(&t);

    CHECK(classify("GET", "/b%2Fc/key", NULL, &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_BUCKET_NAME);
    s3_target_cleanup(&t);

    CHECK(classify("GET", "/b%00c", NULL, &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_BUCKET_NAME);
    s3_target_cleanup(&t);
}

static void test_op_query_names_are_decoded(void)
{
    struct s3_target t;

    /* %75ploads is "uploads" once decoded */
    CHECK(classify("POST", "/bkt/key?%75ploads", NULL, &t) == CORE_OK);
    CHECK(t.op == S3_OP_CREATE_MULTIPART_UPLOAD);
    s3_target_cleanup(&t);

    /* a list-type value of %32 is "2" */
    CHECK(classify("GET", "/bkt?list-type=%32", NULL, &t) == CORE_OK);
    CHECK(t.op == S3_OP_LIST_OBJECTS_V2);
    s3_target_cleanup(&t);
}

static void test_op_names(void)
{
    CHECK_STR(s3_op_name(S3_OP_PUT_OBJECT), "PutObject");
    CHECK_STR(s3_op_name(S3_OP_LIST_OBJECTS_V2), "ListObjectsV2");
    CHECK_STR(s3_op_name(S3_OP_UNKNOWN), "Unknown");
    CHECK_STR(s3_op_name((enum s3_op)999), "Unknown");
    for (int op = 0; op < S3_OP_COUNT; op++) {
        CHECK(s3_op_name((enum s3_op)op) != NULL);
    }
    s3_target_cleanup(NULL);
}

struct host_case {
    const char *method;
    const char *target;
    const char *host; /* NULL for no Host header */
    enum s3_addressing addressing;
    enum s3_op op;
    const char *bucket;
    const char *key;
};

static const char *const base_domains[] = {"s3.example.com", "localhost"};

static const struct host_case host_cases[] = {
    {"GET", "/key", "bkt.s3.example.com", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/a/b/c", "bkt.s3.example.com:8080", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_GET_OBJECT, "bkt",
     "a/b/c"},
    {"PUT", "/a%20b", "my.dotted.bucket.s3.example.com", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_PUT_OBJECT,
     "my.dotted.bucket", "a b"},
    {"GET", "//x", "bkt.s3.example.com", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_GET_OBJECT, "bkt", "/x"},
    {"GET", "/", "Bkt.S3.Example.COM.", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_LIST_OBJECTS, "bkt", NULL},
    {"GET", "/?list-type=2", "bkt.localhost:9000", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_LIST_OBJECTS_V2, "bkt",
     NULL},
    {"PUT", "/", "bkt.s3.example.com", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_CREATE_BUCKET, "bkt", NULL},
    {"POST", "/key?uploads", "bkt.s3.example.com", S3_ADDRESSING_VIRTUAL_HOST, S3_OP_CREATE_MULTIPART_UPLOAD,
     "bkt", "key"},
    /* hosts that are not below a base domain stay path-style */
    {"GET", "/bkt/key", "s3.example.com", S3_ADDRESSING_PATH, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key", "s3.example.com:443", S3_ADDRESSING_PATH, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key", "bkts3.example.com", S3_ADDRESSING_PATH, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key", "127.0.0.1:8080", S3_ADDRESSING_PATH, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key", "[::1]:8080", S3_ADDRESSING_PATH, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key", ".s3.example.com", S3_ADDRESSING_PATH, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/bkt/key", NULL, S3_ADDRESSING_PATH, S3_OP_GET_OBJECT, "bkt", "key"},
    {"GET", "/", "localhost", S3_ADDRESSING_PATH, S3_OP_LIST_BUCKETS, NULL, NULL},
};

static enum core_err classify_with_host(const char *method, const char *target, const char *host,
                                        struct s3_target *t)
{
    struct s3_header h = {"Host", 4, host, host ? strlen(host) : 0};
    struct s3_request req = {method, target, strlen(target), &h, host ? 1 : 0};

    return s3_op_classify_host(&req, base_domains, 2, t);
}

static void test_op_classify_host_table(void)
{
    for (size_t i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
        const struct host_case *c = &host_cases[i];
        struct s3_target t;

        CHECK(classify_with_host(c->method, c->target, c->host, &t) == CORE_OK);
        CHECK(t.addressing == c->addressing);
        CHECK(t.op == c->op);
        if (c->bucket) {
            CHECK_STR(t.bucket, c->bucket);
        } else {
            CHECK(t.bucket == NULL);
        }
        if (c->key) {
            CHECK_STR(t.key, c->key);
            CHECK(t.key_len == strlen(c->key));
        } else {
            CHECK(t.key == NULL);
        }
        s3_target_cleanup(&t);
    }
}

static void test_op_classify_host_rejects_invalid(void)
{
    struct s3_target t;

    CHECK(classify_with_host("GET", "/key", "b*d.s3.example.com", &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_BUCKET_NAME);
    s3_target_cleanup(&t);

    CHECK(classify_with_host("GET", "/bad%zz", "bkt.s3.example.com", &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_URI);
    s3_target_cleanup(&t);

    CHECK(classify_with_host("GET", "*", "bkt.s3.example.com", &t) == CORE_CLIENT);
    CHECK(t.error == S3_ERR_INVALID_URI);
    s3_target_cleanup(&t);

    /* no base domains: always path-style */
    {
        struct s3_header h = {"Host", 4, "bkt.s3.example.com", 18};
        struct s3_request req = {"GET", "/bkt/key", 8, &h, 1};

        CHECK(s3_op_classify_host(&req, NULL, 0, &t) == CORE_OK);
        CHECK(t.addressing == S3_ADDRESSING_PATH);
        CHECK_STR(t.bucket, "bkt");
        s3_target_cleanup(&t);
    }
}

int main(void)
{
    RUN_TEST(test_op_classify_table);
    RUN_TEST(test_op_key_length_limit);
    RUN_TEST(test_op_rejects_invalid_targets);
    RUN_TEST(test_op_query_names_are_decoded);
    RUN_TEST(test_op_names);
    RUN_TEST(test_op_classify_host_table);
    RUN_TEST(test_op_classify_host_rejects_invalid);
    return test_finish();
}
