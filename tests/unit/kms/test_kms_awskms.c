/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the AWS KMS provider parts that need no server: request signing against a SigV4 vector
 * computed by botocore, request bodies, response parsing, error mapping and settings checks. The file
 * includes kms/kms_awskms.c to reach its static helpers. tests/integration/kms_awskms.sh runs the provider
 * against moto's KMS.
 */
#include "kms/kms_awskms.c"

#include "../crypto/test_check.h"

/*
 * Inputs of tests/vectors/awskms_sigv4.py; its output (botocore 1.43.11) gives the expected values below.
 * botocore separates the three Authorization fields with ", " and s3seal's signer with ",": both are
 * valid SigV4, and the fields themselves are copied unchanged.
 */
#define VECTOR_BODY                                                                                          \
    "{\"KeyId\":\"alias/s3seal\",\"KeySpec\":\"AES_256\","                                                   \
    "\"EncryptionContext\":{\"s3seal-context\":\"YnVja2V0L2tleQ==\"}}"
#define VECTOR_TIME ((time_t)1714564800) /* 2024-05-01T12:00:00Z */
#define VECTOR_BODY_SHA256 "4833d7f10bc6101411eb6f631b11d1c50782f93bb53fbcc314e609f62ede8276"
#define VECTOR_TOKEN "FQoGZXIvYXdzEXAMPLETOKEN"
#define VECTOR_AUTH_NO_TOKEN                                                                                 \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/eu-west-1/kms/aws4_request,"                           \
    "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target,"                         \
    "Signature=38cc63007af476e5b3dd3f915c2973e2f8e732d4964fde603b56c7fa559e35ef"
#define VECTOR_AUTH_TOKEN                                                                                    \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/eu-west-1/kms/aws4_request,"                           \
    "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target,"    \
    "Signature=c2376bfffe2dd8094f5960eccdc33f631c1bb7630e97efdbe2f2e35e7c0bcc78"

static char vector_host[] = "127.0.0.1:4566";
static char vector_region[] = "eu-west-1";
static char vector_access_key_id[] = "AKIDEXAMPLE";
static char vector_secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static char vector_token[] = VECTOR_TOKEN;

static struct kms_awskms vector_provider(char *session_token)
{
    struct kms_awskms k = {
        .host = vector_host,
        .region = vector_region,
        .access_key_id = vector_access_key_id,
        .secret_access_key = vector_secret,
        .session_token = session_token,
    };

    return k;
}

/* Returns the index of line in list, or -1. */
static int header_index(const struct curl_slist *list, const char *line)
{
    int i = 0;

    for (const struct curl_slist *h = list; h != NULL; h = h->next, i++) {
        if (strcmp(h->data, line) == 0) {
            return i;
        }
    }
    return -1;
}

static int header_count(const struct curl_slist *list)
{
    int n = 0;

    for (; list != NULL; list = list->next) {
        n++;
    }
    return n;
}

static void test_signing_matches_botocore(void)
{
    struct kms_awskms k = vector_provider(NULL);
    struct curl_slist *list = NULL;

    CHECK(build_headers(&k, "GenerateDataKey", VECTOR_BODY, strlen(VECTOR_BODY), VECTOR_TIME, &list) == CORE_OK);
    CHECK(header_index(list, "Authorization: " VECTOR_AUTH_NO_TOKEN) >= 0);
    CHECK(header_index(list, "Content-Type: application/x-amz-json-1.1") >= 0);
    CHECK(header_index(list, "Host: 127.0.0.1:4566") >= 0);
    CHECK(header_index(list, "X-Amz-Content-Sha256: " VECTOR_BODY_SHA256) >= 0);
    CHECK(header_index(list, "X-Amz-Date: 20240501T120000Z") >= 0);
    CHECK(header_index(list, "X-Amz-Target: TrentService.GenerateDataKey") >= 0);
    CHECK(header_index(list, "Expect:") >= 0);
    /* the five signed headers, Authorization and Expect, and no X-Amz-Security-Token */
    CHECK(header_count(list) == 7);
    free_headers(list);
}

