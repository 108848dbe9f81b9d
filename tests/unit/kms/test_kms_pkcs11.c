/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the PKCS#11 provider against a real SoftHSM2 token that the test creates in a mkdtemp folder
 * under /tmp (softhsm2-util --init-token, then C_GenerateKey for the keys). Exits 77, which ctest counts
 * as skipped, when the SoftHSM2 module or softhsm2-util is not installed. The module path can be set with
 * S3SEAL_TEST_PKCS11_MODULE.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include "core/core_log.h"
#include "kms/kms.h"
#include "kms/kms_keyfile.h"
#include "kms/kms_pkcs11.h"
#include "kms/kms_registry.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#define SKIP_EXIT_CODE 77
#define TOKEN_LABEL "s3seal-test"
#define USER_PIN "1234"
#define SO_PIN "5678"
#define KEY_LABEL "kek1"
#define KEY_LABEL_2 "kek2"
#define KEY_LABEL_EXTRACTABLE "kek-extractable"
#define KEY_LABEL_WRAP "kek-wrap"
#define BLOB_LEN 61
#define CONTEXT "bucket-1/photos/cat.jpg"
#define LATENCY_CALLS 1000

static const char *module_path;
static char work_dir[64];
static char pin_file[128];

/* Settings for the token made by setup_token, with key label. */
static struct kms_pkcs11_settings settings_for(const char *key_label)
{
    struct kms_pkcs11_settings s = {
        .module_path = module_path,
        .token_label = TOKEN_LABEL,
        .pin_file = pin_file,
        .key_label = key_label,
        .mechanism = "aes-gcm",
    };
    return s;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static bool write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        return false;
    }
    fputs(text, f);
    fclose(f);
    return chmod(path, mode) == 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(path);
        } else {
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

static CK_SLOT_ID find_test_slot(CK_FUNCTION_LIST_PTR fn)
{
    CK_SLOT_ID slots[16];
    CK_ULONG count = 16;

    if (fn->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK) {
        return (CK_SLOT_ID)-1;
    }
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO info;

        if (fn->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
            memcmp(info.label, TOKEN_LABEL, strlen(TOKEN_LABEL)) == 0 && info.label[strlen(TOKEN_LABEL)] == ' ') {
            return slots[i];
        }
    }
    return (CK_SLOT_ID)-1;
}

/*
 * Generates an AES-256 token key; extractable keys are made not sensitive, as a careless setup would.
 * Keys with the label KEY_LABEL_WRAP may wrap and unwrap in place of encrypt and decrypt.
 */
static bool generate_key(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session, const char *label, bool extractable)
{
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG value_len = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL sensitive = extractable ? CK_FALSE : CK_TRUE;
    CK_BBOOL extract = extractable ? CK_TRUE : CK_FALSE;
    CK_BBOOL wraps = strcmp(label, KEY_LABEL_WRAP) == 0 ? CK_TRUE : CK_FALSE;
    CK_BBOOL crypts = wraps == CK_TRUE ? CK_FALSE : CK_TRUE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)(uintptr_t)label, strlen(label)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
        {CKA_ENCRYPT, &crypts, sizeof(crypts)},
        {CKA_DECRYPT, &crypts, sizeof(crypts)},
        {CKA_WRAP, &wraps, sizeof(wraps)},
        {CKA_UNWRAP, &wraps, sizeof(wraps)},
        {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extract, sizeof(extract)},
    };
    CK_OBJECT_HANDLE key;
    CK_RV rv = fn->C_GenerateKey(session, &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &key);

    if (rv != CKR_OK) {
        fprintf(stderr, "C_GenerateKey %s failed: 0x%lx\n", label, (unsigned long)rv);
    }
    return rv == CKR_OK;
}

static bool generate_keys(void)
{
    void *module = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR fn = NULL;
    CK_SESSION_HANDLE session;
    CK_SLOT_ID slot;
    bool ok = false;

    if (module == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", module_path, dlerror());
        return false;
    }
    get_list = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
    if (get_list == NULL || get_list(&fn) != CKR_OK || fn->C_Initialize(NULL) != CKR_OK) {
        dlclose(module);
        return false;
    }
    slot = find_test_slot(fn);
    if (slot != (CK_SLOT_ID)-1 &&
        fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session) == CKR_OK) {
        ok = fn->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)USER_PIN, strlen(USER_PIN)) == CKR_OK &&
             generate_key(fn, session, KEY_LABEL, false) && generate_key(fn, session, KEY_LABEL_2, false) &&
             generate_key(fn, session, KEY_LABEL_EXTRACTABLE, true) && generate_key(fn, session, KEY_LABEL_WRAP, false);
        (void)fn->C_CloseSession(session);
    }
    (void)fn->C_Finalize(NULL);
    dlclose(module);
    return ok;
}

