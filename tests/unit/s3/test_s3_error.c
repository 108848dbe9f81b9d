/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the S3 error table and the XML error body. */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_error.h"
#include "test_check.h"

static void test_error_status_table(void)
{
    CHECK(s3_error_status(S3_ERR_NONE) == 200);
    CHECK(s3_error_status(S3_ERR_ACCESS_DENIED) == 403);
    CHECK(s3_error_status(S3_ERR_SIGNATURE_DOES_NOT_MATCH) == 403);
    CHECK(s3_error_status(S3_ERR_REQUEST_TIME_TOO_SKEWED) == 403);
    CHECK(s3_error_status(S3_ERR_AUTHORIZATION_HEADER_MALFORMED) == 400);
    CHECK(s3_error_status(S3_ERR_MISSING_CONTENT_LENGTH) == 411);
    CHECK(s3_error_status(S3_ERR_INVALID_RANGE) == 416);
    CHECK(s3_error_status(S3_ERR_NOT_IMPLEMENTED) == 501);
    CHECK(s3_error_status(S3_ERR_METHOD_NOT_ALLOWED) == 405);
    CHECK(s3_error_status(S3_ERR_PRECONDITION_FAILED) == 412);
    CHECK(s3_error_status(S3_ERR_SLOW_DOWN) == 503);
    CHECK(s3_error_status(S3_ERR_UPSTREAM_UNAVAILABLE) == 502);
    CHECK(s3_error_status(S3_ERR_KMS) == 503);
    CHECK(s3_error_status(S3_ERR_OBJECT_INTEGRITY) == 500);
    CHECK(s3_error_status((enum s3_error_code)9999) == 500);
}

static void test_error_names_table(void)
{
    CHECK_STR(s3_error_name(S3_ERR_NONE), "");
    CHECK_STR(s3_error_name(S3_ERR_SIGNATURE_DOES_NOT_MATCH), "SignatureDoesNotMatch");
    CHECK_STR(s3_error_name(S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH), "XAmzContentSHA256Mismatch");
    CHECK_STR(s3_error_name(S3_ERR_MISSING_SECURITY_HEADER), "MissingSecurityHeader");
    CHECK_STR(s3_error_name(S3_ERR_KMS), "ServiceUnavailable");
    CHECK_STR(s3_error_name(S3_ERR_UPSTREAM_UNAVAILABLE), "ServiceUnavailable");
    CHECK_STR(s3_error_name(S3_ERR_OBJECT_INTEGRITY), "InternalError");
    CHECK_STR(s3_error_name(S3_ERR_KEY_TOO_LONG), "KeyTooLong");
    CHECK_STR(s3_error_name((enum s3_error_code) - 1), "InternalError");

    /* every code has a name and a message */
    for (int code = 1; code < S3_ERR_COUNT; code++) {
        CHECK(strlen(s3_error_name((enum s3_error_code)code)) > 0);
        CHECK(strlen(s3_error_message((enum s3_error_code)code)) > 0);
        CHECK(s3_error_status((enum s3_error_code)code) >= 400);
    }
}

static void test_error_xml_default_message(void)
{
    char *xml = NULL;
    size_t len = 0;

    CHECK(s3_error_xml(S3_ERR_ACCESS_DENIED, NULL, "/bkt/key", "req-1", NULL, 0, &xml, &len) == CORE_OK);
    CHECK_STR(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
                   "<Resource>/bkt/key</Resource><RequestId>req-1</RequestId></Error>");
    CHECK(xml != NULL);
    CHECK(xml == NULL || len == strlen(xml));
    free(xml);
}

static void test_error_xml_escapes_values(void)
{
    char *xml = NULL;
    size_t len = 0;

    CHECK(s3_error_xml(S3_ERR_INVALID_ARGUMENT, "a<b & \"c\" 'd'>", "/b/k&<>", NULL, NULL, 0, &xml, &len) ==
          CORE_OK);
    CHECK_STR(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<Error><Code>InvalidArgument</Code>"
                   "<Message>a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;</Message>"
                   "<Resource>/b/k&amp;&lt;&gt;</Resource></Error>");
    free(xml);
}

