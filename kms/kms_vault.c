/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Vault / OpenBao transit provider over libcurl. wrap is POST <mount>/encrypt/<key>, unwrap is
 * POST <mount>/decrypt/<key> and generate is POST <mount>/datakey/plaintext/<key>, each with the wrap
 * context as associated_data, so the server's AEAD binds the blob to the object. Request and reply bodies
 * are JSON built and parsed with jansson. Each call makes its own curl easy handle, so calls from several
 * threads run at once. They share the login token under a mutex, and open connections through a curl
 * share handle.
 */
#include "kms/kms_vault.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "crypto/crypto_base64.h"
#include "kms/kms_provider.h"

#define DEFAULT_MOUNT "transit"
#define MOUNT_MAX 200
#define ADDR_MAX 512
/* Tokens, role IDs and secret IDs are far shorter; the cap keeps a wrong file from being read whole. */
#define SECRET_MAX 4096
/* Transit replies are a few hundred bytes; a larger body is not a transit reply. */
#define REPLY_MAX 16384
/* Room for one error message from the server in a log line. */
#define SERVER_ERROR_MAX 200
#define CIPHERTEXT_PREFIX "vault:v"
#define SELF_TEST_CONTEXT "s3seal vault self-test"
/* Data keys from the datakey endpoint: 256 bits, the size of KMS_DEK_LEN. */
#define DATAKEY_BITS 256

/* The call a reply belongs to; it decides what an HTTP 400 means. */
enum vault_op {
    VAULT_OP_ENCRYPT = 0,
    VAULT_OP_DECRYPT,
    VAULT_OP_DATAKEY,
    VAULT_OP_LOGIN,
    VAULT_OP_READ_KEY,
};

struct kms_vault {
    struct kms_provider base;
    char *addr;           /* owned; without a trailing '/' */
    char *mount;          /* owned */
    char key_name[KMS_VAULT_KEY_NAME_MAX + 1];
    char *namespace_name; /* owned; NULL when unset */
    char *ca_file;        /* owned; NULL for the system store */
    long timeout_ms;

    /* false when the self-test found that the server ignores associated_data on datakey */
    bool datakey_binds_context;

    /*
     * Connections, TLS sessions and DNS answers shared by the easy handles of all calls, so a call reuses
     * an open connection instead of a new TCP and TLS handshake. libcurl locks each kind of shared data
     * through share_locks.
     */
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    bool share_locks_ready;

    /* lock guards the fields below it: the token is shared by every thread and replaced at login */
    pthread_mutex_t lock;
    bool lock_ready;
    char *token;       /* owned; wiped when replaced */
    uint64_t token_generation;
    int64_t token_refresh_ms; /* monotonic time after which AppRole logs in again; 0 means never */
    bool approle;
    char *role_id;     /* owned; AppRole only */
    char *secret_id;   /* owned; AppRole only, wiped on free */
};

/* One provider operation: its deadline and the token it sends. */
struct vault_call {
    struct kms_vault *vault;
    int64_t deadline_ms;
    char token[SECRET_MAX + 1];
    uint64_t token_generation;
    bool failure_expected; /* the start-up test's wrong-context decrypt: its 400 is logged at debug level */
};

/* An HTTP reply, body capped at REPLY_MAX and NUL-terminated. */
struct vault_reply {
    long status;
    char body[REPLY_MAX + 1];
    size_t len;
    bool too_large;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result = CURLE_FAILED_INIT;

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

static struct kms_vault *vault_of(struct kms_provider *p)
{
    return (struct kms_vault *)p;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* jansson's free for the whole process: request and reply JSON carry data keys and tokens in base64. */
static void wiping_free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    OPENSSL_cleanse(ptr, malloc_usable_size(ptr));
    free(ptr);
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void global_init(void)
{
    /* jansson frees with this wherever it allocated with malloc, so switching at any time is safe */
    json_set_alloc_funcs(malloc, wiping_free);
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Word characters as the transit path patterns define them. */
static bool is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Transit key names: word characters, '-', '.' and '@', starting and ending with a word character. */
static bool key_name_is_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > KMS_VAULT_KEY_NAME_MAX || !is_word_char(name[0]) || !is_word_char(name[len - 1])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_word_char(name[i]) && name[i] != '-' && name[i] != '.' && name[i] != '@') {
            return false;
        }
    }
    return true;
}

/* Mount paths: segments of word characters, '-' and '.', joined by single '/', none of them "." or "..". */
static bool mount_is_valid(const char *mount)
{
    size_t len = strlen(mount);
    size_t segment_start = 0;

    if (len == 0 || len > MOUNT_MAX) {
        return false;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i == len || mount[i] == '/') {
            size_t segment_len = i - segment_start;
            const char *segment = mount + segment_start;

            if (segment_len == 0 || (segment_len == 1 && segment[0] == '.') ||
                (segment_len == 2 && segment[0] == '.' && segment[1] == '.')) {
                return false;
            }
            segment_start = i + 1;
        } else if (!is_word_char(mount[i]) && mount[i] != '-' && mount[i] != '.') {
            return false;
        }
    }
    return true;
}

/* Header values must be printable ASCII without blanks, so no value can add a header line. */
static bool header_value_is_valid(const char *value)
{
    if (value[0] == '\0') {
        return false;
    }
    for (const char *c = value; *c != '\0'; c++) {
        if (*c < 0x21 || *c > 0x7e) {
            return false;
        }
    }
    return true;
}

/* True for a numeric IPv4 address in 127.0.0.0/8, [::1] and localhost; no name is resolved. */
static bool host_is_loopback(const char *host)
{
    struct in_addr ipv4;

    if (inet_pton(AF_INET, host, &ipv4) == 1) {
        return (ntohl(ipv4.s_addr) >> 24) == 127;
    }
    return strcmp(host, "[::1]") == 0 || strcmp(host, "localhost") == 0;
}

/*
 * Checks S3SEAL_VAULT_ADDR: an http or https URL with no path beyond "/", no user and no query. Plain
 * http is only allowed to a loopback address, because the token and the data keys cross in the clear.
 */
static enum core_err check_addr(const char *addr, char *err, size_t err_cap)
{
    CURLU *url = curl_url();
    char *scheme = NULL;
    char *host = NULL;
    char *path = NULL;
    char *extra = NULL;
    enum core_err rc = CORE_CONFIG;