/* Creates the SoftHSM2 configuration, token, keys and PIN file; returns false when any step fails. */
static bool setup_token(void)
{
    char conf[128];
    char text[256];
    char command[512];

    snprintf(work_dir, sizeof(work_dir), "/tmp/s3seal-p11-test-XXXXXX");
    if (mkdtemp(work_dir) == NULL) {
        perror("mkdtemp");
        return false;
    }
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", work_dir);
    snprintf(text, sizeof(text), "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
             work_dir);
    snprintf(command, sizeof(command), "%s/tokens", work_dir);
    if (!write_file(conf, text, 0600) || mkdir(command, 0700) != 0) {
        return false;
    }
    setenv("SOFTHSM2_CONF", conf, 1);

    snprintf(command, sizeof(command),
             "softhsm2-util --init-token --free --label %s --so-pin %s --pin %s >%s/init.log 2>&1", TOKEN_LABEL,
             SO_PIN, USER_PIN, work_dir);
    if (system(command) != 0) {
        fprintf(stderr, "softhsm2-util --init-token failed; see %s/init.log\n", work_dir);
        return false;
    }
    snprintf(pin_file, sizeof(pin_file), "%s/pin", work_dir);
    return write_file(pin_file, USER_PIN "\n", 0600) && generate_keys();
}

static void test_round_trip(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    struct kms_provider *p = NULL;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t wrapped[KMS_WRAPPED_MAX];
    uint8_t wrapped_again[KMS_WRAPPED_MAX];
    size_t wrapped_len = 0;
    size_t wrapped_again_len = 0;
    char kms_id[KMS_KEY_ID_MAX];
    char err[512] = "";

    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    if (p == NULL) {
        fprintf(stderr, "load failed: %s\n", err);
        return;
    }
    CHECK(RAND_bytes(dek, sizeof(dek)) == 1);
    CHECK(kms_wrap(p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), wrapped, sizeof(wrapped), &wrapped_len, kms_id,
                   sizeof(kms_id)) == CORE_OK);
    CHECK(strcmp(kms_id, "p11:" KEY_LABEL) == 0);
    CHECK(wrapped_len == BLOB_LEN);
    CHECK(wrapped[0] == 0x01);
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);

    /* a fresh iv per wrap: the same key and context never give the same blob */
    CHECK(kms_wrap(p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), wrapped_again, sizeof(wrapped_again),
                   &wrapped_again_len, kms_id, sizeof(kms_id)) == CORE_OK);
    CHECK(memcmp(wrapped, wrapped_again, BLOB_LEN) != 0);

    /* an empty context is allowed and bound like any other */
    CHECK(kms_wrap(p, dek, NULL, 0, wrapped, sizeof(wrapped), &wrapped_len, kms_id, sizeof(kms_id)) == CORE_OK);
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len, NULL, 0, out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len, (const uint8_t *)"x", 1, out) == CORE_CRYPTO);
    kms_provider_free(p);
}