static void test_error_xml_replaces_invalid_characters(void)
{
    char *xml = NULL;
    size_t len = 0;

    /* a control character, a lone continuation byte, then valid UTF-8 (e-acute) and CR */
    CHECK(s3_error_xml(S3_ERR_INVALID_URI, "x\x01y\x80z\xC3\xA9\r", NULL, NULL, NULL, 0, &xml, &len) ==
          CORE_OK);
    CHECK_CONTAINS(xml, "<Message>x\xEF\xBF\xBDy\xEF\xBF\xBDz\xC3\xA9&#13;</Message>");
    free(xml);

    /* an overlong encoding of '/' and a truncated sequence */
    CHECK(s3_error_xml(S3_ERR_INVALID_URI, "\xC0\xAF\xE2\x82", NULL, NULL, NULL, 0, &xml, &len) == CORE_OK);
    CHECK_CONTAINS(xml, "<Message>\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD</Message>");
    free(xml);
}

static void test_error_xml_extra_fields(void)
{
    const struct s3_error_extra extra[] = {
        {"RequestTime", "20130524T000000Z"},
        {"ServerTime", "2013-05-24T00:20:00Z"},
        {"MaxAllowedSkewMilliseconds", "900000"},
        {"AWSAccessKeyId", "AK<&>"},
    };
    char *xml = NULL;
    size_t len = 0;

    CHECK(s3_error_xml(S3_ERR_REQUEST_TIME_TOO_SKEWED, NULL, "/", "r2", extra, 4, &xml, &len) == CORE_OK);
    CHECK_CONTAINS(xml, "<Code>RequestTimeTooSkewed</Code>");
    CHECK_CONTAINS(xml, "<RequestId>r2</RequestId><RequestTime>20130524T000000Z</RequestTime>"
                        "<ServerTime>2013-05-24T00:20:00Z</ServerTime>"
                        "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>"
                        "<AWSAccessKeyId>AK&lt;&amp;&gt;</AWSAccessKeyId></Error>");
    free(xml);
}

static void test_error_xml_rejects_bad_input(void)
{
    const struct s3_error_extra bad_name[] = {{"Bad Name", "v"}};
    const struct s3_error_extra markup_name[] = {{"a><b", "v"}};
    char sentinel[] = "sentinel";
    char *xml = sentinel;
    size_t len = 1;

    CHECK(s3_error_xml(S3_ERR_NONE, NULL, NULL, NULL, NULL, 0, &xml, &len) == CORE_INTERNAL);
    CHECK(xml == NULL);
    CHECK(len == 0);
    CHECK(s3_error_xml(S3_ERR_COUNT, NULL, NULL, NULL, NULL, 0, &xml, &len) == CORE_INTERNAL);
    CHECK(s3_error_xml(S3_ERR_ACCESS_DENIED, NULL, NULL, NULL, bad_name, 1, &xml, &len) == CORE_INTERNAL);
    CHECK(s3_error_xml(S3_ERR_ACCESS_DENIED, NULL, NULL, NULL, markup_name, 1, &xml, &len) == CORE_INTERNAL);
    CHECK(xml == NULL);
}

static void test_error_xml_rejects_huge_body(void)
{
    size_t n = 70 * 1024;
    char *big = malloc(n + 1);
    char *xml = NULL;
    size_t len = 0;

    CHECK(big != NULL);
    if (big == NULL) {
        return;
    }
    memset(big, 'a', n);
    big[n] = '\0';
    CHECK(s3_error_xml(S3_ERR_INVALID_ARGUMENT, big, NULL, NULL, NULL, 0, &xml, &len) == CORE_TOO_LARGE);
    CHECK(xml == NULL);
    free(big);
}

int main(void)
{
    RUN_TEST(test_error_status_table);
    RUN_TEST(test_error_names_table);
    RUN_TEST(test_error_xml_default_message);
    RUN_TEST(test_error_xml_escapes_values);
    RUN_TEST(test_error_xml_replaces_invalid_characters);
    RUN_TEST(test_error_xml_extra_fields);
    RUN_TEST(test_error_xml_rejects_bad_input);
    RUN_TEST(test_error_xml_rejects_huge_body);
    return test_finish();
}
