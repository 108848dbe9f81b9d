/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the aws-chunked decoder. The signed examples come from the
 * Amazon S3 API Reference: "Transferring Payload in Multiple Chunks",
 * section "Example: PUT Object" (65 KiB of 'a' as a 64 KiB chunk, a 1 KiB
 * chunk and the final chunk), and "Signature calculations for trailing
 * headers", whose example adds an x-amz-checksum-crc32c trailer. An
 * independent Python script reproduced every published signature from the
 * seed signatures before they were written here.
 */
#include <stdlib.h>
#include <string.h>

#include "chunked_writer.h"
#include "s3/s3_checksum.h"
#include "s3/s3_chunked.h"
#include "s3/s3_sigv4.h"
#include "test_check.h"

#define EXAMPLE_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EXAMPLE_TIME "20130524T000000Z"
#define EXAMPLE_SCOPE "20130524/us-east-1/s3/aws4_request"
#define SIGNED_SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define SIGNED_CHUNK1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define SIGNED_CHUNK2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define SIGNED_FINAL "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
#define TRAILER_SEED "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
#define TRAILER_CHUNK1 "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2"
#define TRAILER_CHUNK2 "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"
#define TRAILER_FINAL "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
#define TRAILER_SIG "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
#define EXAMPLE_LEN 66560 /* 64 KiB + 1 KiB of 'a' */

/* A body under test, with a copy that a test may corrupt. */
struct body {
    uint8_t *data;
    size_t len;
};

struct collector {
    uint8_t *data;
    size_t len;
    size_t cap;
    enum core_err fail_with; /* returned by the sink once len passes fail_after */
    size_t fail_after;
};

static enum core_err collect(void *arg, const uint8_t *data, size_t len)
{
    struct collector *c = arg;

