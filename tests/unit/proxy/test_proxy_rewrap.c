/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the parts of "s3seal rewrap" that need no server: the state file and the ETag form check. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy_rewrap.h"

static int failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

#define CHECK_STR(actual, expected)                                                                          \
    do {                                                                                                     \
        const char *a_ = (actual);                                                                           \
        if (a_ == NULL || strcmp(a_, (expected)) != 0) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s is '%s', expected '%s'\n", __FILE__, __LINE__, #actual, \
                    a_ != NULL ? a_ : "(null)", (expected));                                                 \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

#define RUN(test)                                                                                            \
    do {                                                                                                     \
        int before_ = failures;                                                                              \
        test();                                                                                              \
        fprintf(stderr, "%s %s\n", failures == before_ ? "ok  " : "FAIL", #test);                            \
    } while (0)

static char dir[64];
static char path[128];

static bool write_file(const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        return false;
    }
    fputs(text, f);
    return fclose(f) == 0;
}

static void read_file(char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t got = 0;

    out[0] = '\0';
    if (f != NULL) {
        got = fread(out, 1, cap - 1, f);
        out[got] = '\0';
        fclose(f);
    }
}

/* Builds a state with copies of the strings; last_key may be NULL. */
static struct proxy_rewrap_state make_state(const char *bucket, const char *prefix, const char *target,
                                            const char *last_key)
{
    struct proxy_rewrap_state state = {
        .bucket = strdup(bucket),
        .prefix = strdup(prefix),
        .target = strdup(target),
        .last_key = last_key != NULL ? strdup(last_key) : NULL,
    };

    return state;
}

static void test_state_missing_file_is_a_fresh_start(void)
{
    struct proxy_rewrap_state state;
    char err[256] = "";
    bool found = true;

    unlink(path);
    CHECK(proxy_rewrap_state_load(path, &state, &found, err, sizeof(err)) == CORE_OK);
    CHECK(!found);
    CHECK(state.bucket == NULL);
    CHECK(state.last_key == NULL);
    proxy_rewrap_state_cleanup(&state);
}

static void test_state_round_trip_keeps_any_key(void)
{
    /* a key with a newline, a space, a percent sign and UTF-8 must survive one line of text */
    const char *key = "dir/a b%20\nc/\xc3\xa9t\xc3\xa9.bin";
    struct proxy_rewrap_state saved = make_state("bkt", "dir/", "file:k2", key);
    struct proxy_rewrap_state loaded;
    char text[512];
    char err[256] = "";
    bool found = false;

    CHECK(proxy_rewrap_state_save(path, &saved, err, sizeof(err)) == CORE_OK);
    read_file(text, sizeof(text));
    CHECK_STR(text, "s3seal-rewrap-state-v1\nbucket bkt\nprefix dir%2F\ntarget file%3Ak2\n"
                    "last-key dir%2Fa%20b%2520%0Ac%2F%C3%A9t%C3%A9.bin\n");
    CHECK(access(path, F_OK) == 0);

    CHECK(proxy_rewrap_state_load(path, &loaded, &found, err, sizeof(err)) == CORE_OK);
    CHECK(found);
    CHECK_STR(loaded.bucket, "bkt");
    CHECK_STR(loaded.prefix, "dir/");
    CHECK_STR(loaded.target, "file:k2");
    CHECK_STR(loaded.last_key, key);
    proxy_rewrap_state_cleanup(&loaded);
    proxy_rewrap_state_cleanup(&saved);
}

static void test_state_without_key_and_with_empty_prefix(void)
{
    struct proxy_rewrap_state saved = make_state("bkt", "", "p11:kek", NULL);
    struct proxy_rewrap_state loaded;
    char err[256] = "";
    bool found = false;

    CHECK(proxy_rewrap_state_save(path, &saved, err, sizeof(err)) == CORE_OK);
    CHECK(proxy_rewrap_state_load(path, &loaded, &found, err, sizeof(err)) == CORE_OK);
    CHECK_STR(loaded.prefix, "");
    CHECK_STR(loaded.target, "p11:kek");
    CHECK(loaded.last_key == NULL);
    proxy_rewrap_state_cleanup(&loaded);
    proxy_rewrap_state_cleanup(&saved);
}

static void test_state_rejects_malformed_files(void)
{
    static const struct {
        const char *text;
        const char *message; /* a part of the expected error message */
    } cases[] = {
        {"", "lacks the format line"},
        {"something else\nbucket b\n", "is not an s3seal rewrap state file"},
        {"s3seal-rewrap-state-v1\nbucket b\nprefix \n", "lacks the format line or one of"},
        {"s3seal-rewrap-state-v1\nbucket b\nprefix \ntarget file%3Ak1\ncolour red\n", "unknown field 'colour'"},
        {"s3seal-rewrap-state-v1\nbucket b\nbucket c\nprefix \ntarget t\n", "repeated field 'bucket'"},
        {"s3seal-rewrap-state-v1\nbucket b\nprefix \ntarget t\nlast-key a%zz\n", "not percent-encoded"},
        /* a NUL byte cannot be part of an object key */
        {"s3seal-rewrap-state-v1\nbucket b\nprefix \ntarget t\nlast-key a%00b\n", "not percent-encoded"},
        {"s3seal-rewrap-state-v1\nbucket b\nprefix \ntarget t", "without a line end"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proxy_rewrap_state state;
        char err[512] = "";
        bool found = false;
        enum core_err rc;

        CHECK(write_file(cases[i].text));
        rc = proxy_rewrap_state_load(path, &state, &found, err, sizeof(err));
        if (rc != CORE_CONFIG || strstr(err, cases[i].message) == NULL || strstr(err, path) == NULL) {
            fprintf(stderr, "case %zu: rc %d, message '%s'\n", i, (int)rc, err);
        }
        CHECK(rc == CORE_CONFIG);
        CHECK(strstr(err, cases[i].message) != NULL);
        CHECK(strstr(err, path) != NULL);
        proxy_rewrap_state_cleanup(&state);
    }
}

static void test_state_save_fails_in_missing_folder(void)
{
    struct proxy_rewrap_state saved = make_state("b", "", "t", NULL);
    char missing[160];
    char err[256] = "";

    snprintf(missing, sizeof(missing), "%s/no/such/folder/state", dir);
    CHECK(proxy_rewrap_state_save(missing, &saved, err, sizeof(err)) == CORE_IO);
    CHECK(strstr(err, "no/such/folder") != NULL);
    proxy_rewrap_state_cleanup(&saved);
}

static void test_etag_multipart_form(void)
{
    static const struct {
        const char *etag;
        bool multipart;
    } cases[] = {
        {"\"0123456789abcdef0123456789abcdef-1\"", true},
        {"0123456789ABCDEF0123456789abcdef-10000", true},
        {"\"0123456789abcdef0123456789abcdef\"", false},
        {"\"0123456789abcdef0123456789abcdef-0\"", false},
        {"\"0123456789abcdef0123456789abcdef-10001\"", false},
        {"\"0123456789abcdef0123456789abcdef-01\"", false},
        {"\"0123456789abcdef0123456789abcdef-\"", false},
        {"\"0123456789abcdef0123456789abcdeg-2\"", false},
        {"\"0123456789abcdef0123456789abcde-2\"", false},
        {"\"0123456789abcdef0123456789abcdef-2x\"", false},
        {"", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (proxy_rewrap_etag_is_multipart(cases[i].etag) != cases[i].multipart) {
            fprintf(stderr, "case %zu: %s\n", i, cases[i].etag);
        }
        CHECK(proxy_rewrap_etag_is_multipart(cases[i].etag) == cases[i].multipart);
    }
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/s3seal-rewrap-test-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/state", dir);

    RUN(test_state_missing_file_is_a_fresh_start);
    RUN(test_state_round_trip_keeps_any_key);
    RUN(test_state_without_key_and_with_empty_prefix);
    RUN(test_state_rejects_malformed_files);
    RUN(test_state_save_fails_in_missing_folder);
    RUN(test_etag_multipart_form);

    unlink(path);
    rmdir(dir);
    return failures == 0 ? 0 : 1;
}
