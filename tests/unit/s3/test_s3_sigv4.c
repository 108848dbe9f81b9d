/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of SigV4 signing and verification. The four examples come from the
 * Amazon S3 API Reference, "Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk", section "Examples".
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3/s3_sigv4.h"
#include "s3/s3_sigv4_internal.h"
#include "s3/s3_uri.h"
#include "test_check.h"

#define EXAMPLE_KEY_ID "AKIAIOSFODNN7EXAMPLE"
#define EXAMPLE_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EXAMPLE_SCOPE  "20130524/us-east-1/s3/aws4_request"
#define EXAMPLE_TIME   ((time_t)1369353600) /* 2013-05-24T00:00:00Z */
#define EMPTY_SHA256   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define WELCOME_SHA256 "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
#define HOST_LINE      "host:examplebucket.s3.amazonaws.com\n"
#define HDR(name, value)                                                                                     \
    {                                                                                                        \
        name, sizeof(name) - 1, value, sizeof(value) - 1                                                     \
    }
#define MAX_HEADERS 8

struct example {
    const char *name;
    const char *method;
    const char *target;
    struct s3_header headers[MAX_HEADERS];
    size_t header_count;
    const char *payload_hash;
    const char *canonical_request;
    const char *string_to_sign;
    const char *authorization;
};

