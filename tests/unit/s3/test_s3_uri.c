/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of percent-decoding, SigV4 UriEncode and the canonical path and query. */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_uri.h"
#include "test_check.h"

static char out[4096];
static size_t out_len;

static const char *canonical_path(const char *raw)
{
    if (s3_uri_canonical_path(raw, strlen(raw), out, sizeof(out), &out_len) != CORE_OK) {
        return NULL;
    }
    return out;
}

static const char *canonical_query(const char *raw, bool skip_signature)
{
    if (s3_uri_canonical_query(raw, strlen(raw), skip_signature, out, sizeof(out), &out_len) != CORE_OK) {
        return NULL;
    }
    return out;
}

static void test_uri_decode_once(void)
{
    CHECK(s3_uri_decode("a%20b+c%2B%25%3d", 16, out, sizeof(out), &out_len) == CORE_OK);
    CHECK_STR(out, "a b+c+%=");
    CHECK(out_len == 8);

    /* decoding happens once: %2520 becomes %20, not a space */
    CHECK(s3_uri_decode("%2520", 5, out, sizeof(out), &out_len) == CORE_OK);
    CHECK_STR(out, "%20");

    /* %00 decodes to a NUL byte that the length still counts */
    CHECK(s3_uri_decode("a%00b", 5, out, sizeof(out), &out_len) == CORE_OK);
    CHECK(out_len == 3);
    CHECK(out[1] == '\0');
    CHECK(out[2] == 'b');
}

static void test_uri_decode_rejects_invalid_escapes(void)
{
    const char *bad[] = {"%", "%2", "a%g0", "%0x", "abc%", "%%41"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(s3_uri_decode(bad[i], strlen(bad[i]), out, sizeof(out), &out_len) == CORE_CLIENT);
    }
}

static void test_uri_decode_reports_small_buffer(void)
{
    char small[3];

    CHECK(s3_uri_decode("abc", 3, small, sizeof(small), &out_len) == CORE_TOO_LARGE);
    CHECK(s3_uri_decode("ab", 2, small, sizeof(small), &out_len) == CORE_OK);
    CHECK(s3_uri_encode("a b", 3, false, small, sizeof(small), &out_len) == CORE_TOO_LARGE);
}

static void test_uri_encode_rules(void)
{
    const char *in = "AZaz09-._~ /+%=&?\xC3\xA9";

    CHECK(s3_uri_encode(in, strlen(in), false, out, sizeof(out), &out_len) == CORE_OK);
    CHECK_STR(out, "AZaz09-._~%20%2F%2B%25%3D%26%3F%C3%A9");
    CHECK(s3_uri_encode(in, strlen(in), true, out, sizeof(out), &out_len) == CORE_OK);
    CHECK_STR(out, "AZaz09-._~%20/%2B%25%3D%26%3F%C3%A9");
}

static void test_uri_canonical_path_special_keys(void)
{
    /* space, '+', '%', '=', '&', and '?' that can only arrive encoded */
    CHECK_STR(canonical_path("/bkt/my%20file+name"), "/bkt/my%20file%2Bname");
    CHECK_STR(canonical_path("/bkt/100%25=a&b"), "/bkt/100%25%3Da%26b");
    CHECK_STR(canonical_path("/bkt/what%3Fnow"), "/bkt/what%3Fnow");
    CHECK_STR(canonical_path("/bkt/what%3fnow"), "/bkt/what%3Fnow");
    /* non-ASCII UTF-8, raw or already encoded */
    CHECK_STR(canonical_path("/bkt/caf\xC3\xA9"), "/bkt/caf%C3%A9");
    CHECK_STR(canonical_path("/bkt/caf%c3%a9"), "/bkt/caf%C3%A9");
    /* the AWS example key test$file.text */
    CHECK_STR(canonical_path("/test$file.text"), "/test%24file.text");
    /* unreserved characters are decoded back */
    CHECK_STR(canonical_path("/bkt/%7Euser%2Dx"), "/bkt/~user-x");
}