    if (url == NULL) {
        return CORE_NOMEM;
    }
    if (strlen(addr) > ADDR_MAX || curl_url_set(url, CURLUPART_URL, addr, 0) != CURLUE_OK ||
        curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_ADDR '%s': expected a URL such as https://vault.example:8200",
                addr);
        goto out;
    }
    if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && host_is_loopback(host))) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_ADDR '%s': use https://, since plain http is only allowed "
                "to a loopback address", addr);
        goto out;
    }
    if ((curl_url_get(url, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0) ||
        curl_url_get(url, CURLUPART_QUERY, &extra, 0) == CURLUE_OK) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_ADDR '%s': give the server address alone, without a path "
                "or query, since s3seal adds /v1/...", addr);
        goto out;
    }
    curl_free(extra);
    extra = NULL;
    if (curl_url_get(url, CURLUPART_USER, &extra, 0) == CURLUE_OK) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_ADDR: remove the user name from the URL and set a token "
                "or AppRole credentials instead");
        goto out;
    }
    rc = CORE_OK;

out:
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_free(extra);
    curl_url_cleanup(url);
    return rc;
}

/* Checks the "vault:v<N>:<base64>" form, so a damaged envelope fails before any request. */
static bool ciphertext_is_valid(const uint8_t *blob, size_t len)
{
    size_t prefix_len = strlen(CIPHERTEXT_PREFIX);
    size_t i = prefix_len;

    if (len <= prefix_len + 2 || memcmp(blob, CIPHERTEXT_PREFIX, prefix_len) != 0) {
        return false;
    }
    if (!isdigit(blob[i])) {
        return false;
    }
    while (i < len && isdigit(blob[i])) {
        i++;
    }
    if (i >= len - 1 || blob[i] != ':') {
        return false;
    }
    for (i++; i < len; i++) {
        if (!isalnum(blob[i]) && blob[i] != '+' && blob[i] != '/' && blob[i] != '=') {
            return false;
        }
    }
    return true;
}

/*
 * Maps an HTTP status to an error code. 403 is a refused token or policy; 429 and 5xx (503 is also a
 * sealed or standby server) are outages. A 400 from decrypt is an authentication failure of the
 * ciphertext (wrong associated data, tampered or too old for min_decryption_version) unless the key
 * itself is missing. A 400 from login means wrong AppRole credentials.
 */
static enum core_err status_to_err(enum vault_op op, long status, const char *server_error)
{
    if (status >= 200 && status < 300) {
        return CORE_OK;
    }
    if (status == 403) {
        return CORE_KMS_DENIED;
    }
    if (status == 429 || status >= 500) {
        return CORE_KMS_UNAVAILABLE;
    }
    if (status == 400 && op == VAULT_OP_LOGIN) {
        return CORE_KMS_DENIED;
    }
    if (status == 400 && op == VAULT_OP_DECRYPT && strstr(server_error, "key not found") == NULL) {
        return CORE_CRYPTO;
    }
    return CORE_KMS;
}

/* Copies the first message of the {"errors":[...]} body into out, with unprintable bytes replaced. */
static void reply_first_error(const char *body, size_t len, char *out, size_t out_cap)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *first = json_array_get(json_object_get(root, "errors"), 0);
    const char *text = json_string_value(first);
    size_t i = 0;

    if (out_cap == 0) {
        json_decref(root);
        return;
    }
    if (text == NULL) {
        text = root == NULL ? "(no JSON body)" : "(no error message)";
    }
    for (; text[i] != '\0' && i + 1 < out_cap; i++) {
        out[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
    }
    out[i] = '\0';
    json_decref(root);
}

/* Sets member name of object to the base64 of bytes; the temporary text is wiped. */
static enum core_err add_base64(json_t *object, const char *name, const uint8_t *bytes, size_t len)
{
    size_t text_cap = CRYPTO_BASE64_ENCODED_LEN(len) + 1;
    size_t text_len = 0;
    char *text = malloc(text_cap);
    enum core_err rc;

    if (text == NULL) {
        return CORE_NOMEM;
    }
    rc = crypto_base64_encode(bytes, len, text, text_cap, &text_len);
    if (rc == CORE_OK && json_object_set_new(object, name, json_stringn(text, text_len)) != 0) {
        rc = CORE_NOMEM;
    }
    OPENSSL_cleanse(text, text_cap);
    free(text);
    return rc;
}

/* Adds associated_data unless the context is empty, which transit treats as no associated data anyway. */
static enum core_err add_associated_data(json_t *object, const uint8_t *context, size_t context_len)
{
    if (context_len == 0) {
        return CORE_OK;
    }
    return add_base64(object, "associated_data", context, context_len);
}

/* Serializes and frees request; the caller frees *out with free_secret. */
static enum core_err finish_request(json_t *request, enum core_err rc, char **out)
{
    *out = NULL;
    if (rc == CORE_OK) {
        *out = json_dumps(request, JSON_COMPACT);
        rc = *out != NULL ? CORE_OK : CORE_NOMEM;
    }
    json_decref(request);
    return rc;
}

static enum core_err encrypt_request_new(const uint8_t *plaintext, size_t plaintext_len, const uint8_t *context,
                                         size_t context_len, char **out)
{
    json_t *request = json_object();
    enum core_err rc = request != NULL ? CORE_OK : CORE_NOMEM;

    if (rc == CORE_OK) {
        rc = add_base64(request, "plaintext", plaintext, plaintext_len);
    }
    if (rc == CORE_OK) {
        rc = add_associated_data(request, context, context_len);
    }
    return finish_request(request, rc, out);
}

static enum core_err decrypt_request_new(const char *ciphertext, const uint8_t *context, size_t context_len,
                                         char **out)
{
    json_t *request = json_object();
    enum core_err rc = request != NULL ? CORE_OK : CORE_NOMEM;

    if (rc == CORE_OK && json_object_set_new(request, "ciphertext", json_string(ciphertext)) != 0) {
        rc = CORE_NOMEM;
    }
    if (rc == CORE_OK) {
        rc = add_associated_data(request, context, context_len);
    }
    return finish_request(request, rc, out);
}

static enum core_err datakey_request_new(const uint8_t *context, size_t context_len, char **out)
{
    json_t *request = json_object();
    enum core_err rc = request != NULL ? CORE_OK : CORE_NOMEM;

    if (rc == CORE_OK && json_object_set_new(request, "bits", json_integer(DATAKEY_BITS)) != 0) {
        rc = CORE_NOMEM;
    }
    if (rc == CORE_OK) {
        rc = add_associated_data(request, context, context_len);
    }
    return finish_request(request, rc, out);
}