static void test_signing_with_session_token(void)
{
    struct kms_awskms k = vector_provider(vector_token);
    struct curl_slist *list = NULL;

    CHECK(build_headers(&k, "GenerateDataKey", VECTOR_BODY, strlen(VECTOR_BODY), VECTOR_TIME, &list) == CORE_OK);
    CHECK(header_index(list, "Authorization: " VECTOR_AUTH_TOKEN) >= 0);
    CHECK(header_index(list, "X-Amz-Security-Token: " VECTOR_TOKEN) >= 0);
    CHECK(header_count(list) == 8);
    free_headers(list);
}

static void test_signing_changes_with_body(void)
{
    struct kms_awskms k = vector_provider(NULL);
    struct curl_slist *list = NULL;
    static const char other[] = "{\"KeyId\":\"alias/s3seal\"}";

    CHECK(build_headers(&k, "GenerateDataKey", other, strlen(other), VECTOR_TIME, &list) == CORE_OK);
    CHECK(header_index(list, "Authorization: " VECTOR_AUTH_NO_TOKEN) < 0);
    free_headers(list);
}

/* Serializes r as build requests do and compares with expected; releases r. */
static bool dumps_as(json_t *r, const char *expected)
{
    char *body = NULL;
    size_t len = 0;
    bool same;

    if (r == NULL || dump_json(r, &body, &len) != CORE_OK) {
        json_decref(r);
        return false;
    }
    same = len == strlen(expected) && memcmp(body, expected, len) == 0;
    if (!same) {
        fprintf(stderr, "body %.*s\nexpected %s\n", (int)len, body, expected);
    }
    free(body);
    json_decref(r);
    return same;
}

static void test_request_bodies(void)
{
    static const uint8_t context[] = "bucket/key";
    static const uint8_t blob[] = {1, 2, 3};
    uint8_t dek[KMS_DEK_LEN] = {0};

    /* the vector's body is exactly what the provider posts for GenerateDataKey */
    CHECK(dumps_as(generate_request("alias/s3seal", context, sizeof(context) - 1), VECTOR_BODY));
    CHECK(dumps_as(generate_request("alias/s3seal", NULL, 0), "{\"KeyId\":\"alias/s3seal\",\"KeySpec\":\"AES_256\"}"));
    CHECK(dumps_as(encrypt_request("k1", dek, context, sizeof(context) - 1),
                   "{\"KeyId\":\"k1\",\"Plaintext\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
                   "\"EncryptionContext\":{\"s3seal-context\":\"YnVja2V0L2tleQ==\"}}"));
    CHECK(dumps_as(decrypt_request("arn:k1", blob, sizeof(blob), context, sizeof(context) - 1),
                   "{\"KeyId\":\"arn:k1\",\"CiphertextBlob\":\"AQID\","
                   "\"EncryptionContext\":{\"s3seal-context\":\"YnVja2V0L2tleQ==\"}}"));
    CHECK(dumps_as(reencrypt_request("arn:k1", blob, sizeof(blob), context, sizeof(context) - 1, "alias/new",
                                     (const uint8_t *)"b/k2", 4),
                   "{\"CiphertextBlob\":\"AQID\",\"SourceKeyId\":\"arn:k1\","
                   "\"SourceEncryptionContext\":{\"s3seal-context\":\"YnVja2V0L2tleQ==\"},"
                   "\"DestinationKeyId\":\"alias/new\","
                   "\"DestinationEncryptionContext\":{\"s3seal-context\":\"Yi9rMg==\"}}"));
    /* a key id with a quote stays one JSON string */
    CHECK(dumps_as(generate_request("a\"b", NULL, 0), "{\"KeyId\":\"a\\\"b\",\"KeySpec\":\"AES_256\"}"));
}