    if (c->fail_with != CORE_OK && c->len + len > c->fail_after) {
        return c->fail_with;
    }
    if (c->len + len > c->cap) {
        size_t cap = (c->len + len) * 2;
        uint8_t *p = realloc(c->data, cap);

        if (p == NULL) {
            return CORE_NOMEM;
        }
        c->data = p;
        c->cap = cap;
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    return CORE_OK;
}

static void make_auth(struct s3_auth *a, const char *seed)
{
    memset(a, 0, sizeof(*a));
    chunked_writer_signing_key(EXAMPLE_SECRET, "20130524", "us-east-1", a->signing_key);
    memcpy(a->signature, seed, 65);
    memcpy(a->request_time, EXAMPLE_TIME, sizeof(EXAMPLE_TIME));
    memcpy(a->scope, EXAMPLE_SCOPE, sizeof(EXAMPLE_SCOPE));
}

static void append(struct body *b, const void *data, size_t len)
{
    b->data = realloc(b->data, b->len + len);
    if (b->data == NULL) {
        abort();
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void append_str(struct body *b, const char *s)
{
    append(b, s, strlen(s));
}

static void append_a(struct body *b, size_t n)
{
    uint8_t *a = malloc(n);

    if (a == NULL) {
        abort();
    }
    memset(a, 'a', n);
    append(b, a, n);
    free(a);
}

/* The published body, written by hand from the documented layout, not by chunked_writer. */
static struct body example_body(const char *const signatures[3], const char *trailer)
{
    struct body b = {NULL, 0};

    append_str(&b, "10000;chunk-signature=");
    append_str(&b, signatures[0]);
    append_str(&b, "\r\n");
    append_a(&b, 65536);
    append_str(&b, "\r\n400;chunk-signature=");
    append_str(&b, signatures[1]);
    append_str(&b, "\r\n");
    append_a(&b, 1024);
    append_str(&b, "\r\n0;chunk-signature=");
    append_str(&b, signatures[2]);
    append_str(&b, "\r\n");
    append_str(&b, trailer);
    append_str(&b, "\r\n");
    return b;
}

static struct body signed_example(void)
{
    static const char *const sigs[3] = {SIGNED_CHUNK1, SIGNED_CHUNK2, SIGNED_FINAL};

    return example_body(sigs, "");
}

static struct body trailer_example(void)
{
    static const char *const sigs[3] = {TRAILER_CHUNK1, TRAILER_CHUNK2, TRAILER_FINAL};

    return example_body(sigs,
                        "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" TRAILER_SIG "\r\n");
}

enum pieces { WHOLE, BYTES, RANDOM };

struct outcome {
    enum core_err feed;
    enum core_err finish;
    enum s3_error_code error;
    bool done;
    uint64_t decoded;
    char trailer[S3_CHUNKED_TRAILER_VALUE_MAX + 1];
};

/* Decodes body in the given pieces; collected payload goes to c, which the caller frees. */
static struct outcome decode(enum s3_chunked_mode mode, const char *seed, const char *declared,
                             const uint8_t *data, size_t len, enum pieces pieces, struct collector *c,
                             const char *trailer_name)
{
    struct outcome o = {CORE_OK, CORE_OK, S3_ERR_NONE, false, 0, ""};
    struct s3_auth auth;
    struct s3_chunked *d = NULL;
    size_t off = 0;

    make_auth(&auth, seed ? seed : SIGNED_SEED);
    CHECK(s3_chunked_new(mode, &auth, declared, &d) == CORE_OK);
    s3_auth_cleanup(&auth);
    if (d == NULL) {
        o.feed = CORE_INTERNAL;
        return o;
    }
    while (off < len && o.feed == CORE_OK) {
        size_t n = len;

        if (pieces == BYTES) {
            n = 1;
        } else if (pieces == RANDOM) {
            n = (size_t)rand() % 3000;
        }

        n = n > len - off ? len - off : n;
        o.feed = s3_chunked_feed(d, data + off, n, collect, c);
        off += n;
    }
    o.finish = s3_chunked_finish(d);
    o.error = s3_chunked_error(d);
    o.done = s3_chunked_is_done(d);
    o.decoded = s3_chunked_decoded_length(d);
    if (trailer_name && s3_chunked_trailer_value(d, trailer_name)) {
        snprintf(o.trailer, sizeof(o.trailer), "%s", s3_chunked_trailer_value(d, trailer_name));
    }
    s3_chunked_free(d);
    return o;
}

static bool all_a(const struct collector *c, size_t n)
{
    if (c->len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (c->data[i] != 'a') {
            return false;
        }
    }
    return true;
}

static const struct s3_credential example_credential = {"AKIAIOSFODNN7EXAMPLE", EXAMPLE_SECRET};

static const struct s3_credential *lookup(void *arg, const char *access_key_id)
{
    (void)arg;
    return strcmp(access_key_id, example_credential.access_key_id) == 0 ? &example_credential : NULL;
}

#define HDR(name, value)                                                                                     \
    {                                                                                                        \
        name, sizeof(name) - 1, value, sizeof(value) - 1                                                     \
    }

/* The request head of the documented example yields the documented seed signature. */
static void test_chunked_example_seed_signature(void)
{
    static const struct s3_header headers[] = {
        HDR("Host", "s3.amazonaws.com"),
        HDR("x-amz-date", EXAMPLE_TIME),
        HDR("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        HDR("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" EXAMPLE_SCOPE
                             ",SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;"
                             "x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
                             ",Signature=" SIGNED_SEED),
        HDR("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        HDR("Content-Encoding", "aws-chunked"),
        HDR("x-amz-decoded-content-length", "66560"),
        HDR("Content-Length", "66824"),
    };
    struct s3_request req = {"PUT", "/examplebucket/chunkObject.txt", 30, headers,
                             sizeof(headers) / sizeof(headers[0])};
    struct s3_auth auth;
    struct s3_chunked *d = NULL;
    struct collector c = {0};
    struct body b = signed_example();

    CHECK(s3_sigv4_verify(&req, lookup, NULL, 1369353600, &auth) == CORE_OK);
    CHECK_STR(auth.signature, SIGNED_SEED);
    CHECK(s3_chunked_mode_from_payload_hash(auth.payload_hash) == S3_CHUNKED_SIGNED);

    /* the published Content-Length is the framed size */
    CHECK(b.len == 66824);
    CHECK(s3_chunked_new(S3_CHUNKED_SIGNED, &auth, NULL, &d) == CORE_OK);
    CHECK(s3_chunked_feed(d, b.data, b.len, collect, &c) == CORE_OK);
    CHECK(s3_chunked_finish(d) == CORE_OK);
    CHECK(s3_chunked_is_done(d));
    CHECK(all_a(&c, EXAMPLE_LEN));
    s3_chunked_free(d);
    s3_auth_cleanup(&auth);
    free(c.data);
    free(b.data);
}

static void check_example(struct body b, enum s3_chunked_mode mode, const char *seed, const char *declared,
                          const char *trailer_name, const char *trailer_value)
{
    enum pieces modes[] = {WHOLE, BYTES, RANDOM};

    for (size_t i = 0; i < 3; i++) {
        struct collector c = {0};
        struct outcome o = decode(mode, seed, declared, b.data, b.len, modes[i], &c, trailer_name);

        CHECK(o.feed == CORE_OK);
        CHECK(o.finish == CORE_OK);
        CHECK(o.done);
        CHECK(o.decoded == EXAMPLE_LEN);
        CHECK(all_a(&c, EXAMPLE_LEN));
        if (trailer_name) {
            CHECK_STR(o.trailer, trailer_value);
        }
        free(c.data);
    }
}

static void test_chunked_signed_example_in_pieces(void)
{
    struct body b = signed_example();

    check_example(b, S3_CHUNKED_SIGNED, SIGNED_SEED, NULL, NULL, NULL);
    free(b.data);
}

static void test_chunked_trailer_example_in_pieces(void)
{
    struct body b = trailer_example();

    check_example(b, S3_CHUNKED_SIGNED_TRAILER, TRAILER_SEED, "x-amz-checksum-crc32c",
                  "x-amz-checksum-crc32c", "sOO8/Q==");
    free(b.data);
}

/* chunked_writer reproduces the published bodies byte for byte. */
static void test_chunked_writer_matches_examples(void)
{
    struct chunked_writer w;
    struct body expected = trailer_example();
    struct body expected_signed = signed_example();
    uint8_t *a = malloc(65536);
    uint8_t key[32];

    CHECK(a != NULL);
    if (a == NULL) {
        return;
    }
    memset(a, 'a', 65536);
    chunked_writer_signing_key(EXAMPLE_SECRET, "20130524", "us-east-1", key);

    CHECK(chunked_writer_init(&w, S3_CHUNKED_SIGNED, key, EXAMPLE_TIME, EXAMPLE_SCOPE, SIGNED_SEED) == 0);
    CHECK(chunked_writer_chunk(&w, a, 65536) == 0);
    CHECK(chunked_writer_chunk(&w, a, 1024) == 0);
    CHECK(chunked_writer_chunk(&w, NULL, 0) == 0);
    CHECK(chunked_writer_end(&w) == 0);
    CHECK(w.len == expected_signed.len);
    if (w.len == expected_signed.len) {
        CHECK(memcmp(w.body, expected_signed.data, w.len) == 0);
    }
    chunked_writer_cleanup(&w);

    CHECK(chunked_writer_init(&w, S3_CHUNKED_SIGNED_TRAILER, key, EXAMPLE_TIME, EXAMPLE_SCOPE,
                              TRAILER_SEED) == 0);
    CHECK(chunked_writer_chunk(&w, a, 65536) == 0);
    CHECK(chunked_writer_chunk(&w, a, 1024) == 0);
    CHECK(chunked_writer_chunk(&w, NULL, 0) == 0);
    CHECK(chunked_writer_trailer(&w, "x-amz-checksum-crc32c", "sOO8/Q==") == 0);
    CHECK(chunked_writer_end(&w) == 0);
    CHECK(w.len == expected.len);
    if (w.len == expected.len) {
        CHECK(memcmp(w.body, expected.data, w.len) == 0);
    }
    chunked_writer_cleanup(&w);

    free(a);
    free(expected.data);
    free(expected_signed.data);
}

static void test_chunked_unsigned_trailer(void)
{
    static const char body[] = "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    struct collector c = {0};
    struct outcome o = decode(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32",
                              (const uint8_t *)body, sizeof(body) - 1, BYTES, &c, "x-amz-checksum-crc32");

    CHECK(o.feed == CORE_OK);
    CHECK(o.finish == CORE_OK);
    CHECK(o.decoded == 11);
    CHECK(c.len == 11);
    if (c.len == 11) {
        CHECK(memcmp(c.data, "hello world", 11) == 0);
    }
    CHECK_STR(o.trailer, "DUoRhQ==");
    free(c.data);
}

/* Some clients end the body after the last trailer line; everything else is there. */
static void test_chunked_accepts_missing_final_crlf(void)
{
    static const char body[] = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n";
    struct collector c = {0};
    struct outcome o = decode(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32",
                              (const uint8_t *)body, sizeof(body) - 1, WHOLE, &c, "x-amz-checksum-crc32");

    CHECK(o.feed == CORE_OK);
    CHECK(o.finish == CORE_OK);
    CHECK(o.done);
    CHECK_STR(o.trailer, "NhCmhg==");
    free(c.data);
}

/* Flips one byte of a copy of b at offset and expects feed to fail with err and code. */
static void check_corrupt(const struct body *b, size_t offset, uint8_t value, enum s3_chunked_mode mode,
                          const char *seed, const char *declared, enum core_err err, enum s3_error_code code)
{
    uint8_t *copy = malloc(b->len);
    struct collector c = {0};
    struct outcome o;

    if (copy == NULL) {
        abort();
    }
    memcpy(copy, b->data, b->len);
    copy[offset] = value;
    o = decode(mode, seed, declared, copy, b->len, WHOLE, &c, NULL);
    CHECK(o.feed == err);
    CHECK(o.finish == err);
    CHECK(o.error == code);
    CHECK(!o.done);
    free(c.data);
    free(copy);
}

static size_t find(const struct body *b, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= b->len; i++) {
        if (memcmp(b->data + i, needle, n) == 0) {
            return i;
        }
    }
    abort();
}

static void test_chunked_rejects_wrong_chunk_signature(void)
{
    struct body b = signed_example();
    size_t second = find(&b, SIGNED_CHUNK2);
    size_t data2 = second + 64 + 2;

    /* a changed signature of the middle chunk, then a changed byte of its data */
    check_corrupt(&b, second + 10, b.data[second + 10] == '0' ? '1' : '0', S3_CHUNKED_SIGNED, SIGNED_SEED,
                  NULL, CORE_AUTH, S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    check_corrupt(&b, data2 + 5, 'b', S3_CHUNKED_SIGNED, SIGNED_SEED, NULL, CORE_AUTH,
                  S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    /* the right chain under another seed fails on the first chunk */
    {
        struct collector c = {0};
        struct outcome o = decode(S3_CHUNKED_SIGNED, TRAILER_SEED, NULL, b.data, b.len, WHOLE, &c, NULL);

        CHECK(o.feed == CORE_AUTH);
        CHECK(o.error == S3_ERR_SIGNATURE_DOES_NOT_MATCH);
        CHECK(c.len == 65536);
        free(c.data);
    }
    free(b.data);
}

static void test_chunked_rejects_wrong_trailer_signature(void)
{
    struct body b = trailer_example();
    size_t sig = find(&b, TRAILER_SIG);
    size_t value = find(&b, "sOO8/Q==");

    check_corrupt(&b, sig + 63, '0', S3_CHUNKED_SIGNED_TRAILER, TRAILER_SEED, "x-amz-checksum-crc32c",
                  CORE_AUTH, S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    /* a changed trailer value breaks the trailer signature */
    check_corrupt(&b, value, 'X', S3_CHUNKED_SIGNED_TRAILER, TRAILER_SEED, "x-amz-checksum-crc32c", CORE_AUTH,
                  S3_ERR_SIGNATURE_DOES_NOT_MATCH);
    free(b.data);
}

static void test_chunked_rejects_truncated_body(void)
{
    struct body b = signed_example();
    size_t final_line_end = b.len - 2; /* right after "0;chunk-signature=...\r\n" */
    size_t cuts[] = {0, 1, 10, 87, 88, 100, 65624, 65625, 65626, 66700, final_line_end - 1, b.len - 1};

    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct collector c = {0};
        struct outcome o = decode(S3_CHUNKED_SIGNED, SIGNED_SEED, NULL, b.data, cuts[i], RANDOM, &c, NULL);

        CHECK(o.feed == CORE_OK);
        CHECK(o.finish == CORE_CLIENT);
        CHECK(o.error == S3_ERR_INCOMPLETE_BODY);
        free(c.data);
    }
    free(b.data);
}

/* Decodes text in mode and expects feed to fail with CORE_CLIENT and InvalidRequest. */
static void check_malformed(enum s3_chunked_mode mode, const char *declared, const char *text)
{
    struct collector c = {0};
    struct outcome o =
        decode(mode, SIGNED_SEED, declared, (const uint8_t *)text, strlen(text), BYTES, &c, NULL);

    CHECK(o.feed == CORE_CLIENT);
    CHECK(o.finish == CORE_CLIENT);
    CHECK(o.error == S3_ERR_INVALID_REQUEST);
    free(c.data);
}

static void test_chunked_rejects_malformed_framing(void)
{
    char line[400];

    /* a size line over S3_CHUNKED_LINE_MAX */
    memset(line, '0', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, line);
    /* a size over S3_CHUNKED_CHUNK_MAX */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "1000001\r\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "ffffffffffffffffffff\r\n");
    /* sizes that are not hex */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "xyz\r\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "\r\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "-5\r\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, " 5\r\n");
    check_malformed(S3_CHUNKED_SIGNED, NULL, "xyz;chunk-signature=" SIGNED_CHUNK1 "\r\n");
    /* a missing, short or upper-case chunk signature */
    check_malformed(S3_CHUNKED_SIGNED, NULL, "5\r\n");
    check_malformed(S3_CHUNKED_SIGNED, NULL, "5;chunk-signature=abc\r\n");
    check_malformed(S3_CHUNKED_SIGNED, NULL,
                    "5;chunk-signature=AD80C730A21E5B8D04586A2213DD63B9A0E99E0E2307B0ADE35A65485A288648\r\n");
    check_malformed(S3_CHUNKED_SIGNED, NULL, "5;chunk-signatur=" SIGNED_CHUNK1 "\r\n");
    /* an extension in the unsigned mode */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "5;a=b\r\n");
    /* no CRLF after chunk data, a bare LF, a CR inside a line */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "5\r\nhelloXX");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "5\r\nhello\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "5\nhello\r\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "5\r\r\nhello\r\n");
}

static void test_chunked_rejects_bad_trailers(void)
{
    const char *crc = "x-amz-checksum-crc32";

    /* a trailer that x-amz-trailer did not declare */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, crc, "0\r\nx-amz-checksum-sha256:abc=\r\n\r\n");
    /* a declared trailer that never arrives */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, crc, "0\r\n\r\n");
    /* a repeated trailer, one without a colon, one with a control character */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, crc,
                    "0\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, crc, "0\r\nx-amz-checksum-crc32\r\n\r\n");
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, crc, "0\r\nx-amz-checksum-crc32:a\x01\r\n\r\n");
    /* a trailer signature in the unsigned mode */
    check_malformed(S3_CHUNKED_UNSIGNED_TRAILER, crc,
                    "0\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:" TRAILER_SIG "\r\n\r\n");
    /* any trailer in the signed mode without trailers, after a correctly signed final chunk */
    {
        struct chunked_writer w;
        struct collector c = {0};
        struct outcome o;
        uint8_t key[32];

        chunked_writer_signing_key(EXAMPLE_SECRET, "20130524", "us-east-1", key);
        CHECK(chunked_writer_init(&w, S3_CHUNKED_SIGNED, key, EXAMPLE_TIME, EXAMPLE_SCOPE, SIGNED_SEED) == 0);
        CHECK(chunked_writer_chunk(&w, NULL, 0) == 0);
        CHECK(chunked_writer_trailer(&w, crc, "DUoRhQ==") == 0);
        CHECK(chunked_writer_end(&w) == 0);
        o = decode(S3_CHUNKED_SIGNED, SIGNED_SEED, NULL, w.body, w.len, BYTES, &c, NULL);
        CHECK(o.feed == CORE_CLIENT);
        CHECK(o.error == S3_ERR_INVALID_REQUEST);
        free(c.data);
        chunked_writer_cleanup(&w);
    }
}

