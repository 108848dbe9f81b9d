/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the parts of the Vault transit provider that need no server: setting checks, request bodies,
 * reply parsing and the mapping of HTTP statuses to error codes, on canned inputs. The source file is
 * included to reach its static helpers. The only connection made is to a closed loopback port.
 */
#include "kms/kms_vault.c"

#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/unit/crypto/test_check.h"

/* Parses JSON text made by a request builder; the test owns the result. */
static json_t *parse_json(const char *text)
{
    return json_loads(text, JSON_REJECT_DUPLICATES, NULL);
}

/* Decodes the base64 member name of object into out and returns its length, or -1. */
static long member_bytes(json_t *object, const char *name, uint8_t *out, size_t cap)
{
    const char *text = json_string_value(json_object_get(object, name));
    size_t len = 0;

    if (text == NULL || crypto_base64_decode(text, strlen(text), out, cap, &len) != CORE_OK) {
        return -1;
    }
    return (long)len;
}

static void test_key_names_follow_the_transit_pattern(void)
{
    char long_name[KMS_VAULT_KEY_NAME_MAX + 2];

    CHECK(key_name_is_valid("s3seal"));
    CHECK(key_name_is_valid("team-a.objects@2026_1"));
    CHECK(key_name_is_valid("k"));
    CHECK(!key_name_is_valid(""));
    CHECK(!key_name_is_valid("-leading"));
    CHECK(!key_name_is_valid("trailing."));
    CHECK(!key_name_is_valid("a/b"));
    CHECK(!key_name_is_valid("a b"));
    CHECK(!key_name_is_valid("a%2fb"));

    memset(long_name, 'k', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    CHECK(!key_name_is_valid(long_name));
    long_name[KMS_VAULT_KEY_NAME_MAX] = '\0';
    CHECK(key_name_is_valid(long_name));
}

static void test_mounts_reject_empty_and_dot_segments(void)
{
    CHECK(mount_is_valid("transit"));
    CHECK(mount_is_valid("team-a/transit.v2"));
    CHECK(!mount_is_valid(""));
    CHECK(!mount_is_valid("/transit"));
    CHECK(!mount_is_valid("transit/"));
    CHECK(!mount_is_valid("a//b"));
    CHECK(!mount_is_valid("a/../b"));
    CHECK(!mount_is_valid("."));
    CHECK(!mount_is_valid("tran sit"));
    CHECK(!mount_is_valid("transit?x=1"));
}

/* Only parses the strings: check_addr sends nothing. */
static void test_addr_needs_https_except_on_loopback(void)
{
    char err[512];

    CHECK(check_addr("https://vault.example:8200", err, sizeof(err)) == CORE_OK);
    CHECK(check_addr("https://vault.example:8200/", err, sizeof(err)) == CORE_OK);
    CHECK(check_addr("http://127.0.0.1:8200", err, sizeof(err)) == CORE_OK);
    CHECK(check_addr("http://[::1]:8200", err, sizeof(err)) == CORE_OK);
    CHECK(check_addr("http://localhost:8200", err, sizeof(err)) == CORE_OK);

    CHECK(check_addr("http://vault.example:8200", err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "use https://") != NULL);
    CHECK(check_addr("http://127.0.0.1.vault.example:8200", err, sizeof(err)) == CORE_CONFIG);
    CHECK(check_addr("http://127.8.9.10:8200", err, sizeof(err)) == CORE_OK);
    CHECK(check_addr("ftp://127.0.0.1", err, sizeof(err)) == CORE_CONFIG);
    CHECK(check_addr("https://vault.example:8200/v1", err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "without a path") != NULL);
    CHECK(check_addr("https://vault.example:8200?x=1", err, sizeof(err)) == CORE_CONFIG);
    CHECK(check_addr("https://user@vault.example:8200", err, sizeof(err)) == CORE_CONFIG);
    CHECK(check_addr("not a url", err, sizeof(err)) == CORE_CONFIG);
}

static void test_ciphertext_form_is_checked(void)
{
    static const char *const good[] = {"vault:v1:AAAA", "vault:v12:YWJjZA==", "vault:v3:a+b/c="};
    static const char *const bad[] = {"", "vault:v1:", "vault:1:AAAA", "vault:v:AAAA", "vault:vx:AAAA",
                                      "vault:v1AAAA", "vault:v1:AA AA", "vault:v1:AA\nA", "other:v1:AAAA",
                                      "vault:v1:AA-_"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK(ciphertext_is_valid((const uint8_t *)good[i], strlen(good[i])));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(!ciphertext_is_valid((const uint8_t *)bad[i], strlen(bad[i])));
    }
}

static void test_statuses_map_to_error_codes(void)
{
    static const struct {
        enum vault_op op;
        long status;
        const char *message;
        enum core_err expected;
    } cases[] = {
        {VAULT_OP_ENCRYPT, 200, "", CORE_OK},
        {VAULT_OP_ENCRYPT, 204, "", CORE_OK},
        {VAULT_OP_ENCRYPT, 403, "permission denied", CORE_KMS_DENIED},
        {VAULT_OP_DECRYPT, 403, "permission denied", CORE_KMS_DENIED},
        {VAULT_OP_ENCRYPT, 429, "rate limit quota exceeded", CORE_KMS_UNAVAILABLE},
        {VAULT_OP_ENCRYPT, 500, "internal error", CORE_KMS_UNAVAILABLE},
        {VAULT_OP_DECRYPT, 503, "Vault is sealed", CORE_KMS_UNAVAILABLE},
        {VAULT_OP_DECRYPT, 400, "cipher: message authentication failed", CORE_CRYPTO},
        {VAULT_OP_DECRYPT, 400, "ciphertext or signature version is disallowed by policy (too old)", CORE_CRYPTO},
        {VAULT_OP_DECRYPT, 400, "invalid ciphertext: no prefix", CORE_CRYPTO},
        {VAULT_OP_DECRYPT, 400, "encryption key not found", CORE_KMS},
        {VAULT_OP_ENCRYPT, 400, "encryption key not found", CORE_KMS},
        {VAULT_OP_ENCRYPT, 400, "failed to base64-decode plaintext", CORE_KMS},
        {VAULT_OP_DATAKEY, 400, "invalid bits given", CORE_KMS},
        {VAULT_OP_READ_KEY, 404, "", CORE_KMS},
        {VAULT_OP_LOGIN, 400, "invalid role or secret ID", CORE_KMS_DENIED},
        {VAULT_OP_LOGIN, 500, "", CORE_KMS_UNAVAILABLE},
        {VAULT_OP_ENCRYPT, 301, "", CORE_KMS},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum core_err got = status_to_err(cases[i].op, cases[i].status, cases[i].message);

        if (got != cases[i].expected) {
            fprintf(stderr, "case %zu: status %ld \"%s\" gave %s\n", i, cases[i].status, cases[i].message,
                    core_err_str(got));
        }
        CHECK(got == cases[i].expected);
    }
}

static void test_first_server_error_is_extracted_and_cleaned(void)
{
    static const char body[] = "{\"errors\":[\"cipher: message authentication failed\",\"second\"]}";
    static const char control[] = "{\"errors\":[\"line\\none\\u0007\"]}";
    char out[SERVER_ERROR_MAX];
    char small[8];

    reply_first_error(body, strlen(body), out, sizeof(out));
    CHECK(strcmp(out, "cipher: message authentication failed") == 0);
    reply_first_error(control, strlen(control), out, sizeof(out));
    CHECK(strcmp(out, "line?one?") == 0);
    reply_first_error(body, strlen(body), small, sizeof(small));
    CHECK(strcmp(small, "cipher:") == 0);
    reply_first_error("{\"errors\":[]}", 13, out, sizeof(out));
    CHECK(strcmp(out, "(no error message)") == 0);
    reply_first_error("<html>", 6, out, sizeof(out));
    CHECK(strcmp(out, "(no JSON body)") == 0);
}

static void test_encrypt_request_carries_plaintext_and_associated_data(void)
{
    uint8_t dek[KMS_DEK_LEN];
    static const uint8_t context[] = "bucket\0key";
    uint8_t decoded[64];
    char *text = NULL;
    json_t *root;

    for (size_t i = 0; i < sizeof(dek); i++) {
        dek[i] = (uint8_t)(i * 7);
    }
    CHECK(encrypt_request_new(dek, sizeof(dek), context, sizeof(context) - 1, &text) == CORE_OK);
    root = parse_json(text);
    CHECK(root != NULL && json_object_size(root) == 2);
    CHECK(member_bytes(root, "plaintext", decoded, sizeof(decoded)) == KMS_DEK_LEN);
    CHECK(memcmp(decoded, dek, sizeof(dek)) == 0);
    /* the context is binary: its NUL byte must survive the base64 */
    CHECK(member_bytes(root, "associated_data", decoded, sizeof(decoded)) == (long)sizeof(context) - 1);
    CHECK(memcmp(decoded, context, sizeof(context) - 1) == 0);
    json_decref(root);
    free_secret(text);

    CHECK(encrypt_request_new(dek, sizeof(dek), NULL, 0, &text) == CORE_OK);
    root = parse_json(text);
    CHECK(root != NULL && json_object_get(root, "associated_data") == NULL);
    json_decref(root);
    free_secret(text);
}

static void test_decrypt_datakey_and_login_requests(void)
{
    static const uint8_t context[] = "ctx";
    uint8_t decoded[16];
    char *text = NULL;
    json_t *root;

    CHECK(decrypt_request_new("vault:v2:AAAA", context, 3, &text) == CORE_OK);
    root = parse_json(text);
    CHECK(root != NULL && strcmp(json_string_value(json_object_get(root, "ciphertext")), "vault:v2:AAAA") == 0);
    CHECK(member_bytes(root, "associated_data", decoded, sizeof(decoded)) == 3);
    json_decref(root);
    free_secret(text);

    CHECK(datakey_request_new(context, 3, &text) == CORE_OK);
    root = parse_json(text);
    CHECK(root != NULL && json_integer_value(json_object_get(root, "bits")) == 256);
    CHECK(member_bytes(root, "associated_data", decoded, sizeof(decoded)) == 3);
    CHECK(json_object_get(root, "plaintext") == NULL);
    json_decref(root);
    free_secret(text);

    CHECK(login_request_new("role \"x\"", "secret", &text) == CORE_OK);
    root = parse_json(text);
    /* a quote in a value is escaped, not able to end the string */
    CHECK(root != NULL && strcmp(json_string_value(json_object_get(root, "role_id")), "role \"x\"") == 0);
    CHECK(strcmp(json_string_value(json_object_get(root, "secret_id")), "secret") == 0);
    json_decref(root);
    free_secret(text);
}

static void test_ciphertext_replies_are_parsed_and_checked(void)
{
    uint8_t out[KMS_WRAPPED_MAX];
    size_t len = 0;
    json_t *root;

    root = parse_json("{\"data\":{\"ciphertext\":\"vault:v7:YWJjZA==\",\"key_version\":7}}");
    CHECK(parse_ciphertext(root, out, sizeof(out), &len) == CORE_OK);
    CHECK(len == strlen("vault:v7:YWJjZA=="));
    CHECK(memcmp(out, "vault:v7:YWJjZA==", len) == 0);
    CHECK(parse_ciphertext(root, out, 10, &len) == CORE_TOO_LARGE);
    json_decref(root);

    root = parse_json("{\"data\":{\"ciphertext\":\"plain text\"}}");
    CHECK(parse_ciphertext(root, out, sizeof(out), &len) == CORE_KMS);
    json_decref(root);
    root = parse_json("{\"data\":{}}");
    CHECK(parse_ciphertext(root, out, sizeof(out), &len) == CORE_KMS);
    json_decref(root);
    root = parse_json("{\"data\":{\"ciphertext\":42}}");
    CHECK(parse_ciphertext(root, out, sizeof(out), &len) == CORE_KMS);
    json_decref(root);
}

static void test_plaintext_replies_are_decoded(void)
{
    uint8_t out[KMS_DEK_LEN];
    size_t len = 0;
    json_t *root;

    root = parse_json("{\"data\":{\"plaintext\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}}");
    CHECK(parse_plaintext(root, out, sizeof(out), &len) == CORE_OK);
    CHECK(len == KMS_DEK_LEN);
    CHECK(out[0] == 0);
    CHECK(out[31] == 31);
    CHECK(parse_plaintext(root, out, 16, &len) == CORE_CRYPTO);
    json_decref(root);

    root = parse_json("{\"data\":{\"plaintext\":\"not base64!\"}}");
    CHECK(parse_plaintext(root, out, sizeof(out), &len) == CORE_CRYPTO);
    json_decref(root);
    root = parse_json("{\"errors\":[]}");
    CHECK(parse_plaintext(root, out, sizeof(out), &len) == CORE_KMS);
    json_decref(root);
}

static void test_login_replies_give_token_and_lease(void)
{
    char token[64];
    long long lease = -1;
    json_t *root;

    root = parse_json("{\"auth\":{\"client_token\":\"hvs.abc\",\"lease_duration\":3600,\"renewable\":true}}");
    CHECK(parse_login(root, token, sizeof(token), &lease) == CORE_OK);
    CHECK(strcmp(token, "hvs.abc") == 0);
    CHECK(lease == 3600);
    CHECK(parse_login(root, token, 4, &lease) == CORE_TOO_LARGE);
    json_decref(root);

    root = parse_json("{\"auth\":{\"client_token\":\"hvs.abc\"}}");
    CHECK(parse_login(root, token, sizeof(token), &lease) == CORE_OK);
    CHECK(lease == 0);
    json_decref(root);
    root = parse_json("{\"auth\":{\"client_token\":\"hvs.a\\r\\nX-Evil: 1\",\"lease_duration\":1}}");
    CHECK(parse_login(root, token, sizeof(token), &lease) == CORE_KMS);
    json_decref(root);
    root = parse_json("{\"auth\":{\"client_token\":\"t\",\"lease_duration\":-5}}");
    CHECK(parse_login(root, token, sizeof(token), &lease) == CORE_KMS);
    json_decref(root);
    root = parse_json("{\"auth\":null}");
    CHECK(parse_login(root, token, sizeof(token), &lease) == CORE_KMS);
    json_decref(root);
}

/* Writes text to a new file under dir with the given mode and returns its path in path. */
static void write_file(const char *dir, const char *name, const char *text, mode_t mode, char *path, size_t cap)
{
    FILE *f;

    snprintf(path, cap, "%s/%s", dir, name);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
    CHECK(chmod(path, mode) == 0);
}

static void test_secret_files_are_private_and_trimmed(void)
{
    char dir[] = "/tmp/s3seal-vault-test-XXXXXX";
    char path[512];
    char err[512];
    char *value = NULL;

    CHECK(mkdtemp(dir) != NULL);

    write_file(dir, "token", "hvs.file-token\n\n", 0600, path, sizeof(path));
    CHECK(load_secret("S3SEAL_VAULT_TOKEN", NULL, "S3SEAL_VAULT_TOKEN_FILE", path, &value, err, sizeof(err)) ==
          CORE_OK);
    CHECK(value != NULL && strcmp(value, "hvs.file-token") == 0);
    free_secret(value);
    unlink(path);

    write_file(dir, "open", "hvs.x\n", 0604, path, sizeof(path));
    CHECK(load_secret("S3SEAL_VAULT_TOKEN", NULL, "S3SEAL_VAULT_TOKEN_FILE", path, &value, err, sizeof(err)) ==
          CORE_CONFIG);
    CHECK(strstr(err, "accessible by others") != NULL && strstr(err, "hvs.x") == NULL);
    unlink(path);

    write_file(dir, "two", "a b\n", 0600, path, sizeof(path));
    CHECK(load_secret("S3SEAL_VAULT_TOKEN", NULL, "S3SEAL_VAULT_TOKEN_FILE", path, &value, err, sizeof(err)) ==
          CORE_CONFIG);
    unlink(path);

    CHECK(load_secret("S3SEAL_VAULT_TOKEN", "t", "S3SEAL_VAULT_TOKEN_FILE", "/nonexistent", &value, err,
                      sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "exactly one of") != NULL);
    CHECK(load_secret("S3SEAL_VAULT_TOKEN", NULL, "S3SEAL_VAULT_TOKEN_FILE", "/nonexistent/token", &value, err,
                      sizeof(err)) == CORE_CONFIG);
    CHECK(load_secret("S3SEAL_VAULT_TOKEN", "tok\r\nX: y", "S3SEAL_VAULT_TOKEN_FILE", NULL, &value, err,
                      sizeof(err)) == CORE_CONFIG);
    rmdir(dir);
}

/* Returns a loopback port that nothing listens on: bound, then closed. */
static int closed_loopback_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = 0;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static void test_load_reports_the_setting_at_fault(void)
{
    struct kms_vault_settings s = {.addr = "http://127.0.0.1:1", .key_name = "k", .token = "t"};
    struct kms_provider *p = NULL;
    char addr[64];
    char err[1024];

    s.addr = NULL;
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "S3SEAL_VAULT_ADDR") != NULL);
    s.addr = "http://127.0.0.1:1";
    s.key_name = "bad/name";
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "S3SEAL_VAULT_KEY_NAME") != NULL);
    s.key_name = "k";
    s.mount = "a/../b";
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "S3SEAL_VAULT_MOUNT") != NULL);
    s.mount = NULL;
    s.role_id = "r";
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "not both") != NULL);
    s.token = NULL;
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_CONFIG &&
          strstr(err, "S3SEAL_VAULT_SECRET_ID") != NULL);
    s.role_id = NULL;
    s.token = "t";
    s.timeout_ms = -1;
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_CONFIG &&
          strstr(err, "S3SEAL_VAULT_TIMEOUT_MS") != NULL);
    s.timeout_ms = 500;
    s.namespace_name = "ns\r\n";
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_CONFIG &&
          strstr(err, "S3SEAL_VAULT_NAMESPACE") != NULL);
    s.namespace_name = NULL;

    /* a refused connection is an outage, reported with the address to check */
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", closed_loopback_port());
    s.addr = addr;
    s.token = "secret-token-value";
    CHECK(kms_vault_load(&s, &p, err, sizeof(err)) == CORE_KMS_UNAVAILABLE);
    CHECK(strstr(err, addr) != NULL && strstr(err, "secret-token-value") == NULL);
    CHECK(p == NULL);
}

int main(void)
{
    core_log_set_level(CORE_LOG_ERROR);
    RUN(test_key_names_follow_the_transit_pattern);
    RUN(test_mounts_reject_empty_and_dot_segments);
    RUN(test_addr_needs_https_except_on_loopback);
    RUN(test_ciphertext_form_is_checked);
    RUN(test_statuses_map_to_error_codes);
    RUN(test_first_server_error_is_extracted_and_cleaned);
    RUN(test_encrypt_request_carries_plaintext_and_associated_data);
    RUN(test_decrypt_datakey_and_login_requests);
    RUN(test_ciphertext_replies_are_parsed_and_checked);
    RUN(test_plaintext_replies_are_decoded);
    RUN(test_login_replies_give_token_and_lease);
    RUN(test_secret_files_are_private_and_trimmed);
    RUN(test_load_reports_the_setting_at_fault);
    return TEST_RESULT();
}