static enum core_err login_request_new(const char *role_id, const char *secret_id, char **out)
{
    json_t *request = json_object();
    enum core_err rc = request != NULL ? CORE_OK : CORE_NOMEM;

    if (rc == CORE_OK && (json_object_set_new(request, "role_id", json_string(role_id)) != 0 ||
                          json_object_set_new(request, "secret_id", json_string(secret_id)) != 0)) {
        rc = CORE_NOMEM;
    }
    return finish_request(request, rc, out);
}

/* Returns the string member name of the reply's "data" object, or NULL. */
static const char *data_string(json_t *root, const char *name)
{
    return json_string_value(json_object_get(json_object_get(root, "data"), name));
}

/* Copies data.ciphertext of an encrypt or datakey reply into out after checking its form. */
static enum core_err parse_ciphertext(json_t *root, uint8_t *out, size_t out_cap, size_t *out_len)
{
    const char *ciphertext = data_string(root, "ciphertext");
    size_t len;

    CORE_ENSURE(ciphertext != NULL, CORE_KMS);
    len = strlen(ciphertext);
    CORE_ENSURE(ciphertext_is_valid((const uint8_t *)ciphertext, len), CORE_KMS);
    CORE_ENSURE(len <= out_cap && len <= KMS_WRAPPED_MAX, CORE_TOO_LARGE);
    memcpy(out, ciphertext, len);
    *out_len = len;
    return CORE_OK;
}

/* Decodes data.plaintext of a decrypt or datakey reply; anything but valid base64 that fits is CORE_CRYPTO. */
static enum core_err parse_plaintext(json_t *root, uint8_t *out, size_t out_cap, size_t *out_len)
{
    const char *plaintext = data_string(root, "plaintext");

    CORE_ENSURE(plaintext != NULL, CORE_KMS);
    return crypto_base64_decode(plaintext, strlen(plaintext), out, out_cap, out_len) == CORE_OK ? CORE_OK
                                                                                                : CORE_CRYPTO;
}

/* Reads auth.client_token and auth.lease_duration (seconds; 0 for a token that does not expire). */
static enum core_err parse_login(json_t *root, char *token, size_t token_cap, long long *lease_s)
{
    json_t *auth = json_object_get(root, "auth");
    const char *client_token = json_string_value(json_object_get(auth, "client_token"));
    json_t *lease = json_object_get(auth, "lease_duration");

    CORE_ENSURE(client_token != NULL && header_value_is_valid(client_token), CORE_KMS);
    CORE_ENSURE(strlen(client_token) < token_cap, CORE_TOO_LARGE);
    *lease_s = json_is_integer(lease) ? json_integer_value(lease) : 0;
    CORE_ENSURE(*lease_s >= 0, CORE_KMS);
    memcpy(token, client_token, strlen(client_token) + 1);
    return CORE_OK;
}

static enum core_err parse_reply(const struct vault_reply *reply, json_t **root)
{
    *root = json_loadb(reply->body, reply->len, JSON_REJECT_DUPLICATES, NULL);
    return *root != NULL ? CORE_OK : CORE_KMS;
}

static size_t on_reply_body(char *data, size_t size, size_t count, void *user)
{
    struct vault_reply *reply = user;
    size_t len = size * count;

    if (len > REPLY_MAX - reply->len) {
        reply->too_large = true;
        return 0;
    }
    memcpy(reply->body + reply->len, data, len);
    reply->len += len;
    reply->body[reply->len] = '\0';
    return len;
}

/* Appends "<name>: <value>" to headers; the formatted line is wiped before it is freed. */
static enum core_err add_header(struct curl_slist **headers, const char *name, const char *value)
{
    size_t line_len = strlen(name) + 2 + strlen(value) + 1;
    char *line = malloc(line_len);
    struct curl_slist *grown;

    if (line == NULL) {
        return CORE_NOMEM;
    }
    snprintf(line, line_len, "%s: %s", name, value);
    grown = curl_slist_append(*headers, line);
    OPENSSL_cleanse(line, line_len);
    free(line);
    CORE_ENSURE(grown != NULL, CORE_NOMEM);
    *headers = grown;
    return CORE_OK;
}

/* Frees the header list after wiping each line, since one carries the token. */
static void free_headers(struct curl_slist *headers)
{
    for (struct curl_slist *h = headers; h != NULL; h = h->next) {
        OPENSSL_cleanse(h->data, strlen(h->data));
    }
    curl_slist_free_all(headers);
}

static enum core_err curl_code_to_err(CURLcode code)
{
    switch (code) {
    case CURLE_OUT_OF_MEMORY:
        return CORE_NOMEM;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        /* a certificate or address that does not fit is a setting to fix, not an outage */
        return CORE_KMS;
    default:
        return CORE_KMS_UNAVAILABLE;
    }
}

static void on_share_lock(CURL *curl, curl_lock_data data, curl_lock_access access, void *user)
{
    struct kms_vault *vault = user;

    (void)curl;
    (void)access;
    pthread_mutex_lock(&vault->share_locks[data]);
}

static void on_share_unlock(CURL *curl, curl_lock_data data, void *user)
{
    struct kms_vault *vault = user;

    (void)curl;
    pthread_mutex_unlock(&vault->share_locks[data]);
}

static enum core_err share_init(struct kms_vault *vault)
{
    bool ok = true;

    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        CORE_ENSURE(pthread_mutex_init(&vault->share_locks[i], NULL) == 0, CORE_NOMEM);
    }
    vault->share_locks_ready = true;
    vault->share = curl_share_init();
    CORE_ENSURE(vault->share != NULL, CORE_NOMEM);
    ok = ok && curl_share_setopt(vault->share, CURLSHOPT_LOCKFUNC, on_share_lock) == CURLSHE_OK;
    ok = ok && curl_share_setopt(vault->share, CURLSHOPT_UNLOCKFUNC, on_share_unlock) == CURLSHE_OK;
    ok = ok && curl_share_setopt(vault->share, CURLSHOPT_USERDATA, vault) == CURLSHE_OK;
    ok = ok && curl_share_setopt(vault->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) == CURLSHE_OK;
    ok = ok && curl_share_setopt(vault->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK;
    ok = ok && curl_share_setopt(vault->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK;
    return ok ? CORE_OK : CORE_NOMEM;
}

static enum core_err set_request_options(CURL *curl, const struct vault_call *call, const char *url,
                                         const char *body, struct curl_slist *headers,
                                         struct vault_reply *reply, char *curl_error)
{
    long remaining_ms = (long)(call->deadline_ms - monotonic_ms());
    bool ok = true;

    CORE_ENSURE(remaining_ms > 0, CORE_KMS_UNAVAILABLE);
    ok = ok && curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, remaining_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, remaining_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_reply_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_SHARE, call->vault->share) == CURLE_OK;
    if (call->vault->ca_file != NULL) {
        ok = ok && curl_easy_setopt(curl, CURLOPT_CAINFO, call->vault->ca_file) == CURLE_OK;
    }
    if (body != NULL) {
        ok = ok && curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) == CURLE_OK;
        ok = ok && curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) == CURLE_OK;
    }
    return ok ? CORE_OK : CORE_NOMEM;
}