static void test_chunked_rejects_signed_trailer_without_signature(void)
{
    struct body b = trailer_example();
    size_t sig_line = find(&b, "x-amz-trailer-signature:");
    struct collector c = {0};
    struct outcome o;

    /* cut the signature line out: the empty line follows the checksum line */
    memmove(b.data + sig_line, b.data + sig_line + 24 + 64 + 2, b.len - sig_line - 24 - 64 - 2);
    b.len -= 24 + 64 + 2;
    o = decode(S3_CHUNKED_SIGNED_TRAILER, TRAILER_SEED, "x-amz-checksum-crc32c", b.data, b.len, WHOLE, &c,
               NULL);
    CHECK(o.feed == CORE_CLIENT);
    CHECK(o.error == S3_ERR_INVALID_REQUEST);
    free(c.data);

    /* without the empty line either, finish must not accept it */
    memset(&c, 0, sizeof(c));
    o = decode(S3_CHUNKED_SIGNED_TRAILER, TRAILER_SEED, "x-amz-checksum-crc32c", b.data, b.len - 2, WHOLE, &c,
               NULL);
    CHECK(o.feed == CORE_OK);
    CHECK(o.finish == CORE_CLIENT);
    CHECK(o.error == S3_ERR_INCOMPLETE_BODY);
    free(c.data);
    free(b.data);
}

