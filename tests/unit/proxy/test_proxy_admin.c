/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for proxy/proxy_admin.c, the offline inspect and decrypt commands:
 * metadata JSON in both accepted forms, and decryption of every object of
 * the known-answer vectors tests/vectors/format-v1.json. The vectors use
 * fixed data keys, so the tests pass the key to the library functions
 * instead of a key file. One test goes through a real key file too.
 * Usage: test_proxy_admin PATH/format-v1.json
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "crypto/crypto_envelope.h"
#include "kms/kms_keyfile.h"
#include "proxy/proxy_admin.h"

static int failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

/* Runs one test and prints its name when it added failures. */
#define RUN(test)                                                                                            \
    do {                                                                                                     \
        int before_ = failures;                                                                              \
        test();                                                                                              \
        fprintf(stderr, "%s %s\n", failures == before_ ? "ok  " : "FAIL", #test);                            \
    } while (0)

static json_t *vectors;

/* A mkdtemp folder for output files. */
struct scratch {
    char dir[64];
    char out[128];
};

static bool scratch_init(struct scratch *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/s3seal-admin-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        perror("mkdtemp");
        return false;
    }
    snprintf(s->out, sizeof(s->out), "%s/plain.bin", s->dir);
    return true;
}

/* Returns the number of entries in the folder besides . and .., so that a left-over temporary file shows. */
static int scratch_entries(const struct scratch *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void scratch_cleanup(struct scratch *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    char path[512];

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
                unlink(path);
            }
        }
        closedir(d);
    }
    rmdir(s->dir);
}

/* Decodes the hex string field name of obj into a new buffer; *len receives its length. */
static uint8_t *hex_field(json_t *obj, const char *name, size_t *len)
{
    const char *hex = json_string_value(json_object_get(obj, name));
    size_t n = hex == NULL ? 0 : strlen(hex) / 2;
    uint8_t *out = malloc(n + 1);

    *len = 0;
    if (hex == NULL || out == NULL) {
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned int byte = 0;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)byte;
    }
    *len = n;
    return out;
}

static bool dek_field(json_t *obj, uint8_t dek[CRYPTO_DEK_LEN])
{
    size_t len = 0;
    uint8_t *bytes = hex_field(obj, "dek", &len);
    bool ok = bytes != NULL && len == CRYPTO_DEK_LEN;

    if (ok) {
        memcpy(dek, bytes, CRYPTO_DEK_LEN);
    }
    free(bytes);
    return ok;
}