/*
 * Sends one request to <addr>/v1/<path>: a POST of body, or a GET when body is NULL. token may be NULL
 * (login). Fills reply and returns CORE_OK whenever a reply arrived, whatever its status. Otherwise it
 * logs the transport failure and returns CORE_KMS_UNAVAILABLE (unreachable, timed out, reset), CORE_KMS
 * (TLS verification or address unusable) or CORE_NOMEM.
 */
static enum core_err http_request(const struct vault_call *call, const char *path, const char *body,
                                  const char *token, struct vault_reply *reply)
{
    struct kms_vault *vault = call->vault;
    char curl_error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char url[ADDR_MAX + MOUNT_MAX + KMS_VAULT_KEY_NAME_MAX + 64];
    CURL *curl = NULL;
    CURLcode code;
    enum core_err rc;

    reply->status = 0;
    reply->len = 0;
    reply->body[0] = '\0';
    reply->too_large = false;
    if ((size_t)snprintf(url, sizeof(url), "%s/v1/%s", vault->addr, path) >= sizeof(url)) {
        return CORE_TOO_LARGE;
    }

    rc = add_header(&headers, "Content-Type", "application/json");
    if (rc == CORE_OK && token != NULL) {
        rc = add_header(&headers, "X-Vault-Token", token);
    }
    if (rc == CORE_OK && vault->namespace_name != NULL) {
        rc = add_header(&headers, "X-Vault-Namespace", vault->namespace_name);
    }
    if (rc == CORE_OK) {
        curl = curl_easy_init();
        rc = curl != NULL ? CORE_OK : CORE_NOMEM;
    }
    if (rc == CORE_OK) {
        rc = set_request_options(curl, call, url, body, headers, reply, curl_error);
    }
    if (rc == CORE_KMS_UNAVAILABLE) {
        core_log(CORE_LOG_WARN, "kms", "vault request not sent: the call's time ran out url=%s", url);
    }
    if (rc != CORE_OK) {
        goto out;
    }

    code = curl_easy_perform(curl);
    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && reply->too_large)) {
        rc = curl_code_to_err(code);
        core_log(CORE_LOG_WARN, "kms", "vault request failed url=%s error=%s", url,
                 curl_error[0] != '\0' ? curl_error : curl_easy_strerror(code));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (reply->too_large) {
        core_log(CORE_LOG_WARN, "kms", "vault reply larger than %d bytes url=%s status=%ld", REPLY_MAX, url,
                 reply->status);
        rc = CORE_KMS;
    }

out:
    curl_easy_cleanup(curl);
    free_headers(headers);
    return rc;
}

static const char *op_name(enum vault_op op)
{
    switch (op) {
    case VAULT_OP_ENCRYPT:
        return "encrypt";
    case VAULT_OP_DECRYPT:
        return "decrypt";
    case VAULT_OP_DATAKEY:
        return "datakey";
    case VAULT_OP_LOGIN:
        return "approle login";
    case VAULT_OP_READ_KEY:
        return "read key";
    default:
        return "request";
    }
}

/* Maps a reply's status and logs the server's message for any status but 2xx. */
static enum core_err check_status(enum vault_op op, const char *subject, const struct vault_reply *reply,
                                  bool failure_expected)
{
    char server_error[SERVER_ERROR_MAX];
    enum core_err rc;

    reply_first_error(reply->body, reply->len, server_error, sizeof(server_error));
    rc = status_to_err(op, reply->status, server_error);
    if (rc != CORE_OK) {
        core_log(failure_expected ? CORE_LOG_DEBUG : CORE_LOG_WARN, "kms",
                 "vault %s rejected key=%s status=%ld error=\"%s\"", op_name(op), subject, reply->status,
                 server_error);
    }
    return rc;
}

/*
 * Logs in with AppRole and replaces the shared token. Called with vault->lock held, so concurrent calls
 * that all saw a 403 log in once.
 */
static enum core_err login_locked(struct kms_vault *vault, const struct vault_call *call)
{
    char token[SECRET_MAX + 1];
    struct vault_reply *reply = NULL;
    json_t *root = NULL;
    char *body = NULL;
    char *copy = NULL;
    long long lease_s = 0;
    enum core_err rc;

    rc = login_request_new(vault->role_id, vault->secret_id, &body);
    if (rc == CORE_OK) {
        reply = malloc(sizeof(*reply));
        rc = reply != NULL ? CORE_OK : CORE_NOMEM;
    }
    if (rc == CORE_OK) {
        rc = http_request(call, "auth/approle/login", body, NULL, reply);
    }
    if (rc == CORE_OK) {
        rc = check_status(VAULT_OP_LOGIN, "auth/approle", reply, false);
    }
    if (rc == CORE_OK) {
        rc = parse_reply(reply, &root);
    }
    if (rc == CORE_OK) {
        rc = parse_login(root, token, sizeof(token), &lease_s);
    }
    if (rc == CORE_OK) {
        copy = strdup(token);
        rc = copy != NULL ? CORE_OK : CORE_NOMEM;
    }
    if (rc == CORE_OK) {
        int64_t lease_ms = (int64_t)lease_s * 1000;

        free_secret(vault->token);
        vault->token = copy;
        vault->token_generation++;
        /* log in again when a fifth of the lease is left, so a slow call does not outlive its token */
        vault->token_refresh_ms = lease_ms == 0 ? 0 : monotonic_ms() + lease_ms - lease_ms / 5;
        core_log(CORE_LOG_INFO, "kms", "vault approle login done lease_s=%lld", lease_s);
    }

    json_decref(root);
    free_secret(body);
    if (reply != NULL) {
        OPENSSL_cleanse(reply, sizeof(*reply));
        free(reply);
    }
    OPENSSL_cleanse(token, sizeof(token));
    return rc;
}