static void test_wrong_context_and_tampering(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    struct kms_provider *p = NULL;
    static const uint8_t zero[KMS_DEK_LEN] = {0};
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t wrapped[KMS_WRAPPED_MAX];
    size_t wrapped_len = 0;
    char kms_id[KMS_KEY_ID_MAX];
    char err[512] = "";
    int accepted = 0;

    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    if (p == NULL) {
        return;
    }
    CHECK(RAND_bytes(dek, sizeof(dek)) == 1);
    CHECK(kms_wrap(p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), wrapped, sizeof(wrapped), &wrapped_len, kms_id,
                   sizeof(kms_id)) == CORE_OK);

    memset(out, 0xaa, sizeof(out));
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len, (const uint8_t *)"bucket-1/other", 14, out) == CORE_CRYPTO);
    CHECK(memcmp(out, zero, sizeof(out)) == 0);

    for (size_t i = 0; i < wrapped_len; i++) {
        wrapped[i] ^= 0x40;
        accepted += kms_unwrap(p, kms_id, wrapped, wrapped_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) !=
                    CORE_CRYPTO;
        wrapped[i] ^= 0x40;
    }
    CHECK(accepted == 0);
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len - 1, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) ==
          CORE_CRYPTO);
    CHECK(kms_unwrap(p, "p11:unknown-label", wrapped, wrapped_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) ==
          CORE_KMS);
    CHECK(kms_unwrap(p, "file:" KEY_LABEL, wrapped, wrapped_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) ==
          CORE_KMS);

    /* the blob still opens after all that, so the failures above came from the changes */
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);
    kms_provider_free(p);
}

/* Expects kms_pkcs11_load to fail with rc and a message that contains every NULL-terminated part. */
static void expect_load_failure(const struct kms_pkcs11_settings *s, enum core_err rc, const char *const *parts)
{
    struct kms_provider *p = NULL;
    char err[512] = "";

    CHECK(kms_pkcs11_load(s, &p, err, sizeof(err)) == rc);
    CHECK(p == NULL);
    for (size_t i = 0; parts[i] != NULL; i++) {
        if (strstr(err, parts[i]) == NULL) {
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err, parts[i]);
            failures++;
        }
    }
    kms_provider_free(p);
}

static void test_wrong_pin_message(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    const char *parts[] = {"PIN is incorrect", "CKR_PIN_INCORRECT", TOKEN_LABEL, "S3SEAL_PKCS11_PIN", NULL};
    char wrong_pin_file[160];
    struct kms_provider *p = NULL;
    char err[512] = "";

    snprintf(wrong_pin_file, sizeof(wrong_pin_file), "%s/wrong-pin", work_dir);
    CHECK(write_file(wrong_pin_file, "987654\n", 0600));
    s.pin_file = wrong_pin_file;
    expect_load_failure(&s, CORE_CONFIG, parts);

    /* the message never contains the PIN itself */
    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_CONFIG);
    CHECK(strstr(err, "987654") == NULL);

    /* the PIN given directly works as the PIN file does */
    s.pin_file = NULL;
    s.pin = USER_PIN;
    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    kms_provider_free(p);
}

static void test_pin_file_checks(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    const char *mode_parts[] = {"accessible by group or others", "chmod 600", NULL};
    const char *missing_parts[] = {"cannot open S3SEAL_PKCS11_PIN_FILE", NULL};
    const char *both_parts[] = {"exactly one of S3SEAL_PKCS11_PIN_FILE and S3SEAL_PKCS11_PIN", NULL};
    char open_pin_file[160];
    char missing[160];

    snprintf(open_pin_file, sizeof(open_pin_file), "%s/open-pin", work_dir);
    CHECK(write_file(open_pin_file, USER_PIN "\n", 0644));
    s.pin_file = open_pin_file;
    expect_load_failure(&s, CORE_CONFIG, mode_parts);

    snprintf(missing, sizeof(missing), "%s/no-such-pin", work_dir);
    s.pin_file = missing;
    expect_load_failure(&s, CORE_CONFIG, missing_parts);

    s.pin_file = pin_file;
    s.pin = USER_PIN;
    expect_load_failure(&s, CORE_CONFIG, both_parts);
    s.pin_file = NULL;
    s.pin = NULL;
    expect_load_failure(&s, CORE_CONFIG, both_parts);
}

static void test_missing_key_label_message(void)
{
    struct kms_pkcs11_settings s = settings_for("no-such-key");
    const char *parts[] = {"no AES secret key with label 'no-such-key'", TOKEN_LABEL, "S3SEAL_PKCS11_KEY_LABEL",
                           NULL};
    const char *invalid_parts[] = {"invalid S3SEAL_PKCS11_KEY_LABEL", NULL};
    const char *unset_parts[] = {"missing setting S3SEAL_PKCS11_KEY_LABEL", NULL};

    expect_load_failure(&s, CORE_CONFIG, parts);
    s.key_label = "has blank";
    expect_load_failure(&s, CORE_CONFIG, invalid_parts);
    s.key_label = NULL;
    expect_load_failure(&s, CORE_CONFIG, unset_parts);
}

