/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 provider. The module is loaded with dlopen, so s3seal links no PKCS#11 library and any
 * vendor's module works. A wrapped blob is
 *   version 0x01 || iv (12) || CKM_AES_GCM ciphertext of the DEK (32) || tag (16),
 * 61 bytes, made by C_Encrypt on the token with the caller's context as the GCM associated data.
 */
#include "kms/kms_pkcs11.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include "core/core_log.h"
#include "kms/kms_provider.h"

#define BLOB_VERSION 0x01 /* CKM_AES_GCM */
#define BLOB_VERSION_KWP 0x02 /* CKM_AES_KEY_WRAP_PAD */
#define IV_LEN 12
#define TAG_LEN 16
#define IV_OFFSET 1
#define CIPHERTEXT_OFFSET (IV_OFFSET + IV_LEN)
#define TAG_OFFSET (CIPHERTEXT_OFFSET + KMS_DEK_LEN)
#define BLOB_LEN (TAG_OFFSET + TAG_LEN)
/* RFC 5649 wraps 32 bytes into 40: an 8-byte integrity block and the key */
#define KWP_LEN 40
#define KWP_BLOB_LEN (1 + KWP_LEN)

#define MASTER_KEY_LEN 32
#define PIN_MAX 256
/* Keys found by label for unwrap; more labels than this are looked up on the token on every call. */
#define KEY_CACHE_MAX 16
#define MECHANISM_AES_GCM "aes-gcm"
#define MECHANISM_KWP "aes-key-wrap-pad"
#define SELF_TEST_CONTEXT "s3seal pkcs11 self-test"

/* A key object on the token, found by its label. */
struct token_key {
    char label[KMS_PKCS11_KEY_LABEL_MAX + 1];
    CK_OBJECT_HANDLE handle;
};

struct kms_pkcs11 {
    struct kms_provider base;
    void *module;
    CK_FUNCTION_LIST_PTR fn;
    bool initialized_here; /* this provider called C_Initialize, so it calls C_Finalize */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE session;
    bool session_open;
    char token_label[KMS_PKCS11_TOKEN_LABEL_MAX + 1];

    /*
     * lock serializes every use of session: a PKCS#11 session runs one operation at a time, and the proxy
     * calls from several worker threads. It also guards the key cache.
     */
    pthread_mutex_t lock;
    bool lock_ready;
    bool use_kwp;             /* new keys are wrapped with CKM_AES_KEY_WRAP_PAD, not CKM_AES_GCM */
    struct token_key current; /* the key that wraps */
    struct token_key cache[KEY_CACHE_MAX];
    size_t cache_count;
};

static void set_err(char *err, size_t err_cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_cap == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
}

static struct kms_pkcs11 *pkcs11_of(struct kms_provider *p)
{
    return (struct kms_pkcs11 *)p;
}