static void test_chunked_rejects_bytes_after_end(void)
{
    struct body b = signed_example();
    struct collector c = {0};
    struct outcome o;

    append_str(&b, "X");
    o = decode(S3_CHUNKED_SIGNED, SIGNED_SEED, NULL, b.data, b.len, WHOLE, &c, NULL);
    CHECK(o.feed == CORE_CLIENT);
    CHECK(o.error == S3_ERR_INVALID_REQUEST);
    free(c.data);
    free(b.data);
}

static void test_chunked_passes_sink_errors(void)
{
    struct body b = signed_example();
    struct collector c = {0};
    struct outcome o;

    c.fail_with = CORE_UPSTREAM;
    c.fail_after = 1000;
    o = decode(S3_CHUNKED_SIGNED, SIGNED_SEED, NULL, b.data, b.len, RANDOM, &c, NULL);
    CHECK(o.feed == CORE_UPSTREAM);
    CHECK(o.finish == CORE_UPSTREAM);
    CHECK(o.error == S3_ERR_NONE);
    free(c.data);
    free(b.data);
}

static void test_chunked_new_checks_arguments(void)
{
    struct s3_auth auth;
    struct s3_chunked *d = NULL;

    make_auth(&auth, SIGNED_SEED);
    CHECK(s3_chunked_new(S3_CHUNKED_SIGNED, &auth, "x-amz-checksum-crc32", &d) == CORE_CLIENT);
    CHECK(d == NULL);
    CHECK(s3_chunked_new(S3_CHUNKED_SIGNED, NULL, NULL, &d) == CORE_INTERNAL);
    CHECK(s3_chunked_new((enum s3_chunked_mode)0, &auth, NULL, &d) == CORE_INTERNAL);
    CHECK(s3_chunked_new(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "a,b,c,d,e", &d) == CORE_CLIENT);
    CHECK(s3_chunked_new(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "a,,b", &d) == CORE_CLIENT);
    CHECK(s3_chunked_new(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "a,A", &d) == CORE_CLIENT);
    CHECK(s3_chunked_new(S3_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-trailer-signature", &d) == CORE_CLIENT);
    CHECK(d == NULL);
    CHECK(s3_chunked_new(S3_CHUNKED_SIGNED_TRAILER, &auth, " X-Amz-Checksum-CRC32 , x-amz-checksum-sha1",
                         &d) == CORE_OK);
    s3_chunked_free(d);
    auth.error = S3_ERR_SIGNATURE_DOES_NOT_MATCH;
    CHECK(s3_chunked_new(S3_CHUNKED_SIGNED, &auth, NULL, &d) == CORE_INTERNAL);
    s3_auth_cleanup(&auth);
    s3_chunked_free(NULL);

    CHECK(s3_chunked_mode_from_payload_hash("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == S3_CHUNKED_SIGNED);
    CHECK(s3_chunked_mode_from_payload_hash("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") ==
          S3_CHUNKED_SIGNED_TRAILER);
    CHECK(s3_chunked_mode_from_payload_hash("STREAMING-UNSIGNED-PAYLOAD-TRAILER") ==
          S3_CHUNKED_UNSIGNED_TRAILER);
    CHECK(s3_chunked_mode_from_payload_hash("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") == 0);
    CHECK(s3_chunked_mode_from_payload_hash("UNSIGNED-PAYLOAD") == 0);
    CHECK(s3_chunked_mode_from_payload_hash(NULL) == 0);
}

/* Writes a random payload with chunked_writer in mode and returns the CRC32 trailer value in crc. */
static void write_random(struct chunked_writer *w, enum s3_chunked_mode mode, const uint8_t *payload,
                         size_t len, char crc[S3_CHECKSUM_BASE64_MAX])
{
    uint8_t key[32];
    struct s3_checksum sum;
    size_t off = 0;

    chunked_writer_signing_key(EXAMPLE_SECRET, "20130524", "us-east-1", key);
    CHECK(chunked_writer_init(w, mode, key, EXAMPLE_TIME, EXAMPLE_SCOPE, SIGNED_SEED) == 0);
    while (off < len) {
        size_t n = 1 + (size_t)rand() % 9000;

        n = n > len - off ? len - off : n;
        CHECK(chunked_writer_chunk(w, payload + off, n) == 0);
        off += n;
    }
    CHECK(chunked_writer_chunk(w, NULL, 0) == 0);

    CHECK(s3_checksum_init(&sum, S3_CHECKSUM_CRC32) == CORE_OK);
    CHECK(s3_checksum_update(&sum, payload, len) == CORE_OK);
    CHECK(s3_checksum_final_base64(&sum, crc, S3_CHECKSUM_BASE64_MAX) == CORE_OK);
    s3_checksum_cleanup(&sum);
    if (mode != S3_CHUNKED_SIGNED) {
        CHECK(chunked_writer_trailer(w, "x-amz-checksum-crc32", crc) == 0);
    }
    CHECK(chunked_writer_end(w) == 0);
}

static void test_chunked_random_round_trips(void)
{
    enum s3_chunked_mode modes[] = {S3_CHUNKED_SIGNED, S3_CHUNKED_SIGNED_TRAILER,
                                    S3_CHUNKED_UNSIGNED_TRAILER};

    srand(11);
    for (int round = 0; round < 60; round++) {
        enum s3_chunked_mode mode = modes[round % 3];
        size_t len = (size_t)rand() % 40000;
        uint8_t *payload = malloc(len + 1);
        const char *declared = mode == S3_CHUNKED_SIGNED ? NULL : "x-amz-checksum-crc32";
        struct chunked_writer w;
        struct collector c = {0};
        char crc[S3_CHECKSUM_BASE64_MAX];
        struct outcome o;

        if (payload == NULL) {
            abort();
        }
        for (size_t i = 0; i < len; i++) {
            payload[i] = (uint8_t)rand();
        }
        write_random(&w, mode, payload, len, crc);
        o = decode(mode, SIGNED_SEED, declared, w.body, w.len, round % 2 ? RANDOM : BYTES, &c,
                   "x-amz-checksum-crc32");
        CHECK(o.feed == CORE_OK);
        CHECK(o.finish == CORE_OK);
        CHECK(o.decoded == len);
        CHECK(c.len == len && (len == 0 || memcmp(c.data, payload, len) == 0));
        if (declared) {
            CHECK_STR(o.trailer, crc);
        }
        chunked_writer_cleanup(&w);
        free(c.data);
        free(payload);
    }
}

int main(void)
{
    RUN_TEST(test_chunked_example_seed_signature);
    RUN_TEST(test_chunked_signed_example_in_pieces);
    RUN_TEST(test_chunked_trailer_example_in_pieces);
    RUN_TEST(test_chunked_writer_matches_examples);
    RUN_TEST(test_chunked_unsigned_trailer);
    RUN_TEST(test_chunked_accepts_missing_final_crlf);
    RUN_TEST(test_chunked_rejects_wrong_chunk_signature);
    RUN_TEST(test_chunked_rejects_wrong_trailer_signature);
    RUN_TEST(test_chunked_rejects_truncated_body);
    RUN_TEST(test_chunked_rejects_malformed_framing);
    RUN_TEST(test_chunked_rejects_bad_trailers);
    RUN_TEST(test_chunked_rejects_signed_trailer_without_signature);
    RUN_TEST(test_chunked_rejects_bytes_after_end);
    RUN_TEST(test_chunked_passes_sink_errors);
    RUN_TEST(test_chunked_new_checks_arguments);
    RUN_TEST(test_chunked_random_round_trips);
    return test_finish();
}
