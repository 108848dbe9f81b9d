/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the SSE-C header parser (s3/s3_ssec.h). */
#include <string.h>

#include "s3/s3_ssec.h"
#include "test_check.h"

/* base64 of the 32 bytes 0x00..0x1f, and base64 of their MD5 */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_MD5_B64 "tP/LI3N87DFaSk0aoqYgzg=="

static struct s3_header header(const char *name, const char *value)
{
    struct s3_header h = {name, strlen(name), value, strlen(value)};

    return h;
}

/* Parses up to three headers of the object set. */
static enum core_err parse(const char *algorithm, const char *key, const char *md5, struct s3_ssec *out,
                           const char **message)
{
    struct s3_header headers[3];
    size_t n = 0;
    struct s3_request req = {.method = "PUT", .target = "/b/k", .target_len = 4};

    if (algorithm != NULL) {
        headers[n++] = header("x-amz-server-side-encryption-customer-algorithm", algorithm);
    }
    if (key != NULL) {
        headers[n++] = header("X-Amz-Server-Side-Encryption-Customer-Key", key);
    }
    if (md5 != NULL) {
        headers[n++] = header("x-amz-server-side-encryption-customer-key-MD5", md5);
    }
    req.headers = headers;
    req.header_count = n;
    return s3_ssec_parse(&req, S3_SSEC_OBJECT, out, message);
}

static void test_valid_key(void)
{
    struct s3_ssec ssec;
    const char *message = NULL;

    CHECK(parse("AES256", KEY_B64, KEY_MD5_B64, &ssec, &message) == CORE_OK);
    CHECK(ssec.present);
    CHECK(ssec.key[0] == 0x00);
    CHECK(ssec.key[31] == 0x1f);
    CHECK_STR(ssec.key_md5, KEY_MD5_B64);
    s3_ssec_wipe(&ssec);
    CHECK(!ssec.present);
    CHECK(ssec.key[31] == 0);
}

static void test_no_headers(void)
{
    struct s3_ssec ssec;
    const char *message = "unset";

    CHECK(parse(NULL, NULL, NULL, &ssec, &message) == CORE_OK);
    CHECK(!ssec.present);
    CHECK(message == NULL);
}

static void test_rejections(void)
{
    struct s3_ssec ssec;
    const char *message = NULL;

    CHECK(parse("AES256", KEY_B64, NULL, &ssec, &message) == CORE_CLIENT);
    CHECK(message != NULL);
    CHECK(strstr(message, "together") != NULL);
    CHECK(parse(NULL, KEY_B64, KEY_MD5_B64, &ssec, &message) == CORE_CLIENT);
    CHECK(parse("aws:kms", KEY_B64, KEY_MD5_B64, &ssec, &message) == CORE_CLIENT);
    CHECK(message != NULL);
    CHECK(strstr(message, "AES256") != NULL);

    /* 16 bytes, not base64, and 33 bytes */
    CHECK(parse("AES256", "AAECAwQFBgcICQoLDA0ODw==", KEY_MD5_B64, &ssec, &message) == CORE_CLIENT);
    CHECK(message != NULL);
    CHECK(strstr(message, "32 bytes") != NULL);
    CHECK(parse("AES256", "not base64!", KEY_MD5_B64, &ssec, &message) == CORE_CLIENT);
    CHECK(parse("AES256", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", KEY_MD5_B64, &ssec, &message) ==
          CORE_CLIENT);

    /* the MD5 of another key, and one that is not base64 */
    CHECK(parse("AES256", KEY_B64, "1B2M2Y8AsgTpgAmY7PhCfg==", &ssec, &message) == CORE_CLIENT);
    CHECK(message != NULL);
    CHECK(strstr(message, "MD5") != NULL);
    CHECK(!ssec.present);
    CHECK(ssec.key[31] == 0);
    CHECK(parse("AES256", KEY_B64, "???", &ssec, &message) == CORE_CLIENT);
}

static void test_copy_source_set_and_header_names(void)
{
    struct s3_header headers[3] = {
        header("x-amz-copy-source-server-side-encryption-customer-algorithm", "AES256"),
        header("x-amz-copy-source-server-side-encryption-customer-key", KEY_B64),
        header("x-amz-copy-source-server-side-encryption-customer-key-md5", KEY_MD5_B64),
    };
    struct s3_request req = {.method = "PUT", .target = "/b/k", .target_len = 4, .headers = headers,
                             .header_count = 3};
    struct s3_ssec ssec;
    const char *message = NULL;

    CHECK(s3_ssec_parse(&req, S3_SSEC_OBJECT, &ssec, &message) == CORE_OK);
    CHECK(!ssec.present);
    CHECK(s3_ssec_parse(&req, S3_SSEC_COPY_SOURCE, &ssec, &message) == CORE_OK);
    CHECK(ssec.present);

    CHECK(s3_ssec_is_header(headers[1].name, headers[1].name_len));
    CHECK(s3_ssec_is_header("X-Amz-Server-Side-Encryption-Customer-Key", 41));
    CHECK(!s3_ssec_is_header("x-amz-server-side-encryption", 28));
    CHECK(!s3_ssec_is_header("x-amz-server-side-encryption-aws-kms-key-id", 43));
}

int main(void)
{
    test_valid_key();
    test_no_headers();
    test_rejections();
    test_copy_source_set_and_header_names();
    return test_finish();
}
