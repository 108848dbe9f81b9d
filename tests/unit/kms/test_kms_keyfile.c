/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the key file provider: generating and loading key files, the checks on permissions and on
 * each line, and wrap and unwrap through kms/kms.h, including rotation and tampered blobs. Every test
 * works in its own folder from mkdtemp under /tmp and removes it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kms/kms.h"
#include "kms/kms_keyfile.h"
#include "kms/kms_registry.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

/* base64 of the bytes 0..31, 32..63, 0..30 and 0..32 */
#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define KEY_31_BYTES "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="
#define KEY_33_BYTES "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
/* KEY_A with nonzero unused bits in its last character, so it is not the canonical spelling */
#define KEY_A_NONCANONICAL "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9="

#define BLOB_LEN 77
#define CONTEXT "bucket-1/photos/cat.jpg"

/* A mkdtemp folder and the key file path inside it. */
struct scratch {
    char dir[64];
    char path[128];
};

static bool scratch_init(struct scratch *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/s3seal-kms-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        perror("mkdtemp");
        return false;
    }
    snprintf(s->path, sizeof(s->path), "%s/keys", s->dir);
    return true;
}

static void scratch_cleanup(struct scratch *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    char path[512];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
        if (unlink(path) != 0) {
            (void)rmdir(path);
        }
    }
    closedir(d);
    (void)rmdir(s->dir);
}

static bool write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t len = strlen(text);
    bool ok;

    if (fd < 0) {
        return false;
    }
    ok = write(fd, text, len) == (ssize_t)len && fchmod(fd, mode) == 0;
    return close(fd) == 0 && ok;
}

static bool append_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    size_t len = strlen(text);
    bool ok;

    if (fd < 0) {
        return false;
    }
    ok = write(fd, text, len) == (ssize_t)len;
    return close(fd) == 0 && ok;
}

/* Writes text as the key file with the given mode and loads it. */
static enum core_err load_text(struct scratch *s, const char *text, mode_t mode, struct kms_provider **p, char *err,
                               size_t err_cap)
{
    if (!write_file(s->path, text, mode)) {
        perror("write key file");
        return CORE_IO;
    }
    return kms_keyfile_load(s->path, p, err, err_cap);
}

static bool contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

static bool is_zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != 0) {
            return false;
        }
    }
    return true;
}

static void fill_dek(uint8_t dek[KMS_DEK_LEN], uint8_t seed)
{
    for (size_t i = 0; i < KMS_DEK_LEN; i++) {
        dek[i] = (uint8_t)(seed + i * 7);
    }
}

/* One wrapped DEK as the caller stores it. */
struct wrapped_dek {
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t len;
    char kms_id[KMS_KEY_ID_MAX];
};

static enum core_err wrap_dek(struct kms_provider *p, const uint8_t dek[KMS_DEK_LEN], const char *context,
                              struct wrapped_dek *w)
{
    return kms_wrap(p, dek, (const uint8_t *)context, strlen(context), w->blob, sizeof(w->blob), &w->len,
                    w->kms_id, sizeof(w->kms_id));
}

static enum core_err unwrap_dek(struct kms_provider *p, const struct wrapped_dek *w, const char *context,
                                uint8_t dek[KMS_DEK_LEN])
{
    return kms_unwrap(p, w->kms_id, w->blob, w->len, (const uint8_t *)context, strlen(context), dek);
}