static void test_extractable_key_rejected(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL_EXTRACTABLE);
    const char *parts[] = {"'" KEY_LABEL_EXTRACTABLE "'", "is extractable", "CKA_EXTRACTABLE false", NULL};

    expect_load_failure(&s, CORE_CONFIG, parts);
}

static void test_other_setting_messages(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    const char *token_parts[] = {"no PKCS#11 token with label 'no-such-token'", "S3SEAL_PKCS11_TOKEN_LABEL", NULL};
    const char *module_parts[] = {"cannot load S3SEAL_PKCS11_MODULE /nonexistent/libp11.so", NULL};
    const char *mechanism_parts[] = {"invalid S3SEAL_PKCS11_MECHANISM 'aes-cbc'", "aes-gcm or aes-key-wrap-pad", NULL};
    const char *usage_parts[] = {"key 'kek1'", "not allowed to wrap and unwrap", "CKA_WRAP and CKA_UNWRAP", NULL};

    s.token_label = "no-such-token";
    expect_load_failure(&s, CORE_CONFIG, token_parts);
    s = settings_for(KEY_LABEL);
    s.module_path = "/nonexistent/libp11.so";
    expect_load_failure(&s, CORE_CONFIG, module_parts);
    s = settings_for(KEY_LABEL);
    s.mechanism = "aes-cbc";
    expect_load_failure(&s, CORE_CONFIG, mechanism_parts);
    s = settings_for(KEY_LABEL);
    s.mechanism = "aes-key-wrap-pad";
    expect_load_failure(&s, CORE_CONFIG, usage_parts);
}

/*
 * CKM_AES_KEY_WRAP_PAD: loading runs the known-answer test against OpenSSL; blobs are RFC 5649 output of 40
 * bytes after a version byte; a changed blob fails; and GCM blobs of another key stay readable.
 */
static void test_key_wrap_pad(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL_WRAP);
    struct kms_pkcs11_settings gcm_settings = settings_for(KEY_LABEL);
    struct kms_provider *p = NULL;
    struct kms_provider *gcm = NULL;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t wrapped[KMS_WRAPPED_MAX];
    uint8_t gcm_blob[KMS_WRAPPED_MAX];
    size_t wrapped_len = 0;
    size_t gcm_len = 0;
    char kms_id[KMS_KEY_ID_MAX];
    char gcm_id[KMS_KEY_ID_MAX];
    char err[512] = "";

    s.mechanism = "aes-key-wrap-pad";
    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    CHECK(kms_pkcs11_load(&gcm_settings, &gcm, err, sizeof(err)) == CORE_OK);
    if (p == NULL || gcm == NULL) {
        fprintf(stderr, "load failed: %s\n", err);
        kms_provider_free(p);
        kms_provider_free(gcm);
        return;
    }
    CHECK(RAND_bytes(dek, sizeof(dek)) == 1);
    CHECK(kms_wrap(p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), wrapped, sizeof(wrapped), &wrapped_len, kms_id,
                   sizeof(kms_id)) == CORE_OK);
    CHECK(strcmp(kms_id, "p11:" KEY_LABEL_WRAP) == 0);
    CHECK(wrapped_len == 41);
    CHECK(wrapped[0] == 0x02);
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);

    wrapped[20] ^= 0x40;
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) == CORE_CRYPTO);
    wrapped[20] ^= 0x40;
    CHECK(kms_unwrap(p, kms_id, wrapped, wrapped_len - 1, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) ==
          CORE_CRYPTO);

    /* the blob version says which mechanism opens a blob, so a GCM object keeps opening */
    CHECK(kms_wrap(gcm, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), gcm_blob, sizeof(gcm_blob), &gcm_len, gcm_id,
                   sizeof(gcm_id)) == CORE_OK);
    CHECK(kms_unwrap(p, gcm_id, gcm_blob, gcm_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);
    kms_provider_free(p);
    kms_provider_free(gcm);
}