static const struct example examples[] = {
    {
        "GET object with Range",
        "GET",
        "/test.txt",
        {HDR("Host", "examplebucket.s3.amazonaws.com"), HDR("Range", "bytes=0-9"),
         HDR("x-amz-content-sha256", EMPTY_SHA256), HDR("x-amz-date", "20130524T000000Z")},
        4,
        EMPTY_SHA256,
        "GET\n/test.txt\n\n" HOST_LINE "range:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA256
        "\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n" EXAMPLE_SCOPE
        "\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
        ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"
        ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    },
    {
        "PUT object",
        "PUT",
        "/test$file.text",
        {HDR("Host", "examplebucket.s3.amazonaws.com"), HDR("Date", "Fri, 24 May 2013 00:00:00 GMT"),
         HDR("x-amz-date", "20130524T000000Z"), HDR("x-amz-storage-class", "REDUCED_REDUNDANCY"),
         HDR("x-amz-content-sha256", WELCOME_SHA256)},
        5,
        WELCOME_SHA256,
        "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n" HOST_LINE
        "x-amz-content-sha256:" WELCOME_SHA256 "\nx-amz-date:20130524T000000Z\n"
        "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" WELCOME_SHA256,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n" EXAMPLE_SCOPE
        "\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
        "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
        ",SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"
        ",Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    },
    {
        "GET bucket lifecycle",
        "GET",
        "/?lifecycle",
        {HDR("Host", "examplebucket.s3.amazonaws.com"), HDR("x-amz-date", "20130524T000000Z"),
         HDR("x-amz-content-sha256", EMPTY_SHA256)},
        3,
        EMPTY_SHA256,
        "GET\n/\nlifecycle=\n" HOST_LINE "x-amz-content-sha256:" EMPTY_SHA256
        "\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n" EXAMPLE_SCOPE
        "\n9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
        "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
        ",SignedHeaders=host;x-amz-content-sha256;x-amz-date"
        ",Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    },
    {
        "GET bucket list objects",
        "GET",
        "/?max-keys=2&prefix=J",
        {HDR("Host", "examplebucket.s3.amazonaws.com"), HDR("x-amz-date", "20130524T000000Z"),
         HDR("x-amz-content-sha256", EMPTY_SHA256)},
        3,
        EMPTY_SHA256,
        "GET\n/\nmax-keys=2&prefix=J\n" HOST_LINE "x-amz-content-sha256:" EMPTY_SHA256
        "\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n" EXAMPLE_SCOPE
        "\ndf57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
        "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
        ",SignedHeaders=host;x-amz-content-sha256;x-amz-date"
        ",Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    },
};

static const struct s3_credential example_credential = {EXAMPLE_KEY_ID, EXAMPLE_SECRET};

/* arg selects the secret returned for the example key id: NULL for the right one */
static const struct s3_credential *lookup(void *arg, const char *access_key_id)
{
    static struct s3_credential other;

    if (strcmp(access_key_id, EXAMPLE_KEY_ID) != 0) {
        return NULL;
    }
    if (arg != NULL) {
        other.access_key_id = EXAMPLE_KEY_ID;
        other.secret_access_key = arg;
        return &other;
    }
    return &example_credential;
}

/* A request under test: headers copied from an example plus an Authorization header. */
struct test_request {
    struct s3_header headers[MAX_HEADERS + 2];
    struct s3_request req;
};

static void set_header(struct test_request *t, const char *name, const char *value)
{
    for (size_t i = 0; i < t->req.header_count; i++) {
        if (strcasecmp(t->headers[i].name, name) == 0) {
            t->headers[i].value = value;
            t->headers[i].value_len = strlen(value);
            return;
        }
    }
    t->headers[t->req.header_count] = (struct s3_header){name, strlen(name), value, strlen(value)};
    t->req.header_count++;
}

static void remove_header(struct test_request *t, const char *name)
{
    for (size_t i = 0; i < t->req.header_count; i++) {
        if (strcasecmp(t->headers[i].name, name) == 0) {
            memmove(&t->headers[i], &t->headers[i + 1],
                    (t->req.header_count - i - 1) * sizeof(t->headers[0]));
            t->req.header_count--;
            return;
        }
    }
}

static void make_request(struct test_request *t, const struct example *e, const char *authorization)
{
    memcpy(t->headers, e->headers, e->header_count * sizeof(e->headers[0]));
    t->req.method = e->method;
    t->req.target = e->target;
    t->req.target_len = strlen(e->target);
    t->req.headers = t->headers;
    t->req.header_count = e->header_count;
    if (authorization) {
        set_header(t, "Authorization", authorization);
    }
}

/* Verifies request t at time now and returns the result; a->error keeps the S3 error. */
static enum core_err verify_at(const struct test_request *t, void *arg, time_t now, struct s3_auth *a)
{
    return s3_sigv4_verify(&t->req, lookup, arg, now, a);
}

static enum core_err verify_example_with(const struct example *e, const char *authorization, time_t now,
                                         enum s3_error_code *code)
{
    struct test_request t;
    struct s3_auth a;
    enum core_err err;

    make_request(&t, e, authorization);
    err = verify_at(&t, NULL, now, &a);
    *code = a.error;
    s3_auth_cleanup(&a);
    return err;
}

static void canonical_target(const char *target, char *uri, char *query, size_t cap)
{
    const char *mark = strchr(target, '?');
    size_t path_len = mark ? (size_t)(mark - target) : strlen(target);
    size_t n;

    CHECK(s3_uri_canonical_path(target, path_len, uri, cap, &n) == CORE_OK);
    CHECK(s3_uri_canonical_query(mark ? mark + 1 : "", mark ? strlen(mark + 1) : 0, false, query, cap, &n) ==
          CORE_OK);
}

static void test_sigv4_sign_matches_aws_examples(void)
{
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        const struct example *e = &examples[i];
        char uri[256];
        char query[256];
        char string_to_sign[320];
        char authorization[512];
        char *canonical = NULL;
        size_t canonical_len = 0;
        struct s3_sign_params p;

        canonical_target(e->target, uri, query, sizeof(uri));
        p = (struct s3_sign_params){e->method,         uri,         query, e->headers,     e->header_count,
                                    e->payload_hash,   "us-east-1", "s3",  EXAMPLE_KEY_ID, EXAMPLE_SECRET,
                                    "20130524T000000Z"};

        CHECK(s3_sigv4_canonical_request(&p, &canonical, &canonical_len) == CORE_OK);
        CHECK_STR(canonical, e->canonical_request);
        CHECK(s3_sigv4_string_to_sign("20130524T000000Z", EXAMPLE_SCOPE, canonical, canonical_len,
                                      string_to_sign, sizeof(string_to_sign)) == CORE_OK);
        CHECK_STR(string_to_sign, e->string_to_sign);
        CHECK(s3_sigv4_sign(&p, authorization, sizeof(authorization)) == CORE_OK);
        CHECK_STR(authorization, e->authorization);
        free(canonical);
    }
}

static void test_sigv4_verify_accepts_aws_examples(void)
{
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        const struct example *e = &examples[i];
        struct test_request t;
        struct s3_auth a;

        make_request(&t, e, e->authorization);
        CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_OK);
        CHECK(a.error == S3_ERR_NONE);
        CHECK_STR(a.canonical_request, e->canonical_request);
        CHECK_STR(a.string_to_sign, e->string_to_sign);
        CHECK_STR(a.access_key_id, EXAMPLE_KEY_ID);
        CHECK_STR(a.region, "us-east-1");
        CHECK_STR(a.scope, EXAMPLE_SCOPE);
        CHECK_STR(a.payload_hash, e->payload_hash);
        CHECK_STR(a.request_time, "20130524T000000Z");
        CHECK(strlen(a.signature) == 64);
        CHECK_CONTAINS(e->authorization, a.signature);
        s3_auth_cleanup(&a);
        CHECK(a.canonical_request == NULL);
    }
}