static void test_error_types_map(void)
{
    static const struct {
        long status;
        const char *type;
        enum core_err expected;
    } cases[] = {
        {400, "AccessDeniedException", CORE_KMS_DENIED},
        {400, "UnrecognizedClientException", CORE_KMS_DENIED},
        {400, "InvalidSignatureException", CORE_KMS_DENIED},
        {400, "ExpiredTokenException", CORE_KMS_DENIED},
        {400, "ThrottlingException", CORE_KMS_UNAVAILABLE},
        {500, "KMSInternalException", CORE_KMS_UNAVAILABLE},
        {500, "DependencyTimeoutException", CORE_KMS_UNAVAILABLE},
        {500, "KeyUnavailableException", CORE_KMS_UNAVAILABLE},
        {400, "InvalidCiphertextException", CORE_CRYPTO},
        {400, "IncorrectKeyException", CORE_CRYPTO},
        {400, "NotFoundException", CORE_KMS},
        {400, "DisabledException", CORE_KMS},
        {400, "KMSInvalidStateException", CORE_KMS},
        {400, "InvalidKeyUsageException", CORE_KMS},
        {400, "ValidationException", CORE_KMS},
        /* unknown types fall back to the status */
        {503, "", CORE_KMS_UNAVAILABLE},
        {502, "SomethingNew", CORE_KMS_UNAVAILABLE},
        {429, "", CORE_KMS_UNAVAILABLE},
        {403, "", CORE_KMS_DENIED},
        {400, "SomethingNew", CORE_KMS},
        {404, "", CORE_KMS},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum core_err got = map_error(cases[i].status, cases[i].type);

        if (got != cases[i].expected) {
            fprintf(stderr, "status %ld type '%s': got %s\n", cases[i].status, cases[i].type, core_err_str(got));
        }
        CHECK(got == cases[i].expected);
    }
}

static void test_transfer_failures_map(void)
{
    CHECK(map_curl_error(CURLE_COULDNT_CONNECT) == CORE_KMS_UNAVAILABLE);
    CHECK(map_curl_error(CURLE_OPERATION_TIMEDOUT) == CORE_KMS_UNAVAILABLE);
    CHECK(map_curl_error(CURLE_GOT_NOTHING) == CORE_KMS_UNAVAILABLE);
    CHECK(map_curl_error(CURLE_RECV_ERROR) == CORE_KMS_UNAVAILABLE);
    CHECK(map_curl_error(CURLE_COULDNT_RESOLVE_HOST) == CORE_KMS_UNAVAILABLE);
    CHECK(map_curl_error(CURLE_WRITE_ERROR) == CORE_KMS);
    CHECK(map_curl_error(CURLE_PEER_FAILED_VERIFICATION) == CORE_KMS);
}

static void test_error_type_spellings(void)
{
    char type[96];
    static const char namespaced[] = "com.amazonaws.kms#NotFoundException";
    static const char header[] = "InvalidSignatureException:http://internal.amazon.com/coral/\r\n";

    copy_error_type(namespaced, strlen(namespaced), type, sizeof(type));
    CHECK(strcmp(type, "NotFoundException") == 0);
    copy_error_type(header, strlen(header), type, sizeof(type));
    CHECK(strcmp(type, "InvalidSignatureException") == 0);
    copy_error_type("ThrottlingException\r\n", 21, type, sizeof(type));
    CHECK(strcmp(type, "ThrottlingException") == 0);
}

/* Parses text with the flags call_kms uses; NULL when it is not JSON. */
static json_t *parse(const char *text)
{
    json_error_t e;

    return json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, &e);
}