/* Writes bytes to a new temporary file and returns it open for reading from the start. */
static FILE *file_with(const uint8_t *bytes, size_t len)
{
    FILE *f = tmpfile();

    if (f == NULL) {
        return NULL;
    }
    if ((len > 0 && fwrite(bytes, 1, len, f) != len) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    return f;
}

static bool write_file(const char *path, const uint8_t *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL && (len == 0 || fwrite(bytes, 1, len, f) == len);

    if (f != NULL) {
        ok = fclose(f) == 0 && ok;
    }
    return ok;
}

static bool file_equals(const char *path, const uint8_t *bytes, size_t len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *got = malloc(len + 1);
    size_t n = 0;
    bool ok = false;

    if (f != NULL && got != NULL) {
        n = fread(got, 1, len + 1, f);
        ok = n == len && memcmp(got, bytes, len) == 0;
    }
    if (f != NULL) {
        fclose(f);
    }
    free(got);
    return ok;
}

/* Parses the "metadata" object of a vector, whose names carry x-amz-meta-, through proxy_admin_meta_parse. */
static struct proxy_admin_meta *vector_meta(json_t *vec)
{
    char *text = json_dumps(json_object_get(vec, "metadata"), 0);
    struct proxy_admin_meta *meta = NULL;
    char err[512] = "";

    if (text == NULL ||
        proxy_admin_meta_parse(text, strlen(text), "vector", &meta, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "vector metadata: %s\n", err);
    }
    free(text);
    return meta;
}

/* Parses and verifies the envelope of vector vec with its DEK, bucket and key. */
static enum core_err verify_vector_envelope(json_t *vec, struct crypto_envelope *env,
                                            uint8_t dek[CRYPTO_DEK_LEN])
{
    struct proxy_admin_meta *meta = vector_meta(vec);
    const char *bucket = json_string_value(json_object_get(vec, "bucket"));
    const char *key = json_string_value(json_object_get(vec, "key"));
    char err[512] = "";
    enum core_err rc;

    if (meta == NULL || bucket == NULL || key == NULL || !dek_field(vec, dek)) {
        proxy_admin_meta_free(meta);
        return CORE_INTERNAL;
    }
    rc = proxy_admin_envelope_parse(meta, env, err, sizeof(err));
    if (rc == CORE_OK) {
        rc = proxy_admin_envelope_verify(env, dek, bucket, key, err, sizeof(err));
    }
    proxy_admin_meta_free(meta);
    return rc;
}

/* Decrypts stored bytes with env and dek into memory; returns the result and the plaintext. */
static enum core_err decrypt_bytes(const struct crypto_envelope *env, const uint8_t dek[CRYPTO_DEK_LEN],
                                   const uint8_t *stored, size_t stored_len, char **plain, size_t *plain_len)
{
    FILE *in = file_with(stored, stored_len);
    FILE *out = open_memstream(plain, plain_len);
    uint64_t written = 0;
    char err[512] = "";
    enum core_err rc = CORE_INTERNAL;

    if (in != NULL && out != NULL) {
        rc = proxy_admin_decrypt_stream(env, dek, in, "vector", out, &written, err, sizeof(err));
        CHECK(written <= stored_len);
    }
    if (out != NULL) {
        fclose(out);
    }
    if (in != NULL) {
        fclose(in);
    }
    return rc;
}

static void test_meta_head_object_output(void)
{
    static const char json[] =
        "{\"AcceptRanges\": \"bytes\", \"ContentLength\": 65709,\n"
        " \"Metadata\": {\"s3seal\": \"1\", \"S3seal-KMS\": \"file:k1\", \"other\": \"x\"}}";
    struct proxy_admin_meta *meta = NULL;
    char err[512] = "";
    uint64_t stored = 0;

    CHECK(proxy_admin_meta_parse(json, strlen(json), "head.json", &meta, err, sizeof(err)) == CORE_OK);
    if (meta == NULL) {
        return;
    }
    CHECK(strcmp(proxy_admin_meta_lookup(meta, "s3seal"), "1") == 0);
    CHECK(strcmp(proxy_admin_meta_lookup(meta, "s3seal-kms"), "file:k1") == 0);
    CHECK(proxy_admin_meta_lookup(meta, "acceptranges") == NULL);
    CHECK(proxy_admin_meta_stored_size(meta, &stored));
    CHECK(stored == 65709);
    proxy_admin_meta_free(meta);
}

static void test_meta_flat_object(void)
{
    static const char json[] = "{\"x-amz-meta-s3seal\": \"1\", \"s3seal-mp\": \"1\", \"size\": 5}";
    struct proxy_admin_meta *meta = NULL;
    char err[512] = "";
    uint64_t stored = 0;

    CHECK(proxy_admin_meta_parse(json, strlen(json), "flat.json", &meta, err, sizeof(err)) == CORE_OK);
    if (meta == NULL) {
        return;
    }
    CHECK(strcmp(proxy_admin_meta_lookup(meta, "s3seal"), "1") == 0);
    CHECK(strcmp(proxy_admin_meta_lookup(meta, "s3seal-mp"), "1") == 0);
    CHECK(proxy_admin_meta_lookup(meta, "size") == NULL);
    CHECK(!proxy_admin_meta_stored_size(meta, &stored));
    proxy_admin_meta_free(meta);
}

static void test_meta_rejects_bad_json(void)
{
    static const char *const cases[] = {
        "{\"s3seal\": \"1\", \"s3seal\": \"1\"}",            /* duplicate name */
        "{\"s3seal\": \"1\", \"X-Amz-Meta-S3SEAL\": \"1\"}", /* duplicate after normalizing */
        "{\"s3seal\": 1}",                                   /* s3seal field not a string */
        "[\"s3seal\", \"1\"]",                               /* not an object */
        "{\"s3seal\": \"1\"",                                /* cut short */
        "",                                                  /* empty */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proxy_admin_meta *meta = NULL;
        char err[512] = "";

        CHECK(proxy_admin_meta_parse(cases[i], strlen(cases[i]), "bad.json", &meta, err, sizeof(err)) ==
              CORE_CONFIG);
        CHECK(meta == NULL);
        CHECK(strstr(err, "bad.json") != NULL);
    }
}

static void test_envelope_vectors_verify(void)
{
    json_t *list = json_object_get(vectors, "envelopes");
    json_t *vec;
    size_t i;

    CHECK(json_array_size(list) > 0);
    json_array_foreach(list, i, vec)
    {
        struct crypto_envelope env;
        uint8_t dek[CRYPTO_DEK_LEN];

        CHECK(verify_vector_envelope(vec, &env, dek) == CORE_OK);
        CHECK(!env.multipart);
        CHECK(env.plain_len == (uint64_t)json_integer_value(json_object_get(vec, "plaintext_len")));
    }
}

static void test_envelope_invalid_vectors_fail(void)
{
    const char *const lists[] = {"invalid_envelopes", "invalid_multipart_envelopes"};

    for (size_t l = 0; l < 2; l++) {
        json_t *list = json_object_get(vectors, lists[l]);
        json_t *vec;
        size_t i;

        CHECK(json_array_size(list) > 0);
        json_array_foreach(list, i, vec)
        {
            struct crypto_envelope env;
            uint8_t dek[CRYPTO_DEK_LEN];

            if (verify_vector_envelope(vec, &env, dek) != CORE_CRYPTO) {
                fprintf(stderr, "%s %s: not rejected\n", lists[l],
                        json_string_value(json_object_get(vec, "name")));
                CHECK(!"invalid envelope rejected");
            }
        }
    }
}

/* Decrypts every stream vector: part 0 as a single-PUT object, other part numbers as a one-part multipart object. */
static void test_stream_vectors_decrypt(void)
{
    json_t *list = json_object_get(vectors, "streams");
    json_t *vec;
    size_t i;

    CHECK(json_array_size(list) > 0);
    json_array_foreach(list, i, vec)
    {
        struct crypto_envelope env = {0};
        uint8_t dek[CRYPTO_DEK_LEN];
        size_t stored_len = 0;
        size_t want_len = 0;
        uint8_t *stored = hex_field(vec, "ciphertext", &stored_len);
        uint8_t *want = hex_field(vec, "plaintext", &want_len);
        char *plain = NULL;
        size_t plain_len = 0;

        CHECK(dek_field(vec, dek));
        env.multipart = json_integer_value(json_object_get(vec, "part_number")) != 0;
        env.plain_len = env.multipart ? 0 : want_len;
        CHECK(decrypt_bytes(&env, dek, stored, stored_len, &plain, &plain_len) == CORE_OK);
        CHECK(plain_len == want_len);
        CHECK(plain_len != want_len || memcmp(plain, want, want_len) == 0);
        free(plain);
        free(stored);
        free(want);
    }
}

static void test_invalid_stream_vectors_fail(void)
{
    json_t *list = json_object_get(vectors, "invalid_streams");
    json_t *vec;
    size_t i;

    CHECK(json_array_size(list) > 0);
    json_array_foreach(list, i, vec)
    {
        struct crypto_envelope env = {0};
        uint8_t dek[CRYPTO_DEK_LEN];
        size_t stored_len = 0;
        uint8_t *stored = hex_field(vec, "ciphertext", &stored_len);
        char *plain = NULL;
        size_t plain_len = 0;

        CHECK(dek_field(vec, dek));
        env.plain_len = (uint64_t)json_integer_value(json_object_get(vec, "plaintext_len"));
        if (decrypt_bytes(&env, dek, stored, stored_len, &plain, &plain_len) != CORE_CRYPTO) {
            fprintf(stderr, "invalid_streams %s: not rejected\n",
                    json_string_value(json_object_get(vec, "name")));
            CHECK(!"invalid stream rejected");
        }
        free(plain);
        free(stored);
    }
}

/* Decrypts the single-PUT envelope vector together with the stream vector of the same DEK and length. */
static void test_single_object_to_file(void)
{
    json_t *env_vec = json_array_get(json_object_get(vectors, "envelopes"), 0);
    json_t *stream_vec = NULL;
    json_t *vec;
    size_t i;
    struct crypto_envelope env;
    uint8_t dek[CRYPTO_DEK_LEN];
    struct scratch s;
    uint8_t *stored;
    uint8_t *want;
    size_t stored_len = 0;
    size_t want_len = 0;
    uint64_t written = 0;
    char in_path[160];
    char err[512] = "";

    json_array_foreach(json_object_get(vectors, "streams"), i, vec)
    {
        if (json_integer_value(json_object_get(vec, "part_number")) == 0 &&
            json_integer_value(json_object_get(vec, "plaintext_len")) ==
                json_integer_value(json_object_get(env_vec, "plaintext_len"))) {
            stream_vec = vec;
        }
    }
    CHECK(stream_vec != NULL);
    CHECK(verify_vector_envelope(env_vec, &env, dek) == CORE_OK);
    if (stream_vec == NULL || !scratch_init(&s)) {
        return;
    }
    stored = hex_field(stream_vec, "ciphertext", &stored_len);
    want = hex_field(stream_vec, "plaintext", &want_len);
    snprintf(in_path, sizeof(in_path), "%s/object.bin", s.dir);
    CHECK(write_file(in_path, stored, stored_len));

    /* case: the whole object verifies and lands at --out */
    CHECK(proxy_admin_decrypt_to_file(&env, dek, in_path, s.out, &written, err, sizeof(err)) == CORE_OK);
    CHECK(written == want_len);
    CHECK(file_equals(s.out, want, want_len));
    CHECK(scratch_entries(&s) == 2);

    /* case: one flipped byte in the last chunk fails and keeps the earlier output file unchanged */
    stored[stored_len - 20] ^= 0x01;
    CHECK(write_file(in_path, stored, stored_len));
    CHECK(proxy_admin_decrypt_to_file(&env, dek, in_path, s.out, &written, err, sizeof(err)) == CORE_CRYPTO);
    CHECK(strstr(err, "chunk 1") != NULL);
    CHECK(file_equals(s.out, want, want_len));
    CHECK(scratch_entries(&s) == 2);

    /* case: one byte after the final chunk fails and leaves no output */
    stored[stored_len - 20] ^= 0x01;
    unlink(s.out);
    stored = realloc(stored, stored_len + 1);
    CHECK(stored != NULL);
    if (stored != NULL) {
        stored[stored_len] = 0;
        CHECK(write_file(in_path, stored, stored_len + 1));
        CHECK(proxy_admin_decrypt_to_file(&env, dek, in_path, s.out, &written, err, sizeof(err)) ==
              CORE_CRYPTO);
        CHECK(strstr(err, "after the final chunk") != NULL);
        CHECK(access(s.out, F_OK) != 0);
        CHECK(scratch_entries(&s) == 1);
    }

    free(stored);
    free(want);
    scratch_cleanup(&s);
}

static void test_multipart_object_to_file(void)
{
    json_t *vec = json_array_get(json_object_get(vectors, "multipart_objects"), 0);
    struct crypto_envelope env;
    uint8_t dek[CRYPTO_DEK_LEN];
    struct scratch s;
    size_t stored_len = 0;
    size_t want_len = 0;
    uint8_t *stored = hex_field(vec, "ciphertext", &stored_len);
    uint8_t *want = hex_field(vec, "plaintext", &want_len);
    uint64_t written = 0;
    char in_path[160];
    char err[512] = "";

    CHECK(verify_vector_envelope(vec, &env, dek) == CORE_OK);
    CHECK(env.multipart);
    if (stored == NULL || want == NULL || !scratch_init(&s)) {
        free(stored);
        free(want);
        return;
    }
    snprintf(in_path, sizeof(in_path), "%s/object.bin", s.dir);
    CHECK(write_file(in_path, stored, stored_len));
    CHECK(proxy_admin_decrypt_to_file(&env, dek, in_path, s.out, &written, err, sizeof(err)) == CORE_OK);
    CHECK(written == want_len);
    CHECK(file_equals(s.out, want, want_len));
    unlink(s.out);

    /* case: every invalid multipart vector fails and leaves neither the output nor a temporary file */
    json_t *bad;
    size_t i;
    json_array_foreach(json_object_get(vectors, "invalid_multipart_objects"), i, bad)
    {
        size_t bad_len = 0;
        uint8_t *bad_bytes = hex_field(bad, "ciphertext", &bad_len);

        CHECK(write_file(in_path, bad_bytes, bad_len));
        if (proxy_admin_decrypt_to_file(&env, dek, in_path, s.out, &written, err, sizeof(err)) !=
            CORE_CRYPTO) {
            fprintf(stderr, "invalid_multipart_objects %s: not rejected\n",
                    json_string_value(json_object_get(bad, "name")));
            CHECK(!"invalid multipart object rejected");
        }
        CHECK(access(s.out, F_OK) != 0);
        CHECK(scratch_entries(&s) == 1);
        free(bad_bytes);
    }

    /* case: the stored object cut after part 1's FINAL chunk still verifies, which FORMAT.md lists as not detected */
    CHECK(write_file(in_path, stored, 65572));
    CHECK(proxy_admin_decrypt_to_file(&env, dek, in_path, s.out, &written, err, sizeof(err)) == CORE_OK);
    CHECK(written == 65536);

    free(stored);
    free(want);
    scratch_cleanup(&s);
}

static void test_inspect_prints_fields(void)
{
    json_t *single = json_array_get(json_object_get(vectors, "envelopes"), 0);
    json_t *multi = json_array_get(json_object_get(vectors, "multipart_objects"), 0);
    struct proxy_admin_meta *meta = vector_meta(single);
    const char *dek_b64 =
        json_string_value(json_object_get(json_object_get(single, "metadata"), "x-amz-meta-s3seal-dek"));
    const char *cm_b64 =
        json_string_value(json_object_get(json_object_get(single, "metadata"), "x-amz-meta-s3seal-cm"));
    char *text = NULL;
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);
    char wrapped_line[64];

    snprintf(wrapped_line, sizeof(wrapped_line), "wrapped key:       %zu bytes\n",
             strlen(json_string_value(json_object_get(single, "wrapped"))) / 2);
    CHECK(meta != NULL);
    CHECK(out != NULL);
    if (meta == NULL || out == NULL) {
        return;
    }
    CHECK(proxy_admin_inspect_print(meta, out) == CORE_OK);
    fclose(out);
    CHECK(strstr(text, "single stream") != NULL);
    CHECK(strstr(text, "KMS id:            file:k1\n") != NULL);
    CHECK(strstr(text, wrapped_line) != NULL);
    CHECK(strstr(text, cm_b64) != NULL);
    CHECK(strstr(text, "plaintext length:  65537 bytes\n") != NULL);
    CHECK(strstr(text, "envelope MAC:      present") != NULL);
    CHECK(strstr(text, "well-formed") != NULL);
    CHECK(strstr(text, dek_b64) == NULL);
    free(text);
    proxy_admin_meta_free(meta);

    meta = vector_meta(multi);
    out = open_memstream(&text, &text_len);
    CHECK(meta != NULL);
    CHECK(out != NULL);
    if (meta == NULL || out == NULL) {
        return;
    }
    CHECK(proxy_admin_inspect_print(meta, out) == CORE_OK);
    fclose(out);
    CHECK(strstr(text, "multipart") != NULL);
    CHECK(strstr(text, "from the stored size") != NULL);
    free(text);
    proxy_admin_meta_free(meta);
}