/* A blob wrapped under an earlier key label still unwraps after S3SEAL_PKCS11_KEY_LABEL changes. */
static void test_key_label_change(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    struct kms_provider *p = NULL;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t old_blob[KMS_WRAPPED_MAX];
    uint8_t new_blob[KMS_WRAPPED_MAX];
    size_t old_len = 0;
    size_t new_len = 0;
    char old_id[KMS_KEY_ID_MAX];
    char new_id[KMS_KEY_ID_MAX];
    char err[512] = "";

    CHECK(RAND_bytes(dek, sizeof(dek)) == 1);
    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(kms_wrap(p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), old_blob, sizeof(old_blob), &old_len,
                       old_id, sizeof(old_id)) == CORE_OK);
    }
    kms_provider_free(p);
    p = NULL;

    s.key_label = KEY_LABEL_2;
    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    if (p == NULL) {
        return;
    }
    CHECK(kms_wrap(p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), new_blob, sizeof(new_blob), &new_len, new_id,
                   sizeof(new_id)) == CORE_OK);
    CHECK(strcmp(new_id, "p11:" KEY_LABEL_2) == 0);
    CHECK(kms_unwrap(p, old_id, old_blob, old_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) == CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);
    /* a blob made under one key does not open under the other key's id */
    CHECK(kms_unwrap(p, new_id, old_blob, old_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) == CORE_CRYPTO);
    /* the extractable key is never used, not even to unwrap */
    CHECK(kms_unwrap(p, "p11:" KEY_LABEL_EXTRACTABLE, old_blob, old_len, (const uint8_t *)CONTEXT, strlen(CONTEXT),
                     out) == CORE_KMS);
    kms_provider_free(p);
}

/* Objects from the key file provider stay readable once PKCS#11 wraps new data keys. */
static void test_registry_with_key_file(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    struct kms_provider *registry = NULL;
    struct kms_provider *keyfile = NULL;
    struct kms_provider *pkcs11 = NULL;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t file_blob[KMS_WRAPPED_MAX];
    uint8_t p11_blob[KMS_WRAPPED_MAX];
    size_t file_len = 0;
    size_t p11_len = 0;
    char file_id[KMS_KEY_ID_MAX];
    char p11_id[KMS_KEY_ID_MAX];
    char key_path[160];
    char err[512] = "";

    snprintf(key_path, sizeof(key_path), "%s/master.key", work_dir);
    CHECK(kms_keyfile_generate(key_path, "k1", err, sizeof(err)) == CORE_OK);
    CHECK(RAND_bytes(dek, sizeof(dek)) == 1);
    CHECK(kms_keyfile_load(key_path, &keyfile, err, sizeof(err)) == CORE_OK);
    CHECK(keyfile != NULL);
    if (keyfile != NULL) {
        CHECK(kms_wrap(keyfile, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), file_blob, sizeof(file_blob),
                       &file_len, file_id, sizeof(file_id)) == CORE_OK);
    }
    CHECK(strcmp(file_id, "file:k1") == 0);

    CHECK(kms_pkcs11_load(&s, &pkcs11, err, sizeof(err)) == CORE_OK);
    CHECK(kms_registry_new(&registry) == CORE_OK);
    if (registry == NULL || pkcs11 == NULL || keyfile == NULL) {
        kms_provider_free(registry);
        kms_provider_free(pkcs11);
        kms_provider_free(keyfile);
        return;
    }
    CHECK(kms_registry_add(registry, keyfile, false) == CORE_OK);
    CHECK(kms_registry_add(registry, pkcs11, true) == CORE_OK);

    CHECK(kms_wrap(registry, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), p11_blob, sizeof(p11_blob), &p11_len,
                   p11_id, sizeof(p11_id)) == CORE_OK);
    CHECK(strcmp(p11_id, "p11:" KEY_LABEL) == 0);
    CHECK(kms_unwrap(registry, p11_id, p11_blob, p11_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) ==
          CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);
    CHECK(kms_unwrap(registry, file_id, file_blob, file_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) ==
          CORE_OK);
    CHECK(memcmp(dek, out, sizeof(dek)) == 0);

    /* a blob presented under the other provider's id fails */
    CHECK(kms_unwrap(registry, "file:k1", p11_blob, p11_len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) ==
          CORE_CRYPTO);
    CHECK(kms_unwrap(registry, "p11:" KEY_LABEL, file_blob, file_len, (const uint8_t *)CONTEXT, strlen(CONTEXT),
                     out) == CORE_CRYPTO);
    kms_provider_free(registry);
}