static void test_sigv4_verify_accepts_spaced_authorization(void)
{
    enum s3_error_code code;
    const char *spaced = "AWS4-HMAC-SHA256  Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
                         ", SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                         "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41 ";
    const char *reordered = "AWS4-HMAC-SHA256 "
                            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41,"
                            "Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
                            ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date";

    CHECK(verify_example_with(&examples[0], spaced, EXAMPLE_TIME, &code) == CORE_OK);
    CHECK(verify_example_with(&examples[0], reordered, EXAMPLE_TIME, &code) == CORE_OK);
}

static void test_sigv4_verify_uses_date_without_x_amz_date(void)
{
    struct test_request t;
    struct s3_auth a;

    make_request(&t, &examples[0],
                 "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
                 ",SignedHeaders=date;host;range;x-amz-content-sha256"
                 ",Signature=06a89493f994c6387296715df00223e3e61115c3f4132854d351e0e3b5922ca0");
    remove_header(&t, "x-amz-date");
    set_header(&t, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_OK);
    CHECK_STR(a.request_time, "20130524T000000Z");
    s3_auth_cleanup(&a);

    /* a wrong weekday makes the Date invalid */
    set_header(&t, "Date", "Thu, 24 May 2013 00:00:00 GMT");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_ACCESS_DENIED);
    s3_auth_cleanup(&a);

    /* a signed Date that is missing is a signature mismatch */
    remove_header(&t, "Date");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    s3_auth_cleanup(&a);

    /* with neither Date nor x-amz-date there is no request time */
    make_request(&t, &examples[0],
                 "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
                 ",SignedHeaders=host;range;x-amz-content-sha256"
                 ",Signature=06a89493f994c6387296715df00223e3e61115c3f4132854d351e0e3b5922ca0");
    remove_header(&t, "x-amz-date");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_ACCESS_DENIED);
    s3_auth_cleanup(&a);
}

static void test_sigv4_verify_rejects_wrong_secret(void)
{
    struct test_request t;
    struct s3_auth a;
    static char wrong_secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ";

    make_request(&t, &examples[0], examples[0].authorization);
    CHECK(verify_at(&t, wrong_secret, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    /* the canonical request stays available for the error body */
    CHECK_STR(a.canonical_request, examples[0].canonical_request);
    s3_auth_cleanup(&a);
}

static void test_sigv4_verify_rejects_unknown_key_id(void)
{
    enum s3_error_code code;
    const char *auth = "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNKEY000000/" EXAMPLE_SCOPE
                       ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"
                       ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    CHECK(verify_example_with(&examples[0], auth, EXAMPLE_TIME, &code) == CORE_AUTH);
    CHECK(code == S3_ERR_INVALID_ACCESS_KEY_ID);
}

static void test_sigv4_verify_rejects_tampered_header(void)
{
    struct test_request t;
    struct s3_auth a;

    make_request(&t, &examples[0], examples[0].authorization);
    set_header(&t, "Range", "bytes=0-10");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    s3_auth_cleanup(&a);

    /* an added x-amz-* header that is not signed */
    make_request(&t, &examples[0], examples[0].authorization);
    set_header(&t, "X-Amz-Meta-Injected", "1");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_ACCESS_DENIED);
    s3_auth_cleanup(&a);

    /* a second Range header changes the canonical value to "bytes=0-9,bytes=5-6" */
    make_request(&t, &examples[0], examples[0].authorization);
    t.headers[t.req.header_count++] = (struct s3_header)HDR("range", "bytes=5-6");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    CHECK_CONTAINS(a.canonical_request, "\nrange:bytes=0-9,bytes=5-6\n");
    s3_auth_cleanup(&a);
}

static void test_sigv4_verify_rejects_tampered_signed_headers(void)
{
    enum s3_error_code code;
    const char *without_range = "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
                                ",SignedHeaders=host;x-amz-content-sha256;x-amz-date"
                                ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    const char *without_date = "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
                               ",SignedHeaders=host;range;x-amz-content-sha256"
                               ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    const char *with_absent = "AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
                              ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-meta-gone"
                              ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    CHECK(verify_example_with(&examples[0], without_range, EXAMPLE_TIME, &code) == CORE_AUTH);
    CHECK(code == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    CHECK(verify_example_with(&examples[0], without_date, EXAMPLE_TIME, &code) == CORE_AUTH);
    CHECK(code == S3_ERR_ACCESS_DENIED);
    CHECK(verify_example_with(&examples[0], with_absent, EXAMPLE_TIME, &code) == CORE_AUTH);
    CHECK(code == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
}

static void test_sigv4_verify_rejects_tampered_target(void)
{
    struct test_request t;
    struct s3_auth a;

    make_request(&t, &examples[0], examples[0].authorization);
    t.req.target = "/test.txU";
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    s3_auth_cleanup(&a);

    make_request(&t, &examples[3], examples[3].authorization);
    t.req.target = "/?max-keys=3&prefix=J";
    t.req.target_len = strlen(t.req.target);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    s3_auth_cleanup(&a);

    /* the same parameters in another order canonicalise to the signed query */
    t.req.target = "/?prefix=J&max-keys=2";
    t.req.target_len = strlen(t.req.target);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_OK);
    s3_auth_cleanup(&a);

    t.req.target = "/?max-keys=2&prefix=%zz";
    t.req.target_len = strlen(t.req.target);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_CLIENT);
    CHECK(a.error == S3_ERR_INVALID_URI);
    s3_auth_cleanup(&a);
}

static void test_sigv4_verify_rejects_skew_over_15min(void)
{
    const time_t limit = S3_SIGV4_MAX_SKEW_SECONDS;
    const time_t nows[] = {EXAMPLE_TIME + limit + 1, EXAMPLE_TIME - limit - 1, EXAMPLE_TIME + 86400};

    for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
        struct test_request t;
        struct s3_auth a;

        make_request(&t, &examples[0], examples[0].authorization);
        CHECK(verify_at(&t, NULL, nows[i], &a) == CORE_AUTH);
        CHECK(a.error == S3_ERR_REQUEST_TIME_TOO_SKEWED);
        CHECK_STR(a.request_time, "20130524T000000Z");
        s3_auth_cleanup(&a);
    }

    /* exactly 15 minutes off is still accepted */
    for (int sign = -1; sign <= 1; sign += 2) {
        enum s3_error_code code;

        CHECK(verify_example_with(&examples[0], examples[0].authorization, EXAMPLE_TIME + sign * limit,
                                  &code) == CORE_OK);
    }
}