/* Copies the current token into the call, logging in first when an AppRole token is missing or due. */
static enum core_err take_token(struct vault_call *call, bool force_login)
{
    struct kms_vault *vault = call->vault;
    enum core_err rc = CORE_OK;

    pthread_mutex_lock(&vault->lock);
    if (vault->approle) {
        bool due = vault->token == NULL ||
                   (vault->token_refresh_ms != 0 && monotonic_ms() >= vault->token_refresh_ms);
        /* another thread may have logged in since this call's token was refused */
        bool stale = force_login && vault->token_generation == call->token_generation;

        if (due || stale) {
            rc = login_locked(vault, call);
        }
    }
    if (rc == CORE_OK) {
        if (vault->token == NULL || strlen(vault->token) >= sizeof(call->token)) {
            rc = CORE_INTERNAL;
        } else {
            memcpy(call->token, vault->token, strlen(vault->token) + 1);
            call->token_generation = vault->token_generation;
        }
    }
    pthread_mutex_unlock(&vault->lock);
    return rc;
}

static void call_init(struct vault_call *call, struct kms_vault *vault)
{
    call->vault = vault;
    call->deadline_ms = monotonic_ms() + vault->timeout_ms;
    call->token[0] = '\0';
    call->token_generation = 0;
    call->failure_expected = false;
}

static void call_cleanup(struct vault_call *call)
{
    OPENSSL_cleanse(call->token, sizeof(call->token));
}

/*
 * Sends body to <mount>/<verb>/<key name> (or GETs it when body is NULL) and parses the JSON reply into
 * *root. With AppRole, a 403 makes one new login and one retry, because the token may have expired or been
 * revoked since the last login. Returns the mapped error of the final reply.
 */
static enum core_err transit_request(struct vault_call *call, enum vault_op op, const char *verb,
                                     const char *key_name, const char *body, json_t **root)
{
    char path[MOUNT_MAX + KMS_VAULT_KEY_NAME_MAX + 32];
    struct vault_reply *reply;
    enum core_err rc;

    *root = NULL;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", call->vault->mount, verb, key_name) >= sizeof(path)) {
        return CORE_INTERNAL;
    }
    reply = malloc(sizeof(*reply));
    CORE_ENSURE(reply != NULL, CORE_NOMEM);

    rc = take_token(call, false);
    if (rc == CORE_OK) {
        rc = http_request(call, path, body, call->token, reply);
    }
    if (rc == CORE_OK && reply->status == 403 && call->vault->approle) {
        core_log(CORE_LOG_INFO, "kms", "vault %s got 403; logging in again key=%s", op_name(op), key_name);
        rc = take_token(call, true);
        if (rc == CORE_OK) {
            rc = http_request(call, path, body, call->token, reply);
        }
    }
    if (rc == CORE_OK) {
        rc = check_status(op, key_name, reply, call->failure_expected);
    }
    if (rc == CORE_OK) {
        rc = parse_reply(reply, root);
        if (rc != CORE_OK) {
            core_log(CORE_LOG_WARN, "kms", "vault %s reply is not JSON key=%s status=%ld", op_name(op), key_name,
                     reply->status);
        }
    }

    OPENSSL_cleanse(reply, sizeof(*reply));
    free(reply);
    return rc;
}

/* Returns the key a wrap uses: want_key_id when set and valid, the configured key when NULL. */
static const char *wrap_key_name(const struct kms_vault *vault, const char *want_key_id)
{
    if (want_key_id == NULL) {
        return vault->key_name;
    }
    return key_name_is_valid(want_key_id) ? want_key_id : NULL;
}

static enum core_err write_key_id(const char *key_name, char *key_id, size_t key_id_cap)
{
    CORE_ENSURE(strlen(key_name) < key_id_cap, CORE_TOO_LARGE);
    memcpy(key_id, key_name, strlen(key_name) + 1);
    return CORE_OK;
}

static enum core_err vault_wrap(struct kms_provider *p, const char *want_key_id, const uint8_t dek[KMS_DEK_LEN],
                                const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                                size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_vault *vault = vault_of(p);
    const char *key_name = wrap_key_name(vault, want_key_id);
    struct vault_call call;
    json_t *root = NULL;
    char *body = NULL;
    enum core_err rc;

    CORE_ENSURE(key_name != NULL, CORE_KMS);
    call_init(&call, vault);

    rc = encrypt_request_new(dek, KMS_DEK_LEN, context, context_len, &body);
    if (rc == CORE_OK) {
        rc = transit_request(&call, VAULT_OP_ENCRYPT, "encrypt", key_name, body, &root);
    }
    if (rc == CORE_OK) {
        rc = parse_ciphertext(root, wrapped, wrapped_cap, wrapped_len);
    }
    if (rc == CORE_OK) {
        rc = write_key_id(key_name, key_id, key_id_cap);
    }

    json_decref(root);
    free_secret(body);
    call_cleanup(&call);
    return rc;
}

static enum core_err decrypt_blob(struct kms_vault *vault, const char *key_id, const uint8_t *wrapped,
                                  size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                  size_t dek_cap, size_t *dek_len, bool failure_expected)
{
    char ciphertext[KMS_WRAPPED_MAX + 1];
    struct vault_call call;
    json_t *root = NULL;
    char *body = NULL;
    enum core_err rc;

    CORE_ENSURE(key_name_is_valid(key_id), CORE_KMS);
    /* a blob of another form is a damaged or foreign envelope and fails like a bad tag */
    CORE_ENSURE(wrapped_len <= KMS_WRAPPED_MAX && ciphertext_is_valid(wrapped, wrapped_len), CORE_CRYPTO);
    memcpy(ciphertext, wrapped, wrapped_len);
    ciphertext[wrapped_len] = '\0';
    call_init(&call, vault);
    call.failure_expected = failure_expected;

    rc = decrypt_request_new(ciphertext, context, context_len, &body);
    if (rc == CORE_OK) {
        rc = transit_request(&call, VAULT_OP_DECRYPT, "decrypt", key_id, body, &root);
    }
    if (rc == CORE_OK) {
        rc = parse_plaintext(root, dek, dek_cap, dek_len);
    }

    json_decref(root);
    free_secret(body);
    call_cleanup(&call);
    return rc;
}

static enum core_err vault_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                  size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                  size_t dek_cap, size_t *dek_len)
{
    return decrypt_blob(vault_of(p), key_id, wrapped, wrapped_len, context, context_len, dek, dek_cap, dek_len,
                        false);
}