static void test_inspect_reports_malformed(void)
{
    static const char json[] =
        "{\"s3seal\": \"2\", \"s3seal-kms\": \"file:k1\", \"s3seal-dek\": \"not base64!\","
        " \"s3seal-len\": \"5\", \"s3seal-mp\": \"1\"}";
    struct proxy_admin_meta *meta = NULL;
    char err[512] = "";
    char *text = NULL;
    size_t text_len = 0;
    FILE *out;

    CHECK(proxy_admin_meta_parse(json, strlen(json), "bad.json", &meta, err, sizeof(err)) == CORE_OK);
    out = open_memstream(&text, &text_len);
    if (meta == NULL || out == NULL) {
        CHECK(!"setup");
        return;
    }
    CHECK(proxy_admin_inspect_print(meta, out) == CORE_CRYPTO);
    fclose(out);
    CHECK(strstr(text, "unsupported") != NULL);
    CHECK(strstr(text, "wrapped key:       invalid") != NULL);
    CHECK(strstr(text, "commitment:        missing") != NULL);
    CHECK(strstr(text, "both s3seal-len and s3seal-mp") != NULL);
    CHECK(strstr(text, "envelope MAC:      missing") != NULL);
    CHECK(strstr(text, "malformed") != NULL);
    free(text);
    proxy_admin_meta_free(meta);
}