struct malformed_case {
    const char *authorization;
    enum s3_error_code error;
};

#define CRED      "Credential=" EXAMPLE_KEY_ID "/" EXAMPLE_SCOPE
#define SIGNED    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"
#define SIG       "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
#define MALFORMED S3_ERR_AUTHORIZATION_HEADER_MALFORMED

static const struct malformed_case malformed_cases[] = {
    {"AWS4-HMAC-SHA256 " SIGNED "," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED "," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED "," SIGNED, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED "," CRED "," SIGNED "," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED "," SIGNED "," SIG ",Extra=1", MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED ";" SIGNED ";" SIG, MALFORMED},
    {"AWS4-HMAC-SHA256", S3_ERR_INVALID_REQUEST},
    {"AWS4-HMAC-SHA256," CRED "," SIGNED "," SIG, S3_ERR_INVALID_REQUEST},
    {"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", S3_ERR_INVALID_REQUEST},
    {"AWS4-ECDSA-P256-SHA256 " CRED "," SIGNED "," SIG, S3_ERR_INVALID_REQUEST},
    /* bad scopes */
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130524/us-east-1/s3," SIGNED "," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130524/us-east-1/s3/aws4_request/x," SIGNED "," SIG,
     MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request," SIGNED "," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=AK\x01" "EY/20130524/us-east-1/s3/aws4_request," SIGNED "," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/2013052/us-east-1/s3/aws4_request," SIGNED "," SIG,
     MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/2013O524/us-east-1/s3/aws4_request," SIGNED "," SIG,
     MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130524//s3/aws4_request," SIGNED "," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130524/us east/s3/aws4_request," SIGNED "," SIG,
     MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130524/us-east-1/s3/aws5_request," SIGNED "," SIG,
     MALFORMED},
    /* the scope date must be the date of x-amz-date */
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130525/us-east-1/s3/aws4_request," SIGNED "," SIG,
     MALFORMED},
    /* bad services */
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130524/us-east-1/ec2/aws4_request," SIGNED "," SIG,
     MALFORMED},
    {"AWS4-HMAC-SHA256 Credential=" EXAMPLE_KEY_ID "/20130524/us-east-1/S3/aws4_request," SIGNED "," SIG,
     MALFORMED},
    /* bad signed-header lists */
    {"AWS4-HMAC-SHA256 " CRED ",SignedHeaders=range;host;x-amz-content-sha256;x-amz-date," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED ",SignedHeaders=range;x-amz-content-sha256;x-amz-date," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED ",SignedHeaders=host;host;range;x-amz-content-sha256;x-amz-date," SIG,
     MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED ",SignedHeaders=Host;range;x-amz-content-sha256;x-amz-date," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED ",SignedHeaders=host;;range;x-amz-content-sha256;x-amz-date," SIG, MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED ",SignedHeaders=," SIG, MALFORMED},
    /* bad signatures */
    {"AWS4-HMAC-SHA256 " CRED "," SIGNED
     ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb4",
     MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED "," SIGNED
     ",Signature=F0E8BDB87C964420E857BD35B5D6ED310BD44F0170ABA48DD91039C6036BDB41",
     MALFORMED},
    {"AWS4-HMAC-SHA256 " CRED "," SIGNED ",Signature=", MALFORMED},
};