/*
 * Asks transit for a data key (datakey/plaintext), bound to the context like wrap. The datakey endpoint
 * takes associated_data in OpenBao and in Vault releases since late 2022. A server that ignores it would
 * return an unbound blob, so the start-up self-test checks it. If unbound, generate makes the key locally
 * and wraps it.
 */
static enum core_err vault_generate(struct kms_provider *p, const char *want_key_id, const uint8_t *context,
                                    size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped,
                                    size_t wrapped_cap, size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_vault *vault = vault_of(p);
    const char *key_name = wrap_key_name(vault, want_key_id);
    struct vault_call call;
    size_t dek_len = 0;
    json_t *root = NULL;
    char *body = NULL;
    enum core_err rc;

    CORE_ENSURE(key_name != NULL, CORE_KMS);
    if (!vault->datakey_binds_context) {
        CORE_ENSURE(RAND_priv_bytes(dek, KMS_DEK_LEN) == 1, CORE_CRYPTO);
        return vault_wrap(p, want_key_id, dek, context, context_len, wrapped, wrapped_cap, wrapped_len, key_id,
                          key_id_cap);
    }
    call_init(&call, vault);

    rc = datakey_request_new(context, context_len, &body);
    if (rc == CORE_OK) {
        rc = transit_request(&call, VAULT_OP_DATAKEY, "datakey/plaintext", key_name, body, &root);
    }
    if (rc == CORE_OK) {
        rc = parse_plaintext(root, dek, KMS_DEK_LEN, &dek_len);
        if (rc == CORE_OK && dek_len != KMS_DEK_LEN) {
            rc = CORE_KMS;
        }
    }
    if (rc == CORE_OK) {
        rc = parse_ciphertext(root, wrapped, wrapped_cap, wrapped_len);
    }
    if (rc == CORE_OK) {
        rc = write_key_id(key_name, key_id, key_id_cap);
    }

    if (rc != CORE_OK) {
        OPENSSL_cleanse(dek, KMS_DEK_LEN);
    }
    json_decref(root);
    free_secret(body);
    call_cleanup(&call);
    return rc;
}

static void vault_free(struct kms_provider *p)
{
    struct kms_vault *vault = vault_of(p);

    free(vault->addr);
    free(vault->mount);
    free(vault->namespace_name);
    free(vault->ca_file);
    free_secret(vault->token);
    free_secret(vault->role_id);
    free_secret(vault->secret_id);
    /* every easy handle is gone by now: each call cleans up its own before it returns */
    if (vault->share != NULL) {
        curl_share_cleanup(vault->share);
    }
    if (vault->share_locks_ready) {
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
            pthread_mutex_destroy(&vault->share_locks[i]);
        }
    }
    if (vault->lock_ready) {
        pthread_mutex_destroy(&vault->lock);
    }
    OPENSSL_cleanse(vault, sizeof(*vault));
    free(vault);
}

/*
 * No rewrap operation: the transit rewrap endpoint takes no associated_data (Vault and OpenBao API
 * documentation of POST /transit/rewrap/:name), so it cannot decrypt the blobs this provider writes, all
 * of which carry the context as associated data. kms_rewrap therefore unwraps and wraps again.
 */
static const struct kms_provider_ops vault_ops = {
    .name = "vault",
    .wrap = vault_wrap,
    .unwrap = vault_unwrap,
    .generate = vault_generate,
    .free = vault_free,
};

/* Reads a token or secret ID file: a regular file that others may not read, trailing blanks removed. */
static enum core_err read_secret_file(const char *setting, const char *path, char **out, char *err,
                                      size_t err_cap)
{
    char buf[SECRET_MAX + 2];
    enum core_err rc = CORE_CONFIG;
    struct stat st;
    ssize_t n;
    int fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        set_err(err, err_cap, "cannot open %s %s: %s; check the path", setting, path, strerror(errno));
        return errno == ENOENT ? CORE_CONFIG : CORE_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, err_cap, "%s %s is not a regular file", setting, path);
        goto out;
    }
    if ((st.st_mode & S_IRWXO) != 0) {
        set_err(err, err_cap, "%s %s is accessible by others (mode %04o); run chmod o-rwx %s", setting, path,
                (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0 || (size_t)n > SECRET_MAX) {
        set_err(err, err_cap, "cannot read %s %s: %s", setting, path,
                n < 0 ? strerror(errno) : "longer than 4096 bytes");
        rc = n < 0 ? CORE_IO : CORE_CONFIG;
        goto out;
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1])) {
        n--;
    }
    buf[n] = '\0';
    if (!header_value_is_valid(buf)) {
        set_err(err, err_cap, "%s %s must contain one value of printable characters without blanks", setting,
                path);
        goto out;
    }
    *out = strdup(buf);
    rc = *out != NULL ? CORE_OK : CORE_NOMEM;

out:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return rc;
}

/* Takes a secret from the setting's value or from its file setting; exactly one of the two is set. */
static enum core_err load_secret(const char *setting, const char *value, const char *file_setting,
                                 const char *file, char **out, char *err, size_t err_cap)
{
    *out = NULL;
    if ((value == NULL) == (file == NULL)) {
        set_err(err, err_cap, "set exactly one of %s and %s; a file readable only by s3seal keeps the value out "
                "of the process environment", setting, file_setting);
        return CORE_CONFIG;
    }
    if (file != NULL) {
        return read_secret_file(file_setting, file, out, err, err_cap);
    }
    if (!header_value_is_valid(value) || strlen(value) > SECRET_MAX) {
        set_err(err, err_cap, "invalid %s: expected 1 to %d printable characters without blanks", setting,
                SECRET_MAX);
        return CORE_CONFIG;
    }
    *out = strdup(value);
    return *out != NULL ? CORE_OK : CORE_NOMEM;
}

static enum core_err load_credentials(struct kms_vault *vault, const struct kms_vault_settings *s, char *err,
                                      size_t err_cap)
{
    bool has_token = s->token != NULL || s->token_file != NULL;

    if (has_token == (s->role_id != NULL)) {
        set_err(err, err_cap, "set either S3SEAL_VAULT_TOKEN (or S3SEAL_VAULT_TOKEN_FILE) or S3SEAL_VAULT_ROLE_ID "
                "with S3SEAL_VAULT_SECRET_ID (or S3SEAL_VAULT_SECRET_ID_FILE) for AppRole, not both or neither");
        return CORE_CONFIG;
    }
    if (has_token) {
        CORE_TRY(load_secret("S3SEAL_VAULT_TOKEN", s->token, "S3SEAL_VAULT_TOKEN_FILE", s->token_file,
                             &vault->token, err, err_cap));
        vault->token_generation = 1;
        return CORE_OK;
    }
    vault->approle = true;
    if (!header_value_is_valid(s->role_id) || strlen(s->role_id) > SECRET_MAX) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_ROLE_ID: expected the role ID of the AppRole");
        return CORE_CONFIG;
    }
    vault->role_id = strdup(s->role_id);
    CORE_ENSURE(vault->role_id != NULL, CORE_NOMEM);
    return load_secret("S3SEAL_VAULT_SECRET_ID", s->secret_id, "S3SEAL_VAULT_SECRET_ID_FILE", s->secret_id_file,
                       &vault->secret_id, err, err_cap);
}