static void test_uri_canonical_path_never_normalises(void)
{
    CHECK_STR(canonical_path("/bkt/a//b"), "/bkt/a//b");
    CHECK_STR(canonical_path("/bkt/./x"), "/bkt/./x");
    CHECK_STR(canonical_path("/bkt/../x"), "/bkt/../x");
    CHECK_STR(canonical_path("/bkt/dir/"), "/bkt/dir/");
    CHECK_STR(canonical_path("/bkt/dir"), "/bkt/dir");
    CHECK_STR(canonical_path("/"), "/");
    CHECK_STR(canonical_path(""), "/");
}

static void test_uri_canonical_path_rejects_bad_input(void)
{
    CHECK(canonical_path("/bkt/a%zz") == NULL);
    CHECK(canonical_path("/bkt/a%") == NULL);
    CHECK(canonical_path("bkt/key") == NULL);
}

static void test_uri_canonical_query_sorting(void)
{
    CHECK_STR(canonical_query("prefix=J&max-keys=2", false), "max-keys=2&prefix=J");
    CHECK_STR(canonical_query("lifecycle", false), "lifecycle=");
    CHECK_STR(canonical_query("", false), "");
    /* same name sorts by value; names compare by bytes, so upper case first */
    CHECK_STR(canonical_query("b=2&b=1&a=&B=0", false), "B=0&a=&b=1&b=2");
    /* empty parameters are dropped */
    CHECK_STR(canonical_query("&a=1&&b&", false), "a=1&b=");
    /* only the first '=' splits name and value */
    CHECK_STR(canonical_query("a=b=c", false), "a=b%3Dc");
}

static void test_uri_canonical_query_encoding(void)
{
    /* '+' is a literal plus, not a space */
    CHECK_STR(canonical_query("prefix=a+b", false), "prefix=a%2Bb");
    CHECK_STR(canonical_query("prefix=a%20b", false), "prefix=a%20b");
    CHECK_STR(canonical_query("prefix=dir/sub", false), "prefix=dir%2Fsub");
    CHECK_STR(canonical_query("prefix=%7e", false), "prefix=~");
    CHECK_STR(canonical_query("response-content-type=text%2fplain", false),
              "response-content-type=text%2Fplain");
    /* sorting uses the encoded names: %2A sorts before A */
    CHECK_STR(canonical_query("A=1&*=2", false), "%2A=2&A=1");
}

static void test_uri_canonical_query_skips_signature(void)
{
    const char *q = "X-Amz-Signature=abc&X-Amz-Date=20130524T000000Z&X-Amz-Algorithm=AWS4-HMAC-SHA256";

    CHECK_STR(canonical_query(q, true), "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20130524T000000Z");
    CHECK_STR(canonical_query(q, false),
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20130524T000000Z&X-Amz-Signature=abc");
}

static void test_uri_canonical_query_rejects_bad_input(void)
{
    char *many;
    size_t n = 1025;

    CHECK(canonical_query("a=%zz", false) == NULL);
    CHECK(canonical_query("%g=1", false) == NULL);

    many = malloc(2 * n + 1);
    CHECK(many != NULL);
    if (many == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        many[2 * i] = 'a';
        many[2 * i + 1] = '&';
    }
    many[2 * n] = '\0';
    CHECK(s3_uri_canonical_query(many, 2 * n, false, out, sizeof(out), &out_len) == CORE_TOO_LARGE);
    free(many);
}

int main(void)
{
    RUN_TEST(test_uri_decode_once);
    RUN_TEST(test_uri_decode_rejects_invalid_escapes);
    RUN_TEST(test_uri_decode_reports_small_buffer);
    RUN_TEST(test_uri_encode_rules);
    RUN_TEST(test_uri_canonical_path_special_keys);
    RUN_TEST(test_uri_canonical_path_never_normalises);
    RUN_TEST(test_uri_canonical_path_rejects_bad_input);
    RUN_TEST(test_uri_canonical_query_sorting);
    RUN_TEST(test_uri_canonical_query_encoding);
    RUN_TEST(test_uri_canonical_query_skips_signature);
    RUN_TEST(test_uri_canonical_query_rejects_bad_input);
    return test_finish();
}