static void test_sigv4_verify_rejects_malformed_authorization(void)
{
    for (size_t i = 0; i < sizeof(malformed_cases) / sizeof(malformed_cases[0]); i++) {
        const struct malformed_case *c = &malformed_cases[i];
        enum s3_error_code code = S3_ERR_NONE;
        enum core_err err = verify_example_with(&examples[0], c->authorization, EXAMPLE_TIME, &code);

        if (err != CORE_CLIENT || code != c->error) {
            fprintf(stderr, "malformed case %zu: err %d error %s for %s\n", i, (int)err, s3_error_name(code),
                    c->authorization);
        }
        CHECK(err == CORE_CLIENT);
        CHECK(code == c->error);
    }
}

static void test_sigv4_verify_rejects_missing_authorization(void)
{
    struct test_request t;
    struct s3_auth a;

    make_request(&t, &examples[0], NULL);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_ACCESS_DENIED);
    s3_auth_cleanup(&a);

    /* presigned parameters without the rest are a malformed presigned URL */
    t.req.target = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Signature=b";
    t.req.target_len = strlen(t.req.target);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_CLIENT);
    CHECK(a.error == S3_ERR_AUTHORIZATION_QUERY_PARAMETERS_ERROR);
    s3_auth_cleanup(&a);

    /* two Authorization headers are ambiguous */
    make_request(&t, &examples[0], examples[0].authorization);
    t.headers[t.req.header_count++] = (struct s3_header)HDR("authorization", "AWS4-HMAC-SHA256 x");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_CLIENT);
    CHECK(a.error == S3_ERR_AUTHORIZATION_HEADER_MALFORMED);
    s3_auth_cleanup(&a);
}