static void test_error_answer_read(void)
{
    struct response resp = {0};
    struct call_result res = {0};
    json_t *reply = parse("{\"__type\":\"com.amazonaws.kms#DisabledException\",\"message\":\"key is disabled\"}");

    read_error_reply(&resp, reply, &res);
    CHECK(strcmp(res.error_type, "DisabledException") == 0);
    CHECK(strcmp(res.message, "key is disabled") == 0);
    json_decref(reply);

    /* a body that is not JSON: the type comes from X-Amzn-ErrorType */
    memset(&res, 0, sizeof(res));
    snprintf(resp.error_type_header, sizeof(resp.error_type_header), "ThrottlingException");
    read_error_reply(&resp, NULL, &res);
    CHECK(strcmp(res.error_type, "ThrottlingException") == 0);
    CHECK(res.message[0] == '\0');
}

static void test_generate_answer_parsed(void)
{
    json_t *reply = parse("{\"CiphertextBlob\":\"AQIDBA==\",\"KeyId\":\"arn:aws:kms:eu-west-1:1:key/k\","
                           "\"Plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}");
    struct call_result res = {0};
    uint8_t blob[16];
    size_t blob_len = 0;
    char key_id[64];
    uint8_t dek[KMS_DEK_LEN];
    size_t dek_len = 0;

    CHECK(get_blob_and_key(reply, blob, sizeof(blob), &blob_len, key_id, sizeof(key_id), &res) == CORE_OK);
    CHECK(blob_len == 4);
    CHECK(blob[0] == 1);
    CHECK(blob[3] == 4);
    CHECK(strcmp(key_id, "arn:aws:kms:eu-west-1:1:key/k") == 0);
    CHECK(get_dek(reply, dek, sizeof(dek), &dek_len, &res) == CORE_OK);
    CHECK(dek_len == KMS_DEK_LEN);
    CHECK(dek[0] == 0);
    CHECK(dek[31] == 31);

    /* a key id that does not fit, and a blob that does not fit */
    CHECK(get_blob_and_key(reply, blob, sizeof(blob), &blob_len, key_id, 8, &res) == CORE_TOO_LARGE);
    CHECK(get_blob_and_key(reply, blob, 2, &blob_len, key_id, sizeof(key_id), &res) == CORE_KMS);
    json_decref(reply);
}

static void test_bad_answers_rejected(void)
{
    static const struct {
        const char *text;
        enum core_err expected;
    } dek_cases[] = {
        {"{\"Plaintext\":\"AAECAwQFBgcICQoLDA0ODw==\"}", CORE_CRYPTO}, /* 16 bytes */
        {"{\"Plaintext\":\"not base64!\"}", CORE_KMS},
        {"{\"Plaintext\":17}", CORE_KMS},
        {"{}", CORE_KMS},
    };
    struct call_result res = {0};
    uint8_t blob[16];
    size_t len = 0;
    char key_id[64];
    uint8_t dek[KMS_DEK_LEN];

    for (size_t i = 0; i < sizeof(dek_cases) / sizeof(dek_cases[0]); i++) {
        json_t *reply = parse(dek_cases[i].text);

        CHECK(reply != NULL);
        CHECK(get_dek(reply, dek, sizeof(dek), &len, &res) == dek_cases[i].expected);
        json_decref(reply);
    }

    json_t *no_key = parse("{\"CiphertextBlob\":\"AQIDBA==\"}");
    CHECK(get_blob_and_key(no_key, blob, sizeof(blob), &len, key_id, sizeof(key_id), &res) == CORE_KMS);
    json_decref(no_key);

    json_t *nul_key = parse("{\"CiphertextBlob\":\"AQIDBA==\",\"KeyId\":\"a\\u0000b\"}");
    CHECK(get_blob_and_key(nul_key, blob, sizeof(blob), &len, key_id, sizeof(key_id), &res) == CORE_KMS);
    json_decref(nul_key);

    /* a repeated name is not a KMS reply */
    CHECK(parse("{\"KeyId\":\"a\",\"KeyId\":\"b\"}") == NULL);
}