static enum core_err copy_setting(const char *value, char **out)
{
    *out = NULL;
    if (value == NULL) {
        return CORE_OK;
    }
    *out = strdup(value);
    return *out != NULL ? CORE_OK : CORE_NOMEM;
}

static enum core_err apply_settings(struct kms_vault *vault, const struct kms_vault_settings *s, char *err,
                                    size_t err_cap)
{
    const char *mount = s->mount != NULL ? s->mount : DEFAULT_MOUNT;
    size_t addr_len;

    if (s->addr == NULL || s->addr[0] == '\0') {
        set_err(err, err_cap, "missing setting S3SEAL_VAULT_ADDR: set it to the server URL, such as "
                "https://vault.example:8200");
        return CORE_CONFIG;
    }
    CORE_TRY(check_addr(s->addr, err, err_cap));
    if (!mount_is_valid(mount)) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_MOUNT '%s': expected the path of the transit engine, such as "
                "transit", mount);
        return CORE_CONFIG;
    }
    if (s->key_name == NULL || !key_name_is_valid(s->key_name)) {
        set_err(err, err_cap, "%s S3SEAL_VAULT_KEY_NAME: set it to the name of the transit key (letters, digits, "
                "'_', '-', '.' and '@', at most %d)", s->key_name == NULL ? "missing setting" : "invalid",
                KMS_VAULT_KEY_NAME_MAX);
        return CORE_CONFIG;
    }
    if (s->namespace_name != NULL && (!header_value_is_valid(s->namespace_name) ||
                                      strlen(s->namespace_name) > MOUNT_MAX)) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_NAMESPACE: expected a namespace path such as team-a/");
        return CORE_CONFIG;
    }
    if (s->timeout_ms < 0 || s->timeout_ms > 600000) {
        set_err(err, err_cap, "invalid S3SEAL_VAULT_TIMEOUT_MS %ld: expected 1 to 600000", s->timeout_ms);
        return CORE_CONFIG;
    }

    vault->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : KMS_VAULT_DEFAULT_TIMEOUT_MS;
    memcpy(vault->key_name, s->key_name, strlen(s->key_name) + 1);
    CORE_TRY(copy_setting(s->addr, &vault->addr));
    addr_len = strlen(vault->addr);
    while (addr_len > 0 && vault->addr[addr_len - 1] == '/') {
        vault->addr[--addr_len] = '\0';
    }
    CORE_TRY(copy_setting(mount, &vault->mount));
    CORE_TRY(copy_setting(s->namespace_name, &vault->namespace_name));
    CORE_TRY(copy_setting(s->ca_file, &vault->ca_file));
    return load_credentials(vault, s, err, err_cap);
}

/* Writes the fix for a failed start-up call into err, by the error it returned. */
static void explain_failure(const struct kms_vault *vault, const char *what, enum core_err rc, char *err,
                            size_t err_cap)
{
    switch (rc) {
    case CORE_KMS_UNAVAILABLE:
        set_err(err, err_cap, "%s failed: Vault at S3SEAL_VAULT_ADDR=%s did not answer within "
                "S3SEAL_VAULT_TIMEOUT_MS=%ld or answered 5xx/429; check the address and that the server is "
                "unsealed (the log line above names the cause)", what, vault->addr, vault->timeout_ms);
        break;
    case CORE_KMS_DENIED:
        set_err(err, err_cap, "%s failed: Vault refused the %s; check %s and that its policy grants update on "
                "%s/encrypt/%s, %s/decrypt/%s and %s/datakey/plaintext/%s", what,
                vault->approle ? "AppRole login or its token" : "token",
                vault->approle ? "S3SEAL_VAULT_ROLE_ID and S3SEAL_VAULT_SECRET_ID(_FILE)"
                               : "S3SEAL_VAULT_TOKEN(_FILE)",
                vault->mount, vault->key_name, vault->mount, vault->key_name, vault->mount, vault->key_name);
        break;
    default:
        set_err(err, err_cap, "%s failed: %s; check S3SEAL_VAULT_MOUNT=%s, S3SEAL_VAULT_KEY_NAME=%s and "
                "S3SEAL_VAULT_CA_FILE (the log line above has the server's message)", what, core_err_str(rc),
                vault->mount, vault->key_name);
        break;
    }
}