/* Seals an envelope with a key file and opens it through proxy_admin_envelope_unwrap, as the commands do. */
static void test_key_file_unwrap(void)
{
    static const uint8_t dek[CRYPTO_DEK_LEN] = {7, 7, 7, 7, 7, 7, 7, 7, 9, 9, 9, 9, 9, 9, 9, 9,
                                                1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    struct scratch s;
    char key_path[160];
    char err[512] = "";
    struct kms_provider *kms = NULL;
    uint8_t context[256];
    size_t context_len = 0;
    uint8_t wrapped[KMS_WRAPPED_MAX];
    size_t wrapped_len = 0;
    char kms_id[KMS_KEY_ID_MAX];
    struct crypto_envelope_headers headers;
    char json[4096];
    struct proxy_admin_meta *meta = NULL;
    struct crypto_envelope env;
    uint8_t got[CRYPTO_DEK_LEN];

    if (!scratch_init(&s)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(key_path, sizeof(key_path), "%s/master.key", s.dir);
    CHECK(kms_keyfile_generate(key_path, "k1", err, sizeof(err)) == CORE_OK);
    CHECK(kms_keyfile_load(key_path, &kms, err, sizeof(err)) == CORE_OK);
    CHECK(crypto_wrap_context("b1", 2, "dir/obj", 7, context, sizeof(context), &context_len) == CORE_OK);
    CHECK(kms_wrap(kms, dek, context, context_len, wrapped, sizeof(wrapped), &wrapped_len, kms_id,
                   sizeof(kms_id)) == CORE_OK);
    CHECK(crypto_envelope_seal(dek, kms_id, wrapped, wrapped_len, 10, "b1", 2, "dir/obj", 7, &headers) ==
          CORE_OK);
    snprintf(json, sizeof(json),
             "{\"Metadata\": {\"s3seal\": \"%s\", \"s3seal-kms\": \"%s\", \"s3seal-dek\": \"%s\","
             " \"s3seal-cm\": \"%s\", \"s3seal-len\": \"%s\", \"s3seal-mac\": \"%s\"}}",
             headers.version, headers.kms, headers.dek, headers.commitment, headers.length, headers.mac);
    CHECK(proxy_admin_meta_parse(json, strlen(json), "head.json", &meta, err, sizeof(err)) == CORE_OK);
    CHECK(meta != NULL);
    if (meta == NULL) {
        kms_provider_free(kms);
        scratch_cleanup(&s);
        return;
    }
    CHECK(proxy_admin_envelope_parse(meta, &env, err, sizeof(err)) == CORE_OK);

    /* case: the right bucket and key unwrap the same DEK and the envelope verifies */
    CHECK(proxy_admin_envelope_unwrap(&env, kms, "b1", "dir/obj", got, err, sizeof(err)) == CORE_OK);
    CHECK(memcmp(got, dek, sizeof(dek)) == 0);
    CHECK(proxy_admin_envelope_verify(&env, got, "b1", "dir/obj", err, sizeof(err)) == CORE_OK);

    /* case: another key fails at unwrap, and the message names the key */
    CHECK(proxy_admin_envelope_unwrap(&env, kms, "b1", "dir/obj2", got, err, sizeof(err)) == CORE_CRYPTO);
    CHECK(strstr(err, "'dir/obj2'") != NULL);

    /* case: a KMS id the file lacks fails with CORE_KMS */
    snprintf(env.kms, sizeof(env.kms), "file:k9");
    CHECK(proxy_admin_envelope_unwrap(&env, kms, "b1", "dir/obj", got, err, sizeof(err)) == CORE_KMS);
    CHECK(strstr(err, "'file:k9'") != NULL);

    proxy_admin_meta_free(meta);
    kms_provider_free(kms);
    scratch_cleanup(&s);
}

int main(int argc, char **argv)
{
    json_error_t jerr;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/format-v1.json\n", argv[0]);
        return 2;
    }
    vectors = json_load_file(argv[1], 0, &jerr);
    if (vectors == NULL) {
        fprintf(stderr, "%s: %s at line %d\n", argv[1], jerr.text, jerr.line);
        return 1;
    }

    RUN(test_meta_head_object_output);
    RUN(test_meta_flat_object);
    RUN(test_meta_rejects_bad_json);
    RUN(test_envelope_vectors_verify);
    RUN(test_envelope_invalid_vectors_fail);
    RUN(test_stream_vectors_decrypt);
    RUN(test_invalid_stream_vectors_fail);
    RUN(test_single_object_to_file);
    RUN(test_multipart_object_to_file);
    RUN(test_inspect_prints_fields);
    RUN(test_inspect_reports_malformed);
    RUN(test_key_file_unwrap);

    json_decref(vectors);
    return failures == 0 ? 0 : 1;
}