static void test_sigv4_verify_checks_payload_hash(void)
{
    struct test_request t;
    struct s3_auth a;

    make_request(&t, &examples[0], examples[0].authorization);
    remove_header(&t, "x-amz-content-sha256");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_CLIENT);
    CHECK(a.error == S3_ERR_INVALID_REQUEST);
    s3_auth_cleanup(&a);

    set_header(&t, "x-amz-content-sha256", "abc");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_CLIENT);
    CHECK(a.error == S3_ERR_INVALID_ARGUMENT);
    s3_auth_cleanup(&a);

    set_header(&t, "x-amz-content-sha256",
               "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_CLIENT);
    CHECK(a.error == S3_ERR_INVALID_ARGUMENT);
    s3_auth_cleanup(&a);

    /* accepted values reach the signature check */
    set_header(&t, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    CHECK_STR(a.payload_hash, "UNSIGNED-PAYLOAD");
    s3_auth_cleanup(&a);

    set_header(&t, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK_STR(a.payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    s3_auth_cleanup(&a);
}

static void test_sigv4_verify_round_trips_signed_request(void)
{
    const struct s3_header headers[] = {
        HDR("Host", "127.0.0.1:9000"),
        HDR("X-Amz-Date", "20130524T000000Z"),
        HDR("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),
        HDR("X-Amz-Meta-Note", "  two   spaces\tand tab  "),
        HDR("x-amz-meta-note", "second"),
    };
    const char *target = "/bkt/my%20key+x?uploads&x-id=CreateMultipartUpload";
    const char *expected_start = "POST\n/bkt/my%20key%2Bx\nuploads=&x-id=CreateMultipartUpload\n";
    char uri[256];
    char query[256];
    char authorization[512];
    char *canonical = NULL;
    size_t canonical_len;
    struct s3_header all[6];
    struct s3_request req;
    struct s3_auth a;
    struct s3_sign_params p;

    canonical_target(target, uri, query, sizeof(uri));
    p = (struct s3_sign_params){"POST",
                                uri,
                                query,
                                headers,
                                5,
                                "UNSIGNED-PAYLOAD",
                                "eu-west-3",
                                "s3",
                                EXAMPLE_KEY_ID,
                                EXAMPLE_SECRET,
                                "20130524T000000Z"};
    CHECK(s3_sigv4_canonical_request(&p, &canonical, &canonical_len) == CORE_OK);
    CHECK_CONTAINS(canonical, "\nx-amz-meta-note:two spaces and tab,second\n");
    CHECK_CONTAINS(canonical, "\nhost;x-amz-content-sha256;x-amz-date;x-amz-meta-note\n");
    CHECK_PREFIX(canonical, expected_start);
    free(canonical);
    CHECK(s3_sigv4_sign(&p, authorization, sizeof(authorization)) == CORE_OK);

    memcpy(all, headers, sizeof(headers));
    all[5] = (struct s3_header){"Authorization", 13, authorization, strlen(authorization)};
    req = (struct s3_request){"POST", target, strlen(target), all, 6};
    CHECK(s3_sigv4_verify(&req, lookup, NULL, EXAMPLE_TIME, &a) == CORE_OK);
    CHECK_STR(a.region, "eu-west-3");
    s3_auth_cleanup(&a);
}

static void test_sigv4_sign_rejects_bad_params(void)
{
    const struct s3_header no_host[] = {HDR("x-amz-date", "20130524T000000Z"),
                                        HDR("x-amz-content-sha256", EMPTY_SHA256)};
    char authorization[512];
    char tiny[16];
    struct s3_sign_params p = {"GET",
                               "/",
                               "",
                               examples[2].headers,
                               examples[2].header_count,
                               EMPTY_SHA256,
                               "us-east-1",
                               "s3",
                               EXAMPLE_KEY_ID,
                               EXAMPLE_SECRET,
                               "20130524T000000Z"};

    CHECK(s3_sigv4_sign(&p, tiny, sizeof(tiny)) == CORE_TOO_LARGE);

    p.headers = no_host;
    p.header_count = 2;
    CHECK(s3_sigv4_sign(&p, authorization, sizeof(authorization)) == CORE_INTERNAL);

    p.headers = examples[2].headers;
    p.header_count = examples[2].header_count;
    p.amz_date = "2013-05-24T00:00:00Z";
    CHECK(s3_sigv4_sign(&p, authorization, sizeof(authorization)) == CORE_INTERNAL);

    p.amz_date = "20130524T000000Z";
    p.region = NULL;
    CHECK(s3_sigv4_sign(&p, authorization, sizeof(authorization)) == CORE_INTERNAL);
}

static void test_sigv4_date_formats(void)
{
    char amz[17];
    char http[30];
    char small[10];

    s3_sigv4_amz_date(EXAMPLE_TIME, amz);
    CHECK_STR(amz, "20130524T000000Z");
    CHECK(s3_http_date(EXAMPLE_TIME, http, sizeof(http)) == CORE_OK);
    CHECK_STR(http, "Fri, 24 May 2013 00:00:00 GMT");
    CHECK(s3_http_date(EXAMPLE_TIME, small, sizeof(small)) == CORE_TOO_LARGE);
    s3_sigv4_amz_date(0, amz);
    CHECK_STR(amz, "19700101T000000Z");
}

static void test_sigv4_verify_rejects_invalid_amz_date(void)
{
    const char *bad[] = {"20130524T000000",  "20130524 000000Z", "20130532T000000Z",
                         "20130229T000000Z", "20130524T250000Z", "2013-05-24T00:00:00Z"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct test_request t;
        struct s3_auth a;

        make_request(&t, &examples[0], examples[0].authorization);
        set_header(&t, "x-amz-date", bad[i]);
        CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
        CHECK(a.error == S3_ERR_ACCESS_DENIED);
        CHECK_STR(a.request_time, "");
        s3_auth_cleanup(&a);
    }
}

/*
 * The presigned GET example of the Amazon S3 API Reference, "Authenticating
 * Requests: Using Query Parameters (AWS Signature Version 4)".
 */
#define PRESIGNED_QUERY_HEAD                                                                                 \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"  \
    "aws4_request&X-Amz-Date=20130524T000000Z"
#define PRESIGNED_SIGNATURE "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
#define PRESIGNED_TARGET                                                                                     \
    "/test.txt?" PRESIGNED_QUERY_HEAD                                                                        \
    "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGNED_SIGNATURE
#define ONE_DAY 86400

static void make_presigned(struct test_request *t, const char *target)
{
    memset(t, 0, sizeof(*t));
    t->headers[0] = (struct s3_header)HDR("Host", "examplebucket.s3.amazonaws.com");
    t->req.method = "GET";
    t->req.target = target;
    t->req.target_len = strlen(target);
    t->req.headers = t->headers;
    t->req.header_count = 1;
}

/* Verifies a presigned target at now and returns the result; *code receives the S3 error. */
static enum core_err verify_presigned(const char *target, time_t now, enum s3_error_code *code)
{
    struct test_request t;
    struct s3_auth a;
    enum core_err err;

    make_presigned(&t, target);
    err = verify_at(&t, NULL, now, &a);
    *code = a.error;
    s3_auth_cleanup(&a);
    return err;
}

static void test_presigned_accepts_aws_example(void)
{
    struct test_request t;
    struct s3_auth a;

    make_presigned(&t, PRESIGNED_TARGET);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_OK);
    CHECK(a.error == S3_ERR_NONE);
    CHECK_STR(a.payload_hash, "UNSIGNED-PAYLOAD");
    CHECK_STR(a.access_key_id, EXAMPLE_KEY_ID);
    CHECK_STR(a.region, "us-east-1");
    CHECK_STR(a.scope, EXAMPLE_SCOPE);
    CHECK_STR(a.request_time, "20130524T000000Z");
    CHECK_STR(a.signature, PRESIGNED_SIGNATURE);
    CHECK_CONTAINS(a.canonical_request, "X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n");
    CHECK_LACKS(a.canonical_request, "X-Amz-Signature");
    CHECK_STR(a.string_to_sign, "AWS4-HMAC-SHA256\n20130524T000000Z\n" EXAMPLE_SCOPE
                                "\n3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    s3_auth_cleanup(&a);
}

static void test_presigned_time_window(void)
{
    enum s3_error_code code;

    /* any past time within X-Amz-Expires is fine, unlike the 15-minute skew of the header form */
    CHECK(verify_presigned(PRESIGNED_TARGET, EXAMPLE_TIME + 3 * 3600, &code) == CORE_OK);
    CHECK(verify_presigned(PRESIGNED_TARGET, EXAMPLE_TIME + ONE_DAY, &code) == CORE_OK);
    CHECK(verify_presigned(PRESIGNED_TARGET, EXAMPLE_TIME - S3_SIGV4_MAX_SKEW_SECONDS, &code) == CORE_OK);

    CHECK(verify_presigned(PRESIGNED_TARGET, EXAMPLE_TIME + ONE_DAY + 1, &code) == CORE_AUTH);
    CHECK(code == S3_ERR_ACCESS_DENIED);
    CHECK(verify_presigned(PRESIGNED_TARGET, EXAMPLE_TIME - S3_SIGV4_MAX_SKEW_SECONDS - 1, &code) ==
          CORE_AUTH);
    CHECK(code == S3_ERR_ACCESS_DENIED);
}

static void test_presigned_expired_message(void)
{
    struct test_request t;
    struct s3_auth a;

    make_presigned(&t, PRESIGNED_TARGET);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME + 2 * ONE_DAY, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_ACCESS_DENIED);
    CHECK_STR(a.message, "Request has expired.");
    s3_auth_cleanup(&a);
}

static void test_presigned_rejects_tampering(void)
{
    static const char *const targets[] = {
        /* a changed X-Amz-Expires */
        "/test.txt?" PRESIGNED_QUERY_HEAD
        "&X-Amz-Expires=86401&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        /* an added parameter */
        PRESIGNED_TARGET "&response-content-type=text%2Fhtml",
        /* another key */
        "/test.tx?" PRESIGNED_QUERY_HEAD
        "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        /* a changed signature */
        "/test.txt?" PRESIGNED_QUERY_HEAD "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d405",
    };

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        enum s3_error_code code;

        CHECK(verify_presigned(targets[i], EXAMPLE_TIME, &code) == CORE_AUTH);
        CHECK(code == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    }
}

static void test_presigned_rejects_malformed_parameters(void)
{
    static const char *const targets[] = {
        /* X-Amz-Expires over seven days, zero, not a number */
        "/test.txt?" PRESIGNED_QUERY_HEAD
        "&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        "/test.txt?" PRESIGNED_QUERY_HEAD
        "&X-Amz-Expires=0&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        "/test.txt?" PRESIGNED_QUERY_HEAD
        "&X-Amz-Expires=1e3&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        /* no X-Amz-Expires */
        "/test.txt?" PRESIGNED_QUERY_HEAD "&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        /* a repeated parameter */
        PRESIGNED_TARGET "&X-Amz-Expires=86400",
        /* another algorithm */
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-"
        "1%2F"
        "s3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        /* a credential date that is not the date of X-Amz-Date */
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130525%2Fus-"
        "east-1%2F"
        "s3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=" PRESIGNED_SIGNATURE,
        /* SignedHeaders without host */
        "/test.txt?" PRESIGNED_QUERY_HEAD
        "&X-Amz-Expires=86400&X-Amz-SignedHeaders=range&X-Amz-Signature=" PRESIGNED_SIGNATURE,
    };

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        enum s3_error_code code;

        CHECK(verify_presigned(targets[i], EXAMPLE_TIME, &code) == CORE_CLIENT);
        CHECK(code == S3_ERR_AUTHORIZATION_QUERY_PARAMETERS_ERROR);
    }
}

static void test_presigned_rejects_authorization_header(void)
{
    struct test_request t;
    struct s3_auth a;

    make_presigned(&t, PRESIGNED_TARGET);
    set_header(&t, "Authorization", examples[0].authorization);
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_CLIENT);
    CHECK(a.error == S3_ERR_INVALID_ARGUMENT);
    s3_auth_cleanup(&a);
}

static void test_presigned_requires_signed_amz_headers(void)
{
    struct test_request t;
    struct s3_auth a;

    make_presigned(&t, PRESIGNED_TARGET);
    set_header(&t, "x-amz-acl", "public-read");
    CHECK(verify_at(&t, NULL, EXAMPLE_TIME, &a) == CORE_AUTH);
    CHECK(a.error == S3_ERR_ACCESS_DENIED);
    s3_auth_cleanup(&a);
}

/*
 * Derives the signing key of the AWS documentation example (secret
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830, us-east-1, iam) fresh,
 * again from the per-thread cache, and after more keys than the cache has
 * slots pushed it out. Another secret or day must give another key.
 */
static void test_sigv4_signing_key_cache(void)
{
    static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    static const uint8_t expected[32] = {0xc4, 0xaf, 0xb1, 0xcc, 0x57, 0x71, 0xd8, 0x71, 0x76, 0x3a, 0x39,
                                         0x3e, 0x44, 0xb7, 0x03, 0x57, 0x1b, 0x55, 0xcc, 0x28, 0x42, 0x4d,
                                         0x1a, 0x5e, 0x86, 0xda, 0x6e, 0xd3, 0xc1, 0x54, 0xa4, 0xb9};
    uint8_t key[32];
    uint8_t other[32];
    char date[9];

    CHECK(s3_sigv4_signing_key(secret, "20150830", "us-east-1", "iam", key) == CORE_OK);
    CHECK(memcmp(key, expected, 32) == 0);
    CHECK(s3_sigv4_signing_key(secret, "20150830", "us-east-1", "iam", key) == CORE_OK);
    CHECK(memcmp(key, expected, 32) == 0);

    CHECK(s3_sigv4_signing_key("another-secret", "20150830", "us-east-1", "iam", other) == CORE_OK);
    CHECK(memcmp(other, expected, 32) != 0);
    CHECK(s3_sigv4_signing_key(secret, "20150831", "us-east-1", "iam", other) == CORE_OK);
    CHECK(memcmp(other, expected, 32) != 0);
    CHECK(s3_sigv4_signing_key(secret, "20150830", "us-east-1", "s3", other) == CORE_OK);
    CHECK(memcmp(other, expected, 32) != 0);

    for (int day = 1; day <= 20; day++) {
        snprintf(date, sizeof(date), "201601%02d", day);
        CHECK(s3_sigv4_signing_key(secret, date, "us-east-1", "iam", other) == CORE_OK);
    }
    CHECK(s3_sigv4_signing_key(secret, "20150830", "us-east-1", "iam", key) == CORE_OK);
    CHECK(memcmp(key, expected, 32) == 0);
}

int main(void)
{
    RUN_TEST(test_sigv4_sign_matches_aws_examples);
    RUN_TEST(test_sigv4_signing_key_cache);
    RUN_TEST(test_sigv4_verify_accepts_aws_examples);
    RUN_TEST(test_sigv4_verify_accepts_spaced_authorization);
    RUN_TEST(test_sigv4_verify_uses_date_without_x_amz_date);
    RUN_TEST(test_sigv4_verify_rejects_wrong_secret);
    RUN_TEST(test_sigv4_verify_rejects_unknown_key_id);
    RUN_TEST(test_sigv4_verify_rejects_tampered_header);
    RUN_TEST(test_sigv4_verify_rejects_tampered_signed_headers);
    RUN_TEST(test_sigv4_verify_rejects_tampered_target);
    RUN_TEST(test_sigv4_verify_rejects_skew_over_15min);
    RUN_TEST(test_sigv4_verify_rejects_malformed_authorization);
    RUN_TEST(test_sigv4_verify_rejects_missing_authorization);
    RUN_TEST(test_sigv4_verify_checks_payload_hash);
    RUN_TEST(test_sigv4_verify_round_trips_signed_request);
    RUN_TEST(test_sigv4_sign_rejects_bad_params);
    RUN_TEST(test_sigv4_date_formats);
    RUN_TEST(test_sigv4_verify_rejects_invalid_amz_date);
    RUN_TEST(test_presigned_accepts_aws_example);
    RUN_TEST(test_presigned_time_window);
    RUN_TEST(test_presigned_expired_message);
    RUN_TEST(test_presigned_rejects_tampering);
    RUN_TEST(test_presigned_rejects_malformed_parameters);
    RUN_TEST(test_presigned_rejects_authorization_header);
    RUN_TEST(test_presigned_requires_signed_amz_headers);
    return test_finish();
}