/* Returns the PKCS#11 name of common return values, or a generic phrase for the others. */
static const char *rv_name(CK_RV rv)
{
    static const struct {
        CK_RV rv;
        const char *name;
    } names[] = {
        {CKR_OK, "CKR_OK"},
        {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
        {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
        {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
        {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
        {CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID"},
        {CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE"},
        {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
        {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
        {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
        {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
        {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
        {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
        {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
        {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
        {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
        {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
        {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
        {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
        {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED"},
        {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].rv == rv) {
            return names[i].name;
        }
    }
    return "an error code of the module";
}

/* Checks a token or key label: printable ASCII without blanks, so it fits the s3seal-kms metadata value. */
static bool label_is_valid(const char *label, size_t max)
{
    size_t len = strlen(label);

    if (len == 0 || len > max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (label[i] < 0x21 || label[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static enum core_err check_settings(const struct kms_pkcs11_settings *s, char *err, size_t err_cap)
{
    if (s->module_path == NULL || s->module_path[0] == '\0') {
        set_err(err, err_cap, "missing setting S3SEAL_PKCS11_MODULE: set it to the path of the PKCS#11 module, "
                "such as /usr/lib/softhsm/libsofthsm2.so");
        return CORE_CONFIG;
    }
    if (s->token_label == NULL || s->token_label[0] == '\0') {
        set_err(err, err_cap, "missing setting S3SEAL_PKCS11_TOKEN_LABEL: set it to the label of the token "
                "that holds the master key");
        return CORE_CONFIG;
    }
    if (strlen(s->token_label) > KMS_PKCS11_TOKEN_LABEL_MAX) {
        set_err(err, err_cap, "invalid S3SEAL_PKCS11_TOKEN_LABEL: a token label has at most %d bytes",
                KMS_PKCS11_TOKEN_LABEL_MAX);
        return CORE_CONFIG;
    }
    if (s->key_label == NULL || !label_is_valid(s->key_label, KMS_PKCS11_KEY_LABEL_MAX)) {
        set_err(err, err_cap, "%s S3SEAL_PKCS11_KEY_LABEL: set it to the CKA_LABEL of the AES key, 1 to %d "
                "printable ASCII characters without blanks", s->key_label == NULL ? "missing setting" : "invalid",
                KMS_PKCS11_KEY_LABEL_MAX);
        return CORE_CONFIG;
    }
    if ((s->pin == NULL) == (s->pin_file == NULL)) {
        set_err(err, err_cap, "set exactly one of S3SEAL_PKCS11_PIN_FILE and S3SEAL_PKCS11_PIN; a PIN file "
                "with mode 0600 keeps the PIN out of the process environment");
        return CORE_CONFIG;
    }
    if (s->mechanism != NULL && strcmp(s->mechanism, MECHANISM_AES_GCM) != 0 &&
        strcmp(s->mechanism, MECHANISM_KWP) != 0) {
        set_err(err, err_cap, "invalid S3SEAL_PKCS11_MECHANISM '%s': expected %s or %s", s->mechanism,
                MECHANISM_AES_GCM, MECHANISM_KWP);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

/* Reads the PIN file, which must be a regular file that only its owner may access. */
static enum core_err read_pin_file(const char *path, char *pin, size_t pin_cap, size_t *pin_len, char *err,
                                   size_t err_cap)
{
    enum core_err rc = CORE_CONFIG;
    struct stat st;
    ssize_t n = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        set_err(err, err_cap, "cannot open S3SEAL_PKCS11_PIN_FILE %s: %s; check the path", path, strerror(errno));
        return errno == ENOENT ? CORE_CONFIG : CORE_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, err_cap, "S3SEAL_PKCS11_PIN_FILE %s is not a regular file; point it at the PIN file", path);
        goto out;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        set_err(err, err_cap, "S3SEAL_PKCS11_PIN_FILE %s is accessible by group or others (mode %04o); run "
                "chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }

    do {
        n = read(fd, pin, pin_cap);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        set_err(err, err_cap, "failed to read S3SEAL_PKCS11_PIN_FILE %s: %s", path, strerror(errno));
        rc = CORE_IO;
        goto out;
    }
    /* one trailing line end, as echo and editors write it, is not part of the PIN */
    while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r')) {
        n--;
    }
    if (n == 0 || (size_t)n == pin_cap) {
        set_err(err, err_cap, "S3SEAL_PKCS11_PIN_FILE %s must contain the PIN, 1 to %zu bytes", path, pin_cap - 1);
        goto out;
    }
    *pin_len = (size_t)n;
    rc = CORE_OK;

out:
    close(fd);
    if (rc != CORE_OK) {
        OPENSSL_cleanse(pin, pin_cap);
    }
    return rc;
}

static enum core_err load_module(struct kms_pkcs11 *p11, const char *path, char *err, size_t err_cap)
{
    CK_C_INITIALIZE_ARGS init_args = {0};
    CK_C_GetFunctionList get_function_list;
    CK_RV rv;

    p11->module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (p11->module == NULL) {
        set_err(err, err_cap, "cannot load S3SEAL_PKCS11_MODULE %s: %s; check the path and that the module's "
                "package is installed", path, dlerror());
        return CORE_CONFIG;
    }
    get_function_list = (CK_C_GetFunctionList)dlsym(p11->module, "C_GetFunctionList");
    if (get_function_list == NULL || get_function_list(&p11->fn) != CKR_OK || p11->fn == NULL) {
        set_err(err, err_cap, "S3SEAL_PKCS11_MODULE %s is not a PKCS#11 module: C_GetFunctionList is missing or "
                "failed", path);
        return CORE_CONFIG;
    }

    /* the module may use its own threads and locks, and s3seal calls it from several threads */
    init_args.flags = CKF_OS_LOCKING_OK;
    rv = p11->fn->C_Initialize(&init_args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        /* another user in this process owns the library's life; C_Finalize is theirs to call */
        return CORE_OK;
    }
    if (rv != CKR_OK) {
        set_err(err, err_cap, "C_Initialize of PKCS#11 module %s failed: %s (0x%lx)", path, rv_name(rv),
                (unsigned long)rv);
        return CORE_KMS;
    }
    p11->initialized_here = true;
    return CORE_OK;
}

/* Compares a blank-padded CK_TOKEN_INFO label with a NUL-terminated one. */
static bool token_label_equals(const CK_UTF8CHAR field[32], const char *label)
{
    size_t len = strlen(label);

    if (len > 32 || memcmp(field, label, len) != 0) {
        return false;
    }
    for (size_t i = len; i < 32; i++) {
        if (field[i] != ' ' && field[i] != '\0') {
            return false;
        }
    }
    return true;
}

/* Finds the one slot whose token has the label; slot ids change when a token is created, labels do not. */
static enum core_err find_slot(struct kms_pkcs11 *p11, const char *label, char *err, size_t err_cap)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG count = 0;
    size_t matches = 0;
    enum core_err rc = CORE_KMS;
    CK_RV rv;

    rv = p11->fn->C_GetSlotList(CK_TRUE, NULL, &count);
    if (rv == CKR_OK && count > 0) {
        slots = calloc(count, sizeof(*slots));
        if (slots == NULL) {
            return CORE_NOMEM;
        }
        rv = p11->fn->C_GetSlotList(CK_TRUE, slots, &count);
    }
    if (rv != CKR_OK) {
        set_err(err, err_cap, "C_GetSlotList failed: %s (0x%lx)", rv_name(rv), (unsigned long)rv);
        goto out;
    }

    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO info;

        if (p11->fn->C_GetTokenInfo(slots[i], &info) == CKR_OK && token_label_equals(info.label, label)) {
            p11->slot = slots[i];
            matches++;
        }
    }
    if (matches != 1) {
        set_err(err, err_cap, matches == 0 ? "no PKCS#11 token with label '%s' in the module's %lu slots with a "
                "token; check S3SEAL_PKCS11_TOKEN_LABEL and the module's configuration" : "%s: several PKCS#11 "
                "tokens have this label (in %lu slots); give each token its own label", label,
                (unsigned long)count);
        rc = CORE_CONFIG;
        goto out;
    }
    rc = CORE_OK;

out:
    free(slots);
    return rc;
}

static enum core_err check_mechanism(struct kms_pkcs11 *p11, char *err, size_t err_cap)
{
    CK_MECHANISM_TYPE type = p11->use_kwp ? CKM_AES_KEY_WRAP_PAD : CKM_AES_GCM;
    CK_FLAGS needed = p11->use_kwp ? (CKF_WRAP | CKF_UNWRAP) : (CKF_ENCRYPT | CKF_DECRYPT);
    CK_MECHANISM_INFO info;
    CK_RV rv = p11->fn->C_GetMechanismInfo(p11->slot, type, &info);

    if (rv != CKR_OK || (info.flags & needed) != needed) {
        set_err(err, err_cap, "token '%s' does not offer %s for %s (%s); use a token that supports it or "
                "another S3SEAL_PKCS11_MECHANISM", p11->token_label,
                p11->use_kwp ? "CKM_AES_KEY_WRAP_PAD" : "CKM_AES_GCM",
                p11->use_kwp ? "wrap and unwrap" : "encrypt and decrypt", rv == CKR_OK ? "flags missing" : rv_name(rv));
        return CORE_CONFIG;
    }
    return CORE_OK;
}

static enum core_err open_session(struct kms_pkcs11 *p11, const char *pin, size_t pin_len, char *err,
                                  size_t err_cap)
{
    CK_RV rv;

    rv = p11->fn->C_OpenSession(p11->slot, CKF_SERIAL_SESSION, NULL, NULL, &p11->session);
    if (rv != CKR_OK) {
        set_err(err, err_cap, "C_OpenSession on token '%s' failed: %s (0x%lx)", p11->token_label, rv_name(rv),
                (unsigned long)rv);
        return CORE_KMS;
    }
    p11->session_open = true;

    rv = p11->fn->C_Login(p11->session, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)pin, (CK_ULONG)pin_len);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        return CORE_OK;
    }
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
        set_err(err, err_cap, "login to PKCS#11 token '%s' failed: the PIN is incorrect (%s); check "
                "S3SEAL_PKCS11_PIN_FILE or S3SEAL_PKCS11_PIN", p11->token_label, rv_name(rv));
        return CORE_CONFIG;
    }
    set_err(err, err_cap, "login to PKCS#11 token '%s' failed: %s (0x%lx)%s", p11->token_label, rv_name(rv),
            (unsigned long)rv, rv == CKR_PIN_LOCKED ? "; the token's security officer must unlock the user PIN" : "");
    return rv == CKR_PIN_LOCKED || rv == CKR_USER_PIN_NOT_INITIALIZED ? CORE_CONFIG : CORE_KMS;
}

/* Finds the one AES secret key object with the label; the caller holds the lock or is the only user. */
static enum core_err find_key_object(struct kms_pkcs11 *p11, const char *label, CK_OBJECT_HANDLE *out,
                                     char *err, size_t err_cap)
{
    CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = CKK_AES;
    CK_ATTRIBUTE query[] = {
        {CKA_CLASS, &key_class, sizeof(key_class)},
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
        {CKA_LABEL, (void *)(uintptr_t)label, strlen(label)},
    };
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    CK_RV rv;

    rv = p11->fn->C_FindObjectsInit(p11->session, query, sizeof(query) / sizeof(query[0]));
    if (rv == CKR_OK) {
        rv = p11->fn->C_FindObjects(p11->session, found, 2, &count);
        (void)p11->fn->C_FindObjectsFinal(p11->session);
    }
    if (rv != CKR_OK) {
        set_err(err, err_cap, "searching token '%s' for key '%s' failed: %s (0x%lx)", p11->token_label, label,
                rv_name(rv), (unsigned long)rv);
        return CORE_KMS;
    }
    if (count == 0) {
        set_err(err, err_cap, "no AES secret key with label '%s' on token '%s'; check S3SEAL_PKCS11_KEY_LABEL or "
                "create the key as docs/KEYS.md shows", label, p11->token_label);
        return CORE_CONFIG;
    }
    if (count > 1) {
        set_err(err, err_cap, "several AES secret keys have label '%s' on token '%s'; give the master key a "
                "label of its own", label, p11->token_label);
        return CORE_CONFIG;
    }
    *out = found[0];
    return CORE_OK;
}

/*
 * Rejects a key that could leave the token, or that may not encrypt and decrypt (CKM_AES_GCM) or wrap and
 * unwrap (CKM_AES_KEY_WRAP_PAD, when kwp is true).
 */
static enum core_err check_key_attributes(struct kms_pkcs11 *p11, const char *label, CK_OBJECT_HANDLE key,
                                          bool kwp, char *err, size_t err_cap)
{
    CK_BBOOL sensitive = CK_FALSE;
    CK_BBOOL extractable = CK_TRUE;
    CK_BBOOL can_encrypt = CK_FALSE;
    CK_BBOOL can_decrypt = CK_FALSE;
    CK_ULONG value_len = 0;
    CK_ATTRIBUTE attrs[] = {
        {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
        {kwp ? CKA_WRAP : CKA_ENCRYPT, &can_encrypt, sizeof(can_encrypt)},
        {kwp ? CKA_UNWRAP : CKA_DECRYPT, &can_decrypt, sizeof(can_decrypt)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
    };
    CK_RV rv = p11->fn->C_GetAttributeValue(p11->session, key, attrs, sizeof(attrs) / sizeof(attrs[0]));

    if (rv != CKR_OK) {
        set_err(err, err_cap, "reading the attributes of key '%s' on token '%s' failed: %s (0x%lx)", label,
                p11->token_label, rv_name(rv), (unsigned long)rv);
        return CORE_KMS;
    }
    if (sensitive != CK_TRUE || extractable != CK_FALSE) {
        set_err(err, err_cap, "key '%s' on token '%s' is %s, so its value could leave the token; create a new "
                "key with CKA_SENSITIVE true and CKA_EXTRACTABLE false", label, p11->token_label,
                extractable != CK_FALSE ? "extractable" : "not sensitive");
        return CORE_CONFIG;
    }
    if (can_encrypt != CK_TRUE || can_decrypt != CK_TRUE) {
        set_err(err, err_cap, "key '%s' on token '%s' is not allowed to %s; create it with %s true", label,
                p11->token_label, kwp ? "wrap and unwrap" : "encrypt and decrypt",
                kwp ? "CKA_WRAP and CKA_UNWRAP" : "CKA_ENCRYPT and CKA_DECRYPT");
        return CORE_CONFIG;
    }
    if (value_len != MASTER_KEY_LEN) {
        set_err(err, err_cap, "key '%s' on token '%s' is %lu bytes long; s3seal needs an AES-256 key (32 bytes)",
                label, p11->token_label, (unsigned long)value_len);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

/*
 * Returns the handle of the key with the label, from the cache or from the token. A key found on the token
 * is first checked for the mechanism that kwp selects. The caller holds the lock.
 */
static enum core_err lookup_key_locked(struct kms_pkcs11 *p11, const char *label, bool kwp, CK_OBJECT_HANDLE *out)
{
    char err[512] = "";
    enum core_err rc;

    if (strcmp(label, p11->current.label) == 0) {
        *out = p11->current.handle;
        return CORE_OK;
    }
    for (size_t i = 0; i < p11->cache_count; i++) {
        if (strcmp(label, p11->cache[i].label) == 0) {
            *out = p11->cache[i].handle;
            return CORE_OK;
        }
    }
    if (!label_is_valid(label, KMS_PKCS11_KEY_LABEL_MAX)) {
        return CORE_KMS;
    }

    /* a key from before a change of S3SEAL_PKCS11_KEY_LABEL, needed to read older objects */
    rc = find_key_object(p11, label, out, err, sizeof(err));
    if (rc == CORE_OK) {
        rc = check_key_attributes(p11, label, *out, kwp, err, sizeof(err));
    }
    if (rc != CORE_OK) {
        core_log(CORE_LOG_ERROR, "kms", "cannot unwrap with PKCS#11 key: %s", err);
        return CORE_KMS;
    }
    if (p11->cache_count < KEY_CACHE_MAX) {
        memcpy(p11->cache[p11->cache_count].label, label, strlen(label) + 1);
        p11->cache[p11->cache_count].handle = *out;
        p11->cache_count++;
    }
    return CORE_OK;
}

/* Builds the CKM_AES_GCM parameters; the module reads but does not change iv and aad. */
static void gcm_params_init(CK_GCM_PARAMS *params, const uint8_t *iv, const uint8_t *aad, size_t aad_len)
{
    static const uint8_t no_aad[1] = {0};

    params->pIv = (CK_BYTE_PTR)(uintptr_t)iv;
    params->ulIvLen = IV_LEN;
    params->ulIvBits = IV_LEN * 8;
    params->pAAD = (CK_BYTE_PTR)(uintptr_t)(aad_len > 0 ? aad : no_aad);
    params->ulAADLen = aad_len;
    params->ulTagBits = TAG_LEN * 8;
}

/* Encrypts the DEK into blob[CIPHERTEXT_OFFSET..BLOB_LEN); blob[IV_OFFSET..] already contains the IV. */
static enum core_err gcm_encrypt(struct kms_pkcs11 *p11, const uint8_t dek[KMS_DEK_LEN], const uint8_t *aad,
                                 size_t aad_len, uint8_t blob[BLOB_LEN])
{
    CK_GCM_PARAMS params;
    CK_MECHANISM mech = {CKM_AES_GCM, &params, sizeof(params)};
    CK_ULONG out_len = KMS_DEK_LEN + TAG_LEN;
    CK_RV rv;

    gcm_params_init(&params, blob + IV_OFFSET, aad, aad_len);
    pthread_mutex_lock(&p11->lock);
    rv = p11->fn->C_EncryptInit(p11->session, &mech, p11->current.handle);
    if (rv == CKR_OK) {
        rv = p11->fn->C_Encrypt(p11->session, (CK_BYTE_PTR)(uintptr_t)dek, KMS_DEK_LEN, blob + CIPHERTEXT_OFFSET,
                                &out_len);
    }
    pthread_mutex_unlock(&p11->lock);

    if (rv != CKR_OK || out_len != KMS_DEK_LEN + TAG_LEN) {
        core_log(CORE_LOG_ERROR, "kms", "PKCS#11 wrap failed token=%s key_label=%s rv=%s(0x%lx) out_len=%lu",
                 p11->token_label, p11->current.label, rv_name(rv), (unsigned long)rv, (unsigned long)out_len);
        return CORE_KMS;
    }
    return CORE_OK;
}

static enum core_err gcm_decrypt(struct kms_pkcs11 *p11, const char *label, const uint8_t blob[BLOB_LEN],
                                 const uint8_t *aad, size_t aad_len, uint8_t *dek)
{
    uint8_t plain[KMS_DEK_LEN + TAG_LEN];
    CK_GCM_PARAMS params;
    CK_MECHANISM mech = {CKM_AES_GCM, &params, sizeof(params)};
    CK_ULONG out_len = sizeof(plain);
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    enum core_err rc;
    CK_RV rv = CKR_OK;

    gcm_params_init(&params, blob + IV_OFFSET, aad, aad_len);
    pthread_mutex_lock(&p11->lock);
    rc = lookup_key_locked(p11, label, false, &key);
    if (rc == CORE_OK) {
        rv = p11->fn->C_DecryptInit(p11->session, &mech, key);
        if (rv == CKR_OK) {
            rv = p11->fn->C_Decrypt(p11->session, (CK_BYTE_PTR)(uintptr_t)(blob + CIPHERTEXT_OFFSET),
                                    KMS_DEK_LEN + TAG_LEN, plain, &out_len);
        }
    }
    pthread_mutex_unlock(&p11->lock);
    CORE_TRY(rc);

    if (rv == CKR_OK && out_len == KMS_DEK_LEN) {
        memcpy(dek, plain, KMS_DEK_LEN);
        rc = CORE_OK;
    } else if (rv == CKR_OK || rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
               rv == CKR_GENERAL_ERROR) {
        /* SoftHSM 2.6 reports a bad tag as CKR_GENERAL_ERROR, so that code counts as failed authentication */
        rc = CORE_CRYPTO;
    } else {
        core_log(CORE_LOG_ERROR, "kms", "PKCS#11 unwrap failed token=%s key_label=%s rv=%s(0x%lx)",
                 p11->token_label, label, rv_name(rv), (unsigned long)rv);
        rc = CORE_KMS;
    }
    OPENSSL_cleanse(plain, sizeof(plain));
    return rc;
}

/* Makes a session key object of value key on the token, extractable so that C_WrapKey may wrap it. */
static CK_RV create_session_key(struct kms_pkcs11 *p11, const uint8_t key[KMS_DEK_LEN], bool wraps,
                                CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = CKK_AES;
    CK_BBOOL no = CK_FALSE;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE attrs[] = {
        {CKA_CLASS, &key_class, sizeof(key_class)},
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_WRAP, wraps ? &yes : &no, sizeof(yes)},
        {CKA_UNWRAP, wraps ? &yes : &no, sizeof(yes)},
        {CKA_VALUE, (void *)(uintptr_t)key, KMS_DEK_LEN},
    };

    return p11->fn->C_CreateObject(p11->session, attrs, sizeof(attrs) / sizeof(attrs[0]), out);
}

/* Wraps dek under kek with CKM_AES_KEY_WRAP_PAD into out (KWP_LEN bytes); the caller holds the lock. */
static CK_RV kwp_wrap_locked(struct kms_pkcs11 *p11, CK_OBJECT_HANDLE kek, const uint8_t dek[KMS_DEK_LEN],
                             uint8_t out[KWP_LEN])
{
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_ULONG out_len = KWP_LEN;
    CK_RV rv = create_session_key(p11, dek, false, &obj);

    if (rv == CKR_OK) {
        rv = p11->fn->C_WrapKey(p11->session, &mech, kek, obj, out, &out_len);
        (void)p11->fn->C_DestroyObject(p11->session, obj);
    }
    if (rv == CKR_OK && out_len != KWP_LEN) {
        rv = CKR_GENERAL_ERROR;
    }
    return rv;
}

/* Unwraps a KWP_LEN-byte blob under kek into dek; the caller holds the lock. */
static CK_RV kwp_unwrap_locked(struct kms_pkcs11 *p11, CK_OBJECT_HANDLE kek, const uint8_t in[KWP_LEN],
                               uint8_t dek[KMS_DEK_LEN])
{
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = CKK_AES;
    CK_BBOOL no = CK_FALSE;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {
        {CKA_CLASS, &key_class, sizeof(key_class)},
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
    };
    CK_ATTRIBUTE value = {CKA_VALUE, dek, KMS_DEK_LEN};
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = p11->fn->C_UnwrapKey(p11->session, &mech, kek, (CK_BYTE_PTR)(uintptr_t)in, KWP_LEN, templ,
                                    sizeof(templ) / sizeof(templ[0]), &obj);

    if (rv == CKR_OK) {
        rv = p11->fn->C_GetAttributeValue(p11->session, obj, &value, 1);
        (void)p11->fn->C_DestroyObject(p11->session, obj);
    }
    if (rv == CKR_OK && value.ulValueLen != KMS_DEK_LEN) {
        rv = CKR_WRAPPED_KEY_INVALID;
    }
    if (rv != CKR_OK) {
        OPENSSL_cleanse(dek, KMS_DEK_LEN);
    }
    return rv;
}

/*
 * Unwraps a CKM_AES_KEY_WRAP_PAD blob. The mechanism takes no associated data, so the context is not bound
 * here: the envelope MAC, keyed from the data key, covers bucket and key and fails for a swapped envelope.
 */
static enum core_err kwp_decrypt(struct kms_pkcs11 *p11, const char *label, const uint8_t blob[KWP_BLOB_LEN],
                                 uint8_t *dek)
{
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    enum core_err rc;
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&p11->lock);
    rc = lookup_key_locked(p11, label, true, &key);
    if (rc == CORE_OK) {
        rv = kwp_unwrap_locked(p11, key, blob + 1, dek);
    }
    pthread_mutex_unlock(&p11->lock);
    CORE_TRY(rc);

    if (rv == CKR_OK) {
        return CORE_OK;
    }
    if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_GENERAL_ERROR) {
        /* SoftHSM 2.6 reports a failed integrity check as CKR_GENERAL_ERROR too */
        return CORE_CRYPTO;
    }
    core_log(CORE_LOG_ERROR, "kms", "PKCS#11 unwrap failed token=%s key_label=%s rv=%s(0x%lx)", p11->token_label,
             label, rv_name(rv), (unsigned long)rv);
    return CORE_KMS;
}

/* Wraps only with the configured key: want_label may name it, but no other token key is opened for wrapping. */
static enum core_err pkcs11_wrap(struct kms_provider *p, const char *want_label, const uint8_t dek[KMS_DEK_LEN],
                                 const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                                 size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_pkcs11 *p11 = pkcs11_of(p);
    size_t label_len = strlen(p11->current.label);

    CORE_ENSURE(want_label == NULL || strcmp(want_label, p11->current.label) == 0, CORE_KMS);

    CORE_ENSURE(wrapped_cap >= BLOB_LEN, CORE_TOO_LARGE);
    CORE_ENSURE(label_len < key_id_cap, CORE_TOO_LARGE);
    CORE_ENSURE(context_len <= ULONG_MAX, CORE_TOO_LARGE);

    /*
     * NOTE: with random 96-bit IVs, one GCM key is commonly limited to 2^32 wraps, because IV collisions
     * become likely beyond that. The key never leaves the token, so s3seal cannot derive a fresh key per
     * wrap as the file provider does. Change S3SEAL_PKCS11_KEY_LABEL well before that many objects exist.
     */
    if (p11->use_kwp) {
        CK_RV rv;

        wrapped[0] = BLOB_VERSION_KWP;
        pthread_mutex_lock(&p11->lock);
        rv = kwp_wrap_locked(p11, p11->current.handle, dek, wrapped + 1);
        pthread_mutex_unlock(&p11->lock);
        if (rv != CKR_OK) {
            core_log(CORE_LOG_ERROR, "kms", "PKCS#11 wrap failed token=%s key_label=%s rv=%s(0x%lx)",
                     p11->token_label, p11->current.label, rv_name(rv), (unsigned long)rv);
            return CORE_KMS;
        }
        *wrapped_len = KWP_BLOB_LEN;
    } else {
        wrapped[0] = BLOB_VERSION;
        CORE_ENSURE(RAND_bytes(wrapped + IV_OFFSET, IV_LEN) == 1, CORE_CRYPTO);
        CORE_TRY(gcm_encrypt(p11, dek, context, context_len, wrapped));
        *wrapped_len = BLOB_LEN;
    }
    memcpy(key_id, p11->current.label, label_len + 1);
    return CORE_OK;
}

static enum core_err pkcs11_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                   size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                   size_t dek_cap, size_t *dek_len)
{
    struct kms_pkcs11 *p11 = pkcs11_of(p);

    CORE_ENSURE(dek_cap >= KMS_DEK_LEN, CORE_INTERNAL);
    CORE_ENSURE(context_len <= ULONG_MAX, CORE_TOO_LARGE);
    /* a wrong length or version is tampering too, and fails the same way as a bad tag */
    if (wrapped_len == KWP_BLOB_LEN && wrapped[0] == BLOB_VERSION_KWP) {
        CORE_TRY(kwp_decrypt(p11, key_id, wrapped, dek));
        *dek_len = KMS_DEK_LEN;
        return CORE_OK;
    }
    CORE_ENSURE(wrapped_len == BLOB_LEN && wrapped[0] == BLOB_VERSION, CORE_CRYPTO);

    CORE_TRY(gcm_decrypt(p11, key_id, wrapped, context, context_len, dek));
    *dek_len = KMS_DEK_LEN;
    return CORE_OK;
}

static void pkcs11_free(struct kms_provider *p)
{
    struct kms_pkcs11 *p11 = pkcs11_of(p);

    if (p11->session_open) {
        /* closing the application's last session on the token also logs it out */
        (void)p11->fn->C_CloseSession(p11->session);
    }
    if (p11->initialized_here) {
        (void)p11->fn->C_Finalize(NULL);
    }
    if (p11->module != NULL) {
        dlclose(p11->module);
    }
    if (p11->lock_ready) {
        pthread_mutex_destroy(&p11->lock);
    }
    OPENSSL_cleanse(p11, sizeof(*p11));
    free(p11);
}

static const struct kms_provider_ops pkcs11_ops = {
    .name = "p11",
    .wrap = pkcs11_wrap,
    .unwrap = pkcs11_unwrap,
    .free = pkcs11_free,
};

/* Wraps dek under kek with OpenSSL's RFC 5649 implementation, the reference for the token's output. */
static bool openssl_kwp(const uint8_t kek[MASTER_KEY_LEN], const uint8_t dek[KMS_DEK_LEN], uint8_t out[KWP_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    int tail = 0;
    bool ok = ctx != NULL;

    if (ok) {
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, kek, NULL) == 1 &&
             EVP_EncryptUpdate(ctx, out, &len, dek, KMS_DEK_LEN) == 1 && EVP_EncryptFinal_ex(ctx, out + len, &tail) == 1 &&
             len + tail == KWP_LEN;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/*
 * Checks the token's CKM_AES_KEY_WRAP_PAD against RFC 5649 as OpenSSL implements it, with a known key in a
 * session object. Tokens differ in what they implement under that mechanism number. Only true RFC 5649
 * blobs can be opened by another implementation, which recovery without the token's vendor needs.
 */
static const char *kwp_known_answer(struct kms_pkcs11 *p11)
{
    static const uint8_t test_kek[MASTER_KEY_LEN] = {
        0x5a, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef,
        0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
    };
    uint8_t dek[KMS_DEK_LEN];
    uint8_t expected[KWP_LEN];
    uint8_t got[KWP_LEN];
    uint8_t out[KMS_DEK_LEN];
    CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
    const char *failure = NULL;
    CK_RV rv;

    if (RAND_bytes(dek, sizeof(dek)) != 1 || !openssl_kwp(test_kek, dek, expected)) {
        return "OpenSSL could not compute the expected RFC 5649 output";
    }
    pthread_mutex_lock(&p11->lock);
    rv = create_session_key(p11, test_kek, true, &kek);
    if (rv != CKR_OK) {
        failure = "the token refused a session key for the known-answer test";
    } else if (kwp_wrap_locked(p11, kek, dek, got) != CKR_OK || CRYPTO_memcmp(got, expected, KWP_LEN) != 0) {
        failure = "its CKM_AES_KEY_WRAP_PAD output differs from RFC 5649 as OpenSSL computes it";
    } else if (kwp_unwrap_locked(p11, kek, expected, out) != CKR_OK || CRYPTO_memcmp(out, dek, KMS_DEK_LEN) != 0) {
        failure = "it did not unwrap the RFC 5649 blob that OpenSSL made";
    }
    if (kek != CK_INVALID_HANDLE) {
        (void)p11->fn->C_DestroyObject(p11->session, kek);
    }
    pthread_mutex_unlock(&p11->lock);
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(out, sizeof(out));
    return failure;
}

/*
 * Wraps and unwraps a random key, then checks that a changed blob fails and, with CKM_AES_GCM, that a
 * changed context fails. A module that ignored the associated data or the tag would otherwise pass a round
 * trip and bind nothing. CKM_AES_KEY_WRAP_PAD is first compared with OpenSSL's output for a known key.
 */
static enum core_err self_test(struct kms_pkcs11 *p11, char *err, size_t err_cap)
{
    static const uint8_t context[] = SELF_TEST_CONTEXT;
    static const uint8_t other_context[] = SELF_TEST_CONTEXT "!";
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[BLOB_LEN];
    char key_id[KMS_KEY_ID_MAX];
    size_t blob_len = 0;
    size_t out_len = 0;
    const char *failure = NULL;
    enum core_err rc;

    CORE_ENSURE(RAND_bytes(dek, sizeof(dek)) == 1, CORE_CRYPTO);
    if (p11->use_kwp) {
        failure = kwp_known_answer(p11);
    }
    rc = failure == NULL ? pkcs11_wrap(&p11->base, NULL, dek, context, sizeof(context) - 1, blob, sizeof(blob),
                                       &blob_len, key_id, sizeof(key_id))
                         : CORE_KMS;
    if (failure != NULL) {
        /* the known-answer test named what failed */
    } else if (rc != CORE_OK) {
        failure = "wrapping a test key failed";
    } else if (pkcs11_unwrap(&p11->base, key_id, blob, blob_len, context, sizeof(context) - 1, out, sizeof(out),
                             &out_len) != CORE_OK || CRYPTO_memcmp(dek, out, sizeof(dek)) != 0) {
        failure = "unwrapping did not return the wrapped test key";
    } else if (!p11->use_kwp && pkcs11_unwrap(&p11->base, key_id, blob, blob_len, other_context,
                                              sizeof(other_context) - 1, out, sizeof(out), &out_len) != CORE_CRYPTO) {
        failure = "C_Decrypt accepted a different associated data";
    } else {
        blob[blob_len - 1] ^= 0x01;
        if (pkcs11_unwrap(&p11->base, key_id, blob, blob_len, context, sizeof(context) - 1, out, sizeof(out),
                          &out_len) != CORE_CRYPTO) {
            failure = "a changed blob was accepted";
        }
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(out, sizeof(out));
    if (failure != NULL) {
        set_err(err, err_cap, "self-test of %s with key '%s' on token '%s' failed: %s; the module's log may say "
                "why", p11->use_kwp ? "CKM_AES_KEY_WRAP_PAD" : "CKM_AES_GCM", p11->current.label,
                p11->token_label, failure);
        return CORE_KMS;
    }
    return CORE_OK;
}

/* Opens the session, logs in and finds the wrapping key; the PIN is wiped before this returns. */
static enum core_err connect_token(struct kms_pkcs11 *p11, const struct kms_pkcs11_settings *s, char *err,
                                   size_t err_cap)
{
    char pin[PIN_MAX + 1];
    size_t pin_len = 0;
    enum core_err rc;

    if (s->pin_file != NULL) {
        CORE_TRY(read_pin_file(s->pin_file, pin, sizeof(pin), &pin_len, err, err_cap));
    } else {
        pin_len = strlen(s->pin);
        if (pin_len == 0 || pin_len > PIN_MAX) {
            set_err(err, err_cap, "invalid S3SEAL_PKCS11_PIN: a PIN has 1 to %d bytes", PIN_MAX);
            return CORE_CONFIG;
        }
        memcpy(pin, s->pin, pin_len);
    }

    rc = open_session(p11, pin, pin_len, err, err_cap);
    OPENSSL_cleanse(pin, sizeof(pin));
    CORE_TRY(rc);

    CORE_TRY(find_key_object(p11, s->key_label, &p11->current.handle, err, err_cap));
    CORE_TRY(check_key_attributes(p11, s->key_label, p11->current.handle, p11->use_kwp, err, err_cap));
    memcpy(p11->current.label, s->key_label, strlen(s->key_label) + 1);
    return CORE_OK;
}

enum core_err kms_pkcs11_load(const struct kms_pkcs11_settings *settings, struct kms_provider **out, char *err,
                              size_t err_cap)
{
    struct kms_pkcs11 *p11 = NULL;
    enum core_err rc;

    CORE_ENSURE(settings != NULL && out != NULL, CORE_INTERNAL);
    *out = NULL;
    set_err(err, err_cap, "%s", "");

    rc = check_settings(settings, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    p11 = calloc(1, sizeof(*p11));
    if (p11 == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    p11->base.ops = &pkcs11_ops;
    p11->use_kwp = settings->mechanism != NULL && strcmp(settings->mechanism, MECHANISM_KWP) == 0;
    memcpy(p11->token_label, settings->token_label, strlen(settings->token_label) + 1);
    if (pthread_mutex_init(&p11->lock, NULL) != 0) {
        rc = CORE_NOMEM;
        goto out;
    }
    p11->lock_ready = true;

    rc = load_module(p11, settings->module_path, err, err_cap);
    if (rc == CORE_OK) {
        rc = find_slot(p11, settings->token_label, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = check_mechanism(p11, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = connect_token(p11, settings, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = self_test(p11, err, err_cap);
    }
    if (rc != CORE_OK) {
        goto out;
    }

    core_log(CORE_LOG_NOTICE, "kms", "loaded PKCS#11 provider module=%s token=%s key_label=%s mechanism=%s",
             settings->module_path, p11->token_label, p11->current.label,
             p11->use_kwp ? MECHANISM_KWP : MECHANISM_AES_GCM);
    *out = &p11->base;
    p11 = NULL;

out:
    if (p11 != NULL) {
        pkcs11_free(&p11->base);
    }
    return rc;
}