static bool key_type_is_aead(const char *type)
{
    static const char *const types[] = {"aes128-gcm96", "aes256-gcm96", "chacha20-poly1305",
                                        "xchacha20-poly1305"};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (type != NULL && strcmp(type, types[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Reads the key's settings where the policy allows it: it must exist (encrypt would otherwise create it
 * under a misspelt name when the token may create keys), take associated data and not need a derivation
 * context. A 403 leaves these checks to the self-test, because least-privilege policies often omit read.
 */
static enum core_err check_key(struct kms_vault *vault, char *err, size_t err_cap)
{
    struct vault_call call;
    json_t *root = NULL;
    json_t *data;
    const char *type;
    enum core_err rc;

    call_init(&call, vault);
    rc = transit_request(&call, VAULT_OP_READ_KEY, "keys", vault->key_name, NULL, &root);
    call_cleanup(&call);
    if (rc == CORE_KMS_DENIED) {
        core_log(CORE_LOG_NOTICE, "kms", "vault key settings not checked: the policy does not allow reading "
                 "%s/keys/%s", vault->mount, vault->key_name);
        return CORE_OK;
    }
    if (rc == CORE_KMS) {
        set_err(err, err_cap, "transit key '%s' not found on mount '%s' at %s; create it with "
                "\"vault write -f %s/keys/%s type=aes256-gcm96\" or fix S3SEAL_VAULT_KEY_NAME and "
                "S3SEAL_VAULT_MOUNT", vault->key_name, vault->mount, vault->addr, vault->mount, vault->key_name);
        return CORE_CONFIG;
    }
    if (rc != CORE_OK) {
        explain_failure(vault, "reading the transit key", rc, err, err_cap);
        return rc;
    }

    data = json_object_get(root, "data");
    type = json_string_value(json_object_get(data, "type"));
    if (!key_type_is_aead(type)) {
        set_err(err, err_cap, "transit key '%s' has type %s, which takes no associated data; set "
                "S3SEAL_VAULT_KEY_NAME to a key of type aes256-gcm96", vault->key_name, type != NULL ? type : "?");
        rc = CORE_CONFIG;
    } else if (json_is_true(json_object_get(data, "derived"))) {
        set_err(err, err_cap, "transit key '%s' is a derived key, which needs a context on every call; set "
                "S3SEAL_VAULT_KEY_NAME to a key created without derived=true", vault->key_name);
        rc = CORE_CONFIG;
    } else {
        core_log(CORE_LOG_INFO, "kms", "vault key checked key=%s type=%s latest_version=%lld", vault->key_name,
                 type, (long long)json_integer_value(json_object_get(data, "latest_version")));
    }
    json_decref(root);
    return rc;
}

/* Returns true when unwrap of blob under other_context fails as an authentication failure must. */
static bool other_context_fails(struct kms_vault *vault, const uint8_t *blob, size_t blob_len)
{
    static const uint8_t other_context[] = SELF_TEST_CONTEXT "!";
    uint8_t out[KMS_DEK_LEN];
    size_t out_len = 0;
    enum core_err rc;

    rc = decrypt_blob(vault, vault->key_name, blob, blob_len, other_context, sizeof(other_context) - 1, out,
                      sizeof(out), &out_len, true);
    OPENSSL_cleanse(out, sizeof(out));
    return rc == CORE_CRYPTO;
}

/*
 * Wraps and unwraps a random key, then checks that another context fails, which proves that the server
 * applies associated_data (Vault releases from before late 2022 ignore it). Then checks the same for datakey.
 */
static enum core_err self_test(struct kms_vault *vault, char *err, size_t err_cap)
{
    static const uint8_t context[] = SELF_TEST_CONTEXT;
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[KMS_WRAPPED_MAX];
    char key_id[KMS_KEY_ID_MAX];
    size_t blob_len = 0;
    size_t out_len = 0;
    enum core_err rc;

    CORE_ENSURE(RAND_bytes(dek, sizeof(dek)) == 1, CORE_CRYPTO);
    rc = vault_wrap(&vault->base, NULL, dek, context, sizeof(context) - 1, blob, sizeof(blob), &blob_len, key_id,
                    sizeof(key_id));
    if (rc != CORE_OK) {
        explain_failure(vault, "the start-up test encrypt", rc, err, err_cap);
        goto out;
    }
    rc = vault_unwrap(&vault->base, key_id, blob, blob_len, context, sizeof(context) - 1, out, sizeof(out),
                      &out_len);
    if (rc != CORE_OK) {
        explain_failure(vault, "the start-up test decrypt", rc, err, err_cap);
        goto out;
    }
    if (out_len != sizeof(dek) || CRYPTO_memcmp(dek, out, sizeof(dek)) != 0) {
        set_err(err, err_cap, "the start-up test decrypt of key '%s' returned other bytes than were encrypted",
                vault->key_name);
        rc = CORE_KMS;
        goto out;
    }
    if (!other_context_fails(vault, blob, blob_len)) {
        set_err(err, err_cap, "Vault at %s decrypted with another associated_data, so it cannot bind data keys "
                "to objects; use a Vault release from 2023 on (or OpenBao) and a key of type aes256-gcm96",
                vault->addr);
        rc = CORE_KMS;
        goto out;
    }

    /* generate is only worth its round trip when datakey binds the context too */
    vault->datakey_binds_context = true;
    rc = vault_generate(&vault->base, NULL, context, sizeof(context) - 1, dek, blob, sizeof(blob), &blob_len,
                        key_id, sizeof(key_id));
    if (rc != CORE_OK || !other_context_fails(vault, blob, blob_len)) {
        vault->datakey_binds_context = false;
        core_log(CORE_LOG_NOTICE, "kms", "vault datakey %s; data keys come from the local random generator "
                 "key=%s", rc != CORE_OK ? "failed" : "ignores associated_data", vault->key_name);
    }
    rc = CORE_OK;

out:
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(out, sizeof(out));
    return rc;
}

enum core_err kms_vault_load(const struct kms_vault_settings *settings, struct kms_provider **out, char *err,
                             size_t err_cap)
{
    struct kms_vault *vault = NULL;
    struct vault_call call;
    enum core_err rc;

    CORE_ENSURE(settings != NULL && out != NULL, CORE_INTERNAL);
    *out = NULL;
    set_err(err, err_cap, "%s", "");
    pthread_once(&global_once, global_init);
    if (global_init_result != CURLE_OK) {
        set_err(err, err_cap, "curl_global_init failed: %s", curl_easy_strerror(global_init_result));
        return CORE_INTERNAL;
    }

    vault = calloc(1, sizeof(*vault));
    CORE_ENSURE(vault != NULL, CORE_NOMEM);
    vault->base.ops = &vault_ops;
    if (pthread_mutex_init(&vault->lock, NULL) != 0) {
        rc = CORE_NOMEM;
        goto out;
    }
    vault->lock_ready = true;

    rc = share_init(vault);
    if (rc == CORE_OK) {
        rc = apply_settings(vault, settings, err, err_cap);
    }
    if (rc == CORE_OK && vault->approle) {
        call_init(&call, vault);
        rc = take_token(&call, false);
        call_cleanup(&call);
        if (rc != CORE_OK) {
            explain_failure(vault, "AppRole login", rc, err, err_cap);
        }
    }
    if (rc == CORE_OK) {
        rc = check_key(vault, err, err_cap);
    }
    if (rc == CORE_OK) {
        rc = self_test(vault, err, err_cap);
    }
    if (rc != CORE_OK) {
        goto out;
    }

    core_log(CORE_LOG_NOTICE, "kms", "loaded Vault transit provider addr=%s mount=%s key=%s auth=%s "
             "timeout_ms=%ld datakey=%s", vault->addr, vault->mount, vault->key_name,
             vault->approle ? "approle" : "token", vault->timeout_ms, vault->datakey_binds_context ? "on" : "off");
    *out = &vault->base;
    vault = NULL;

out:
    if (vault != NULL) {
        vault_free(&vault->base);
    }
    return rc;
}