static void test_generated_file_round_trips(void)
{
    struct kms_provider *p = NULL;
    struct scratch s;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    char err[512];

    CHECK(scratch_init(&s));
    CHECK(kms_keyfile_generate(s.path, "k1", err, sizeof(err)) == CORE_OK);
    CHECK(kms_keyfile_load(s.path, &p, err, sizeof(err)) == CORE_OK);
    CHECK(p != NULL);
    if (p != NULL) {
        fill_dek(dek, 3);
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        CHECK(strcmp(w.kms_id, "file:k1") == 0);
        CHECK(w.len == BLOB_LEN);
        CHECK(w.blob[0] == 0x01);
        CHECK(unwrap_dek(p, &w, CONTEXT, out) == CORE_OK);
        CHECK(memcmp(dek, out, KMS_DEK_LEN) == 0);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_generate_default_key_id_is_k_and_hex(void)
{
    struct kms_provider *p = NULL;
    struct scratch s;
    struct wrapped_dek w = { .len = 0 };
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    char err[512];

    CHECK(scratch_init(&s));
    CHECK(kms_keyfile_generate(s.path, NULL, err, sizeof(err)) == CORE_OK);
    CHECK(kms_keyfile_load(s.path, &p, err, sizeof(err)) == CORE_OK);
    if (p != NULL) {
        CHECK(wrap_dek(p, dek, "", &w) == CORE_OK);
    }
    CHECK(strlen(w.kms_id) == strlen("file:k") + 8);
    CHECK(strncmp(w.kms_id, "file:k", 6) == 0);
    CHECK(strspn(w.kms_id + 6, "0123456789abcdef") == 8);
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_generate_writes_mode_0600_despite_umask(void)
{
    static const mode_t umasks[] = { 0, 022, 0277 };
    struct scratch s;
    struct stat st;
    char err[512];

    CHECK(scratch_init(&s));
    for (size_t i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
        mode_t old = umask(umasks[i]);

        CHECK(kms_keyfile_generate(s.path, "k1", err, sizeof(err)) == CORE_OK);
        umask(old);
        CHECK(stat(s.path, &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        CHECK(S_ISREG(st.st_mode));
        unlink(s.path);
    }
    scratch_cleanup(&s);
}

static bool read_whole(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return false;
    }
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

static void test_generate_rejects_existing_file(void)
{
    char before[1024];
    char after[1024];
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    CHECK(kms_keyfile_generate(s.path, "k1", err, sizeof(err)) == CORE_OK);
    CHECK(read_whole(s.path, before, sizeof(before)));

    CHECK(kms_keyfile_generate(s.path, "k2", err, sizeof(err)) == CORE_CONFIG);
    CHECK(contains(err, s.path));
    CHECK(contains(err, "already exists"));
    CHECK(read_whole(s.path, after, sizeof(after)));
    CHECK(strcmp(before, after) == 0);

    /* a symlink at the path is not followed either */
    unlink(s.path);
    CHECK(symlink("/tmp/s3seal-kms-test-no-such-target", s.path) == 0);
    CHECK(kms_keyfile_generate(s.path, "k1", err, sizeof(err)) == CORE_CONFIG);
    CHECK(access("/tmp/s3seal-kms-test-no-such-target", F_OK) != 0);
    scratch_cleanup(&s);
}

static void test_generate_rejects_invalid_key_id(void)
{
    static const char *const ids[] = {
        "", "k/1", "k 1", "k:1", "a234567890123456789012345678901234567890123456789012345678901234x",
    };
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        CHECK(kms_keyfile_generate(s.path, ids[i], err, sizeof(err)) == CORE_CONFIG);
        CHECK(contains(err, "key id"));
        CHECK(access(s.path, F_OK) != 0);
    }
    /* 64 characters is the maximum and is accepted */
    CHECK(kms_keyfile_generate(s.path, "a234567890123456789012345678901234567890123456789012345678901234", err,
                               sizeof(err)) == CORE_OK);
    scratch_cleanup(&s);
}

static struct kms_provider *load_or_null(struct scratch *s, const char *text)
{
    struct kms_provider *p = NULL;
    char err[512];

    if (load_text(s, text, 0600, &p, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "load failed: %s\n", err);
        return NULL;
    }
    return p;
}

static void test_unwrap_rejects_wrong_context(void)
{
    static const char *const contexts[] = { "bucket-1/photos/dog.jpg", "", "bucket-1/photos/cat.jpg\n" };
    struct kms_provider *p;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    struct scratch s;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        fill_dek(dek, 9);
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        for (size_t i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++) {
            memset(out, 0xff, sizeof(out));
            CHECK(unwrap_dek(p, &w, contexts[i], out) == CORE_CRYPTO);
            CHECK(is_zero(out, sizeof(out)));
        }
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_unwrap_rejects_every_bit_flip(void)
{
    struct kms_provider *p;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    struct scratch s;
    int accepted = 0;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        fill_dek(dek, 1);
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        for (size_t bit = 0; bit < w.len * 8; bit++) {
            w.blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            accepted += unwrap_dek(p, &w, CONTEXT, out) != CORE_CRYPTO;
            w.blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        CHECK(accepted == 0);
        CHECK(unwrap_dek(p, &w, CONTEXT, out) == CORE_OK);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_unwrap_rejects_truncated_and_extended_blob(void)
{
    static const size_t lens[] = { 0, 1, BLOB_LEN - 1, BLOB_LEN + 1 };
    struct kms_provider *p;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    uint8_t out[KMS_DEK_LEN];
    struct scratch s;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            w.len = lens[i];
            CHECK(unwrap_dek(p, &w, CONTEXT, out) == CORE_CRYPTO);
        }
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_unwrap_rejects_unknown_key_id(void)
{
    struct kms_provider *p;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    uint8_t out[KMS_DEK_LEN];
    struct scratch s;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        snprintf(w.kms_id, sizeof(w.kms_id), "file:k2");
        CHECK(unwrap_dek(p, &w, CONTEXT, out) == CORE_KMS);
        snprintf(w.kms_id, sizeof(w.kms_id), "file:K1");
        CHECK(unwrap_dek(p, &w, CONTEXT, out) == CORE_KMS);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_unwrap_rejects_wrong_provider_prefix(void)
{
    static const char *const ids[] = { "vault:k1", "k1", "file", "file:", "files:k1", "FILE:k1", ":k1", "" };
    struct kms_provider *p;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    uint8_t out[KMS_DEK_LEN];
    struct scratch s;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
            snprintf(w.kms_id, sizeof(w.kms_id), "%s", ids[i]);
            CHECK(unwrap_dek(p, &w, CONTEXT, out) == CORE_KMS);
        }
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_unwrap_rejects_other_master_key_with_same_id(void)
{
    struct kms_provider *a;
    struct kms_provider *b;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    uint8_t out[KMS_DEK_LEN];
    struct scratch s;

    CHECK(scratch_init(&s));
    a = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    b = load_or_null(&s, "s3seal-key-v1 k1 " KEY_B "\n");
    CHECK(a != NULL);
    CHECK(b != NULL);
    if (a != NULL && b != NULL) {
        CHECK(wrap_dek(a, dek, CONTEXT, &w) == CORE_OK);
        CHECK(unwrap_dek(b, &w, CONTEXT, out) == CORE_CRYPTO);
    }
    kms_provider_free(a);
    kms_provider_free(b);
    scratch_cleanup(&s);
}

static void test_wrap_uses_fresh_iv_and_nonce(void)
{
    struct kms_provider *p;
    struct wrapped_dek w1;
    struct wrapped_dek w2;
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    struct scratch s;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(wrap_dek(p, dek, CONTEXT, &w1) == CORE_OK);
        CHECK(wrap_dek(p, dek, CONTEXT, &w2) == CORE_OK);
        CHECK(memcmp(w1.blob + 1, w2.blob + 1, 16) != 0);
        CHECK(memcmp(w1.blob + 17, w2.blob + 17, 12) != 0);
        CHECK(memcmp(w1.blob + 29, w2.blob + 29, 48) != 0);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_wrap_rejects_small_buffers(void)
{
    struct kms_provider *p;
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    uint8_t blob[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    struct scratch s;
    size_t len = 5;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(kms_wrap(p, dek, NULL, 0, blob, BLOB_LEN - 1, &len, kms_id, sizeof(kms_id)) == CORE_TOO_LARGE);
        CHECK(len == 0);
        /* "file:k1" needs 8 bytes with its NUL */
        CHECK(kms_wrap(p, dek, NULL, 0, blob, sizeof(blob), &len, kms_id, 7) == CORE_TOO_LARGE);
        CHECK(kms_wrap(p, dek, NULL, 0, blob, BLOB_LEN, &len, kms_id, 8) == CORE_OK);
        CHECK(len == BLOB_LEN);
        CHECK(strcmp(kms_id, "file:k1") == 0);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_empty_context_round_trips(void)
{
    struct kms_provider *p;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_WRAPPED_MAX];
    char kms_id[KMS_KEY_ID_MAX];
    struct scratch s;
    size_t len = 0;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        fill_dek(dek, 77);
        CHECK(kms_wrap(p, dek, NULL, 0, blob, sizeof(blob), &len, kms_id, sizeof(kms_id)) == CORE_OK);
        CHECK(kms_unwrap(p, kms_id, blob, len, NULL, 0, out) == CORE_OK);
        CHECK(memcmp(dek, out, KMS_DEK_LEN) == 0);
        CHECK(kms_unwrap(p, kms_id, blob, len, (const uint8_t *)"x", 1, out) == CORE_CRYPTO);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

/* Decrypts a blob with OpenSSL directly, following the format in docs/KEYS.md. */
static bool open_blob_independently(const uint8_t master[32], const uint8_t *blob, const char *context,
                                    uint8_t dek[KMS_DEK_LEN])
{
    uint8_t gcm_key[32];
    uint8_t tag[16];
    unsigned int key_len = 0;
    EVP_CIPHER_CTX *ctx;
    int len = 0;
    bool ok;

    if (HMAC(EVP_sha256(), master, 32, blob + 1, 16, gcm_key, &key_len) == NULL || key_len != 32) {
        return false;
    }
    memcpy(tag, blob + 61, sizeof(tag));
    ctx = EVP_CIPHER_CTX_new();
    ok = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
         EVP_DecryptInit_ex(ctx, NULL, NULL, gcm_key, blob + 17) == 1 &&
         EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)context, (int)strlen(context)) == 1 &&
         EVP_DecryptUpdate(ctx, dek, &len, blob + 29, 32) == 1 && len == 32 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
         EVP_DecryptFinal_ex(ctx, dek + len, &len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static void test_blob_matches_documented_format(void)
{
    uint8_t master[32];
    struct kms_provider *p;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN] = { 0 };
    struct scratch s;

    for (size_t i = 0; i < sizeof(master); i++) {
        master[i] = (uint8_t)i; /* KEY_A */
    }
    CHECK(scratch_init(&s));
    p = load_or_null(&s, "s3seal-key-v1 k1 " KEY_A "\n");
    CHECK(p != NULL);
    if (p != NULL) {
        fill_dek(dek, 42);
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        CHECK(w.len == 1 + 16 + 12 + 32 + 16);
        CHECK(w.blob[0] == 0x01);
        CHECK(open_blob_independently(master, w.blob, CONTEXT, out));
        CHECK(memcmp(dek, out, KMS_DEK_LEN) == 0);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_load_rejects_group_or_other_access(void)
{
    static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0606, 0620, 0602, 0610, 0601, 0666 };
    struct kms_provider *p = NULL;
    char expected[32];
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        CHECK(load_text(&s, "s3seal-key-v1 k1 " KEY_A "\n", modes[i], &p, err, sizeof(err)) == CORE_CONFIG);
        CHECK(p == NULL);
        snprintf(expected, sizeof(expected), "(mode %04o)", (unsigned)modes[i]);
        CHECK(contains(err, expected));
        CHECK(contains(err, s.path));
        CHECK(contains(err, "chmod 600"));
    }
    scratch_cleanup(&s);
}

static void test_load_accepts_owner_only_modes(void)
{
    static const mode_t modes[] = { 0600, 0400 };
    struct kms_provider *p = NULL;
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        unlink(s.path);
        CHECK(load_text(&s, "s3seal-key-v1 k1 " KEY_A "\n", modes[i], &p, err, sizeof(err)) == CORE_OK);
        kms_provider_free(p);
        p = NULL;
    }
    scratch_cleanup(&s);
}

static void test_load_missing_file_mentions_keygen(void)
{
    struct kms_provider *p = NULL;
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    CHECK(kms_keyfile_load(s.path, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(p == NULL);
    CHECK(contains(err, "not found"));
    CHECK(contains(err, "s3seal keygen --out"));
    CHECK(contains(err, s.path));
    scratch_cleanup(&s);
}

static void test_load_rejects_folder_and_fifo(void)
{
    struct kms_provider *p = NULL;
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    CHECK(mkdir(s.path, 0700) == 0);
    CHECK(kms_keyfile_load(s.path, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(contains(err, "not a regular file"));
    CHECK(rmdir(s.path) == 0);

    /* a FIFO without a writer must fail at once instead of blocking the open */
    CHECK(mkfifo(s.path, 0600) == 0);
    CHECK(kms_keyfile_load(s.path, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(contains(err, "not a regular file"));
    CHECK(p == NULL);
    scratch_cleanup(&s);
}

static void test_load_rejects_files_without_keys(void)
{
    static const char *const texts[] = { "", "\n\n", "# only a comment\n\n   \n" };
    struct kms_provider *p = NULL;
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        CHECK(load_text(&s, texts[i], 0600, &p, err, sizeof(err)) == CORE_CONFIG);
        CHECK(p == NULL);
        CHECK(contains(err, s.path));
        CHECK(contains(err, "empty") || contains(err, "no key line"));
    }
    scratch_cleanup(&s);
}

static void test_load_rejects_file_over_1_mib(void)
{
    struct kms_provider *p = NULL;
    struct scratch s;
    char err[512];
    char *text = malloc(1024 * 1024 + 2);

    CHECK(scratch_init(&s));
    CHECK(text != NULL);
    if (text != NULL) {
        memset(text, '#', 1024 * 1024 + 1);
        text[1024 * 1024 + 1] = '\0';
        CHECK(load_text(&s, text, 0600, &p, err, sizeof(err)) == CORE_TOO_LARGE);
        CHECK(contains(err, s.path));
    }
    free(text);
    scratch_cleanup(&s);
}

/* A key file whose line 3 is wrong, and the text the message must contain. */
struct malformed_case {
    const char *name;
    const char *bad_line;
    const char *expected;
};

static void test_load_rejects_malformed_lines_naming_line(void)
{
    static const struct malformed_case cases[] = {
        { "bad base64 character", "s3seal-key-v1 k2 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh!=", "invalid base64" },
        { "padding inside", "s3seal-key-v1 k2 AAEC=wQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "invalid base64" },
        { "noncanonical base64", "s3seal-key-v1 k2 " KEY_A_NONCANONICAL, "invalid base64" },
        { "unpadded base64", "s3seal-key-v1 k2 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "invalid base64" },
        { "31-byte key", "s3seal-key-v1 k2 " KEY_31_BYTES, "key is 31 bytes, expected 32" },
        { "33-byte key", "s3seal-key-v1 k2 " KEY_33_BYTES, "key is 33 bytes, expected 32" },
        { "slash in id", "s3seal-key-v1 k/2 " KEY_B, "key id may contain only" },
        { "colon in id", "s3seal-key-v1 k:2 " KEY_B, "key id may contain only" },
        { "65-char id",
          "s3seal-key-v1 a2345678901234567890123456789012345678901234567890123456789012345 " KEY_B,
          "longer than 64" },
        { "duplicate id", "s3seal-key-v1 k1 " KEY_B, "duplicate key id \"k1\", first used on line 2" },
        { "missing key", "s3seal-key-v1 k2", "expected \"s3seal-key-v1 <key id> <base64 key>\"" },
        { "extra field", "s3seal-key-v1 k2 " KEY_B " extra", "expected \"s3seal-key-v1" },
        { "other tag", "key k2 " KEY_B, "expected \"s3seal-key-v1" },
        { "bare base64", KEY_B, "expected \"s3seal-key-v1" },
        { "newer version", "s3seal-key-v2 k2 " KEY_B, "unsupported key line format" },
    };
    struct kms_provider *p = NULL;
    char text[512];
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *bad_key = strrchr(cases[i].bad_line, ' ');

        snprintf(text, sizeof(text), "# keys\ns3seal-key-v1 k1 " KEY_A "\n%s\n\n", cases[i].bad_line);
        if (load_text(&s, text, 0600, &p, err, sizeof(err)) != CORE_CONFIG || !contains(err, "line 3: ") ||
            !contains(err, cases[i].expected) || !contains(err, s.path)) {
            fprintf(stderr, "case \"%s\" got message: %s\n", cases[i].name, err);
            failures++;
        }
        CHECK(p == NULL);

        /* no message may echo key material, from the good line or the bad one */
        CHECK(!contains(err, KEY_A));
        CHECK(!contains(err, "AAECAwQF"));
        CHECK(!contains(err, "ICEiIyQl"));
        CHECK(bad_key == NULL || !contains(err, bad_key + 1));
    }
    scratch_cleanup(&s);
}

static void test_load_accepts_comments_tabs_and_crlf(void)
{
    static const char text[] = "# production keys\r\n"
                               "\r\n"
                               "   # indented comment\n"
                               "\ts3seal-key-v1\tk1   " KEY_A "  \r\n"
                               "s3seal-key-v1 k.2_B-c " KEY_B;
    struct kms_provider *p;
    struct wrapped_dek w;
    uint8_t dek[KMS_DEK_LEN] = { 0 };
    struct scratch s;

    CHECK(scratch_init(&s));
    p = load_or_null(&s, text);
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(wrap_dek(p, dek, CONTEXT, &w) == CORE_OK);
        CHECK(strcmp(w.kms_id, "file:k.2_B-c") == 0);
    }
    kms_provider_free(p);
    scratch_cleanup(&s);
}

static void test_rotation_wraps_with_last_key(void)
{
    struct kms_provider *before = NULL;
    struct kms_provider *after = NULL;
    struct wrapped_dek old_w;
    struct wrapped_dek new_w;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    CHECK(kms_keyfile_generate(s.path, "k1", err, sizeof(err)) == CORE_OK);
    CHECK(kms_keyfile_load(s.path, &before, err, sizeof(err)) == CORE_OK);
    fill_dek(dek, 5);
    if (before != NULL) {
        CHECK(wrap_dek(before, dek, CONTEXT, &old_w) == CORE_OK);
        CHECK(strcmp(old_w.kms_id, "file:k1") == 0);
    }

    /* rotation as docs/KEYS.md describes it: append a line */
    CHECK(append_file(s.path, "s3seal-key-v1 k2 " KEY_B "\n"));
    CHECK(kms_keyfile_load(s.path, &after, err, sizeof(err)) == CORE_OK);
    if (before != NULL && after != NULL) {
        CHECK(wrap_dek(after, dek, CONTEXT, &new_w) == CORE_OK);
        CHECK(strcmp(new_w.kms_id, "file:k2") == 0);
        CHECK(unwrap_dek(after, &old_w, CONTEXT, out) == CORE_OK);
        CHECK(memcmp(dek, out, KMS_DEK_LEN) == 0);
        CHECK(unwrap_dek(after, &new_w, CONTEXT, out) == CORE_OK);
        CHECK(memcmp(dek, out, KMS_DEK_LEN) == 0);
        /* the old provider never had k2 */
        CHECK(unwrap_dek(before, &new_w, CONTEXT, out) == CORE_KMS);

        /* a key policy may still name the older key, and never gets another key in its place */
        CHECK(kms_wrap_with(after, "file:k1", dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), old_w.blob,
                            sizeof(old_w.blob), &old_w.len, old_w.kms_id, sizeof(old_w.kms_id)) == CORE_OK);
        CHECK(strcmp(old_w.kms_id, "file:k1") == 0);
        CHECK(unwrap_dek(before, &old_w, CONTEXT, out) == CORE_OK);
        CHECK(kms_wrap_with(after, "file:k3", dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), old_w.blob,
                            sizeof(old_w.blob), &old_w.len, old_w.kms_id, sizeof(old_w.kms_id)) == CORE_KMS);
    }
    kms_provider_free(before);
    kms_provider_free(after);
    scratch_cleanup(&s);
}

/* The hashed-context twin hands the key file provider a digest of the context, never the context. */
static void test_hashed_twin_sees_only_a_digest(void)
{
    static const char hashed_prefix[] = "s3seal/1 ctx-sha256";
    struct kms_provider *registry = NULL;
    struct kms_provider *keyfile = NULL;
    struct kms_provider *plain = NULL;
    struct wrapped_dek w;
    struct wrapped_dek as_plain;
    uint8_t digest_context[sizeof(hashed_prefix) - 1 + 32];
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    unsigned int digest_len = 0;
    struct scratch s;
    char err[512];

    CHECK(scratch_init(&s));
    CHECK(kms_keyfile_generate(s.path, "k1", err, sizeof(err)) == CORE_OK);
    CHECK(kms_keyfile_load(s.path, &keyfile, err, sizeof(err)) == CORE_OK);
    CHECK(kms_keyfile_load(s.path, &plain, err, sizeof(err)) == CORE_OK);
    CHECK(kms_registry_new(&registry) == CORE_OK);
    if (keyfile == NULL || plain == NULL || registry == NULL) {
        kms_provider_free(keyfile);
        kms_provider_free(plain);
        kms_provider_free(registry);
        scratch_cleanup(&s);
        return;
    }
    CHECK(kms_registry_add(registry, keyfile, true) == CORE_OK);
    CHECK(kms_registry_add_hashed(registry, true) == CORE_OK);

    fill_dek(dek, 9);
    CHECK(wrap_dek(registry, dek, CONTEXT, &w) == CORE_OK);
    CHECK(strcmp(w.kms_id, "file+h:k1") == 0);
    CHECK(unwrap_dek(registry, &w, CONTEXT, out) == CORE_OK);
    CHECK(memcmp(dek, out, KMS_DEK_LEN) == 0);

    /* the provider itself, given the plain context, rejects the blob */
    as_plain = w;
    snprintf(as_plain.kms_id, sizeof(as_plain.kms_id), "file:k1");
    CHECK(unwrap_dek(plain, &as_plain, CONTEXT, out) == CORE_CRYPTO);

    /* given the digest form, it opens the blob */
    memcpy(digest_context, hashed_prefix, sizeof(hashed_prefix) - 1);
    CHECK(EVP_Digest(CONTEXT, strlen(CONTEXT), digest_context + sizeof(hashed_prefix) - 1, &digest_len,
                     EVP_sha256(), NULL) == 1);
    CHECK(kms_unwrap(plain, "file:k1", w.blob, w.len, digest_context, sizeof(digest_context), out) == CORE_OK);
    CHECK(memcmp(dek, out, KMS_DEK_LEN) == 0);

    kms_provider_free(registry);
    kms_provider_free(plain);
    scratch_cleanup(&s);
}

static void test_load_accepts_null_err_buffer(void)
{
    struct kms_provider *p = NULL;
    struct scratch s;

    CHECK(scratch_init(&s));
    CHECK(load_text(&s, "s3seal-key-v1 k1 short\n", 0600, &p, NULL, 0) == CORE_CONFIG);
    CHECK(kms_keyfile_load(s.path, &p, NULL, 0) == CORE_CONFIG);
    CHECK(p == NULL);
    scratch_cleanup(&s);
}

int main(void)
{
    test_generated_file_round_trips();
    test_generate_default_key_id_is_k_and_hex();
    test_generate_writes_mode_0600_despite_umask();
    test_generate_rejects_existing_file();
    test_generate_rejects_invalid_key_id();
    test_unwrap_rejects_wrong_context();
    test_unwrap_rejects_every_bit_flip();
    test_unwrap_rejects_truncated_and_extended_blob();
    test_unwrap_rejects_unknown_key_id();
    test_unwrap_rejects_wrong_provider_prefix();
    test_unwrap_rejects_other_master_key_with_same_id();
    test_wrap_uses_fresh_iv_and_nonce();
    test_wrap_rejects_small_buffers();
    test_empty_context_round_trips();
    test_blob_matches_documented_format();
    test_load_rejects_group_or_other_access();
    test_load_accepts_owner_only_modes();
    test_load_missing_file_mentions_keygen();
    test_load_rejects_folder_and_fifo();
    test_load_rejects_files_without_keys();
    test_load_rejects_file_over_1_mib();
    test_load_rejects_malformed_lines_naming_line();
    test_load_accepts_comments_tabs_and_crlf();
    test_rotation_wraps_with_last_key();
    test_hashed_twin_sees_only_a_digest();
    test_load_accepts_null_err_buffer();

    if (failures > 0) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all kms_keyfile checks passed\n");
    return 0;
}