static void test_answer_size_capped(void)
{
    struct response resp = {0};
    static char chunk[4096];

    for (size_t i = 0; i < RESPONSE_MAX / sizeof(chunk); i++) {
        CHECK(on_body(chunk, 1, sizeof(chunk), &resp) == sizeof(chunk));
    }
    CHECK(!resp.too_large);
    CHECK(on_body(chunk, 1, 1, &resp) == 0);
    CHECK(resp.too_large);
    response_cleanup(&resp);
}

/* Parses endpoint and returns the Host header it gives, or "" when rejected. */
static const char *host_of(const char *endpoint, char *out, size_t cap)
{
    struct kms_awskms k = {0};
    char err[512];

    out[0] = '\0';
    if (parse_endpoint(&k, endpoint, err, sizeof(err)) == CORE_OK) {
        snprintf(out, cap, "%s", k.host);
    }
    free(k.host);
    return out;
}

static void test_endpoints_parsed(void)
{
    char host[128];

    CHECK(strcmp(host_of("http://127.0.0.1:4566", host, sizeof(host)), "127.0.0.1:4566") == 0);
    CHECK(strcmp(host_of("http://127.0.0.1:4566/", host, sizeof(host)), "127.0.0.1:4566") == 0);
    CHECK(strcmp(host_of("http://[::1]:8080/", host, sizeof(host)), "[::1]:8080") == 0);
    /* parsed only, never contacted: the public form that docs/KEYS.md shows */
    CHECK(strcmp(host_of("https://kms.eu-west-1.amazonaws.com", host, sizeof(host)),
                 "kms.eu-west-1.amazonaws.com") == 0);
    CHECK(strcmp(host_of("ftp://127.0.0.1/", host, sizeof(host)), "") == 0);
    CHECK(strcmp(host_of("http://127.0.0.1:4566/kms", host, sizeof(host)), "") == 0);
    CHECK(strcmp(host_of("http://127.0.0.1:4566/?a=b", host, sizeof(host)), "") == 0);
    CHECK(strcmp(host_of("http://user:pw@127.0.0.1:4566/", host, sizeof(host)), "") == 0);
    CHECK(strcmp(host_of("not a url", host, sizeof(host)), "") == 0);
}

static void test_settings_checked(void)
{
    struct kms_awskms_settings s = {
        .endpoint = "http://127.0.0.1:1",
        .region = "us-east-1",
        .key_id = "alias/s3seal",
        .access_key_id = "AKID",
        .secret_access_key = "secret",
    };
    struct kms_provider *p = (struct kms_provider *)&s; /* overwritten with NULL on failure */
    char err[512] = "";

    CHECK(check_settings(&s, err, sizeof(err)) == CORE_OK);

    s.key_id = NULL;
    CHECK(kms_awskms_load(&s, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(p == NULL);
    CHECK(strstr(err, "S3SEAL_AWSKMS_KEY_ID") != NULL);
    s.key_id = "alias/s3seal";

    s.secret_access_key = "";
    CHECK(check_settings(&s, err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "S3SEAL_AWSKMS_SECRET_ACCESS_KEY") != NULL);
    s.secret_access_key = "secret";

    s.endpoint = "http://127.0.0.1:1/path";
    CHECK(kms_awskms_load(&s, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "S3SEAL_AWSKMS_ENDPOINT") != NULL);
    /* the secret never reaches a message */
    CHECK(strstr(err, "secret") == NULL);
}

int main(void)
{
    RUN(test_signing_matches_botocore);
    RUN(test_signing_with_session_token);
    RUN(test_signing_changes_with_body);
    RUN(test_request_bodies);
    RUN(test_error_types_map);
    RUN(test_transfer_failures_map);
    RUN(test_error_type_spellings);
    RUN(test_error_answer_read);
    RUN(test_generate_answer_parsed);
    RUN(test_bad_answers_rejected);
    RUN(test_answer_size_capped);
    RUN(test_endpoints_parsed);
    RUN(test_settings_checked);
    return TEST_RESULT();
}