struct thread_args {
    struct kms_provider *p;
    int errors;
};

static void *wrap_unwrap_loop(void *arg)
{
    struct thread_args *t = arg;

    for (int i = 0; i < 300; i++) {
        uint8_t dek[KMS_DEK_LEN];
        uint8_t out[KMS_DEK_LEN];
        uint8_t blob[KMS_WRAPPED_MAX];
        size_t len = 0;
        char id[KMS_KEY_ID_MAX];

        memset(dek, i & 0xff, sizeof(dek));
        if (kms_wrap(t->p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), blob, sizeof(blob), &len, id,
                     sizeof(id)) != CORE_OK ||
            kms_unwrap(t->p, id, blob, len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) != CORE_OK ||
            memcmp(dek, out, sizeof(dek)) != 0) {
            t->errors++;
        }
    }
    return NULL;
}

static void test_threads_share_provider(void)
{
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    struct thread_args args[4];
    pthread_t threads[4];
    struct kms_provider *p = NULL;
    char err[512] = "";

    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    if (p == NULL) {
        return;
    }
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_args){.p = p};
        CHECK(pthread_create(&threads[i], NULL, wrap_unwrap_loop, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(args[i].errors == 0);
    }
    kms_provider_free(p);
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Prints the median time of LATENCY_CALLS wraps and unwraps; it checks results, not speed. */
static void report_latency(void)
{
    static double wrap_us[LATENCY_CALLS];
    static double unwrap_us[LATENCY_CALLS];
    struct kms_pkcs11_settings s = settings_for(KEY_LABEL);
    struct kms_provider *p = NULL;
    uint8_t dek[KMS_DEK_LEN] = {1};
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_WRAPPED_MAX];
    size_t len = 0;
    char id[KMS_KEY_ID_MAX];
    char err[512] = "";
    int errors = 0;

    CHECK(kms_pkcs11_load(&s, &p, err, sizeof(err)) == CORE_OK);
    if (p == NULL) {
        return;
    }
    for (int i = 0; i < LATENCY_CALLS; i++) {
        double t0 = now_us();

        errors += kms_wrap(p, dek, (const uint8_t *)CONTEXT, strlen(CONTEXT), blob, sizeof(blob), &len, id,
                           sizeof(id)) != CORE_OK;
        wrap_us[i] = now_us() - t0;
        t0 = now_us();
        errors += kms_unwrap(p, id, blob, len, (const uint8_t *)CONTEXT, strlen(CONTEXT), out) != CORE_OK;
        unwrap_us[i] = now_us() - t0;
    }
    CHECK(errors == 0);
    qsort(wrap_us, LATENCY_CALLS, sizeof(double), compare_double);
    qsort(unwrap_us, LATENCY_CALLS, sizeof(double), compare_double);
    printf("pkcs11 latency over %d calls: wrap median %.1f us, unwrap median %.1f us (module %s)\n", LATENCY_CALLS,
           wrap_us[LATENCY_CALLS / 2], unwrap_us[LATENCY_CALLS / 2], module_path);
    kms_provider_free(p);
}

int main(void)
{
    module_path = getenv("S3SEAL_TEST_PKCS11_MODULE");
    if (module_path == NULL) {
        module_path = "/usr/lib/softhsm/libsofthsm2.so";
    }
    if (!file_exists(module_path) || system("command -v softhsm2-util >/dev/null 2>&1") != 0) {
        printf("skipped: SoftHSM2 module %s or softhsm2-util not found; install the Debian package softhsm2\n",
               module_path);
        return SKIP_EXIT_CODE;
    }
    core_log_set_level(CORE_LOG_WARN);
    if (!setup_token()) {
        fprintf(stderr, "could not create the SoftHSM2 test token in %s\n", work_dir);
        remove_tree(work_dir);
        return 1;
    }

    test_round_trip();
    test_wrong_context_and_tampering();
    test_wrong_pin_message();
    test_pin_file_checks();
    test_missing_key_label_message();
    test_extractable_key_rejected();
    test_other_setting_messages();
    test_key_wrap_pad();
    test_key_label_change();
    test_registry_with_key_file();
    test_threads_share_provider();
    report_latency();

    remove_tree(work_dir);
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all pkcs11 provider tests passed\n");
    return 0;
}
