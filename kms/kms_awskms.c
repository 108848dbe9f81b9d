/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AWS KMS provider. Every operation is one HTTP POST of the AWS JSON 1.1 protocol (X-Amz-Target
 * TrentService.<operation>), signed with Signature Version 4 for the service "kms" by s3seal's own signer
 * (s3/s3_sigv4.h), and sent with a libcurl easy handle taken from a small pool. The wrap context is bound
 * as the encryption context {"s3seal-context": base64(context)}, which KMS authenticates with the blob.
 */
#include "kms/kms_awskms.h"

#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "crypto/crypto_base64.h"
#include "kms/kms_provider.h"
#include "s3/s3_request.h"
#include "s3/s3_sigv4.h"

#define SERVICE "kms"
#define CONTENT_TYPE "application/x-amz-json-1.1"
#define TARGET_PREFIX "TrentService."
#define CONTEXT_NAME "s3seal-context"
#define SELF_TEST_CONTEXT "s3seal awskms self-test"

/* KMS responses are a few hundred bytes; a longer body is not a KMS reply. */
#define RESPONSE_MAX (64 * 1024)
/* Idle easy handles kept so that calls reuse connections; more concurrent calls make temporary handles. */
#define IDLE_HANDLES_MAX 16
#define AUTHORIZATION_MAX 1024
/* Base64 of the largest blob we send, plus its NUL. */
#define BLOB_BASE64_MAX (CRYPTO_BASE64_ENCODED_LEN(KMS_WRAPPED_MAX) + 1)

struct kms_awskms {
    struct kms_provider base;
    char *endpoint;          /* owned; the URL every request is posted to */
    char *host;              /* owned; Host header value, host[:port] as the endpoint spells it */
    char *region;            /* owned */
    char *key_id;            /* owned; the configured key, as the settings name it */
    char *access_key_id;     /* owned */
    char *secret_access_key; /* owned; wiped on free */
    char *session_token;     /* owned or NULL; wiped on free */
    char *ca_file;           /* owned or NULL */
    long timeout_ms;

    pthread_mutex_t lock; /* guards idle and idle_count */
    bool lock_ready;
    CURL *idle[IDLE_HANDLES_MAX];
    size_t idle_count;
};

/* Outcome of one call to KMS, for log lines and load messages; contains no secret. */
struct call_result {
    long http_status;    /* 0 when no HTTP reply arrived */
    char error_type[96]; /* KMS error type such as NotFoundException, or "" */
    char message[256];   /* KMS error message or libcurl error text, or "" */
};

/* The body of an reply, capped at RESPONSE_MAX. */
struct response {
    char *data; /* owned; wiped on free because a Decrypt reply holds a data key */
    size_t len;
    size_t cap;
    bool too_large;
    char error_type_header[96]; /* X-Amzn-ErrorType, for responses whose body names no type */
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

static struct kms_awskms *awskms_of(struct kms_provider *p)
{
    return (struct kms_awskms *)p;
}

/*
 * jansson frees the strings it parsed, including the base64 of a data key in a Decrypt reply, without
 * wiping them. This free wipes every block first. The allocator setting is process-wide, so the other
 * jansson user (metadata parsing in proxy/proxy_admin.c) pays the wipe as well.
 */
static void wiping_free(void *ptr)
{
    if (ptr != NULL) {
        OPENSSL_cleanse(ptr, malloc_usable_size(ptr));
        free(ptr);
    }
}

static CURLcode global_init_result = CURLE_FAILED_INIT;

static void global_init(void)
{
    json_set_alloc_funcs(malloc, wiping_free);
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Error mapping ------------------------------------------------------------------------------------- */

/*
 * AWS KMS API Reference, "Errors" of GenerateDataKey, Encrypt, Decrypt and ReEncrypt, and "Common Errors".
 * Types missing here are mapped by HTTP status in map_error.
 */
static const struct {
    const char *type;
    enum core_err err;
} error_types[] = {
    /* the credentials, the signature or the key policy were rejected */
    {"AccessDeniedException", CORE_KMS_DENIED},
    {"UnrecognizedClientException", CORE_KMS_DENIED},
    {"InvalidSignatureException", CORE_KMS_DENIED},
    {"IncompleteSignature", CORE_KMS_DENIED},
    {"IncompleteSignatureException", CORE_KMS_DENIED},
    {"InvalidClientTokenId", CORE_KMS_DENIED},
    {"MissingAuthenticationToken", CORE_KMS_DENIED},
    {"MissingAuthenticationTokenException", CORE_KMS_DENIED},
    {"ExpiredTokenException", CORE_KMS_DENIED},
    {"NotAuthorized", CORE_KMS_DENIED},
    {"RequestExpired", CORE_KMS_DENIED},
    /* the service is overloaded or failed; the caller may retry */
    {"ThrottlingException", CORE_KMS_UNAVAILABLE},
    {"KMSInternalException", CORE_KMS_UNAVAILABLE},
    {"DependencyTimeoutException", CORE_KMS_UNAVAILABLE},
    {"KeyUnavailableException", CORE_KMS_UNAVAILABLE},
    {"InternalFailure", CORE_KMS_UNAVAILABLE},
    {"ServiceUnavailable", CORE_KMS_UNAVAILABLE},
    /* the blob or its encryption context failed authentication, or another key made the blob */
    {"InvalidCiphertextException", CORE_CRYPTO},
    {"IncorrectKeyException", CORE_CRYPTO},
    /* the key cannot be used: unknown, disabled, pending deletion, wrong usage */
    {"NotFoundException", CORE_KMS},
    {"DisabledException", CORE_KMS},
    {"KMSInvalidStateException", CORE_KMS},
    {"InvalidKeyUsageException", CORE_KMS},
    {"InvalidGrantTokenException", CORE_KMS},
    {"ValidationException", CORE_KMS},
    {"DryRunOperationException", CORE_KMS},
};

/*
 * Copies the bare type out of a KMS error type, which may carry a namespace ("com.amazonaws.kms#X") or,
 * in X-Amzn-ErrorType, a URL after a ':'.
 */
static void copy_error_type(const char *raw, size_t raw_len, char *out, size_t out_cap)
{
    const char *hash = memchr(raw, '#', raw_len);
    const char *colon;
    size_t len;

    if (hash != NULL) {
        raw_len -= (size_t)(hash + 1 - raw);
        raw = hash + 1;
    }
    colon = memchr(raw, ':', raw_len);
    if (colon != NULL) {
        raw_len = (size_t)(colon - raw);
    }
    while (raw_len > 0 && (raw[raw_len - 1] == ' ' || raw[raw_len - 1] == '\r' || raw[raw_len - 1] == '\n')) {
        raw_len--;
    }
    len = raw_len < out_cap - 1 ? raw_len : out_cap - 1;
    memcpy(out, raw, len);
    out[len] = '\0';
}

/* Maps a failed reply to an error code: by its KMS error type when known, else by its HTTP status. */
static enum core_err map_error(long http_status, const char *error_type)
{
    for (size_t i = 0; i < sizeof(error_types) / sizeof(error_types[0]); i++) {
        if (strcmp(error_types[i].type, error_type) == 0) {
            return error_types[i].err;
        }
    }

    if (http_status >= 500 || http_status == 429) {
        return CORE_KMS_UNAVAILABLE;
    }
    if (http_status == 401 || http_status == 403) {
        return CORE_KMS_DENIED;
    }
    return CORE_KMS;
}

/* Maps a transfer that got no complete reply. */
static enum core_err map_curl_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return CORE_OK;
    case CURLE_WRITE_ERROR:
        /* on_body refused an reply longer than RESPONSE_MAX: not a KMS reply */
        return CORE_KMS;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        /* retrying cannot help: the settings are wrong or the peer is not who the URL names */
        return CORE_KMS;
    case CURLE_OUT_OF_MEMORY:
        return CORE_NOMEM;
    default:
        /* refused or reset connections, timeouts, name resolution, TLS handshake failures */
        return CORE_KMS_UNAVAILABLE;
    }
}

/* Request building and signing --------------------------------------------------------------------- */

/* Appends "Name: value" to *list; returns false when libcurl could not allocate. */
static bool append_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[AUTHORIZATION_MAX + 64];
    struct curl_slist *next;
    int n = snprintf(line, sizeof(line), "%s: %s", name, value);

    if (n < 0 || (size_t)n >= sizeof(line)) {
        return false;
    }
    next = curl_slist_append(*list, line);
    OPENSSL_cleanse(line, sizeof(line));
    if (next == NULL) {
        return false;
    }
    *list = next;
    return true;
}

/* Wipes and frees a header list, which may hold the session token and the signature. */
static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *h = list; h != NULL; h = h->next) {
        OPENSSL_cleanse(h->data, strlen(h->data));
    }
    curl_slist_free_all(list);
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t digest[32];
    unsigned int digest_len = 0;

    if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1) {
        out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < sizeof(digest); i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 0xf];
    }
    out[64] = '\0';
}

static struct s3_header header_of(const char *name, const char *value)
{
    struct s3_header h = {.name = name, .name_len = strlen(name), .value = value, .value_len = strlen(value)};

    return h;
}

/*
 * Builds the headers of one request: Content-Type, Host, X-Amz-Content-Sha256, X-Amz-Date, X-Amz-Target,
 * X-Amz-Security-Token when a session token is set, and the SigV4 Authorization over all of them for the
 * time now. Also an empty Expect, so libcurl sends no "Expect: 100-continue". The caller frees *out with
 * free_headers.
 */
static enum core_err build_headers(const struct kms_awskms *k, const char *operation, const char *body,
                                   size_t body_len, time_t now, struct curl_slist **out)
{
    char target[96];
    char amz_date[17];
    char payload_hash[65];
    char authorization[AUTHORIZATION_MAX];
    struct s3_header signed_headers[6];
    size_t count = 0;
    struct curl_slist *list = NULL;
    struct s3_sign_params params;
    enum core_err err;
    bool ok;

    *out = NULL;
    snprintf(target, sizeof(target), "%s%s", TARGET_PREFIX, operation);
    s3_sigv4_amz_date(now, amz_date);
    sha256_hex(body, body_len, payload_hash);
    CORE_ENSURE(payload_hash[0] != '\0', CORE_INTERNAL);

    signed_headers[count++] = header_of("Content-Type", CONTENT_TYPE);
    signed_headers[count++] = header_of("Host", k->host);
    signed_headers[count++] = header_of("X-Amz-Content-Sha256", payload_hash);
    signed_headers[count++] = header_of("X-Amz-Date", amz_date);
    signed_headers[count++] = header_of("X-Amz-Target", target);
    if (k->session_token != NULL) {
        signed_headers[count++] = header_of("X-Amz-Security-Token", k->session_token);
    }

    params = (struct s3_sign_params){
        .method = "POST",
        .canonical_uri = "/",
        .canonical_query = "",
        .headers = signed_headers,
        .header_count = count,
        .payload_hash = payload_hash,
        .region = k->region,
        .service = SERVICE,
        .access_key_id = k->access_key_id,
        .secret_access_key = k->secret_access_key,
        .amz_date = amz_date,
    };
    err = s3_sigv4_sign(&params, authorization, sizeof(authorization));
    if (err != CORE_OK) {
        return err;
    }

    ok = true;
    for (size_t i = 0; i < count && ok; i++) {
        ok = append_header(&list, signed_headers[i].name, signed_headers[i].value);
    }
    ok = ok && append_header(&list, "Authorization", authorization);
    OPENSSL_cleanse(authorization, sizeof(authorization));
    ok = ok && (list = curl_slist_append(list, "Expect:")) != NULL;
    if (!ok) {
        free_headers(list);
        return CORE_NOMEM;
    }
    *out = list;
    return CORE_OK;
}

/* Serializes body into a malloc'd buffer that the caller wipes and frees. */
static enum core_err dump_json(const json_t *body, char **out, size_t *out_len)
{
    size_t len = json_dumpb(body, NULL, 0, JSON_COMPACT);
    char *buf;

    *out = NULL;
    CORE_ENSURE(len > 0, CORE_INTERNAL);
    buf = malloc(len);
    CORE_ENSURE(buf != NULL, CORE_NOMEM);
    if (json_dumpb(body, buf, len, JSON_COMPACT) != len) {
        free(buf);
        return CORE_INTERNAL;
    }
    *out = buf;
    *out_len = len;
    return CORE_OK;
}

/* Sets body[name] to the base64 of data; returns false when jansson could not allocate. */
static bool set_base64(json_t *body, const char *name, const uint8_t *data, size_t len)
{
    char encoded[BLOB_BASE64_MAX];
    size_t encoded_len = 0;
    bool ok;

    if (crypto_base64_encode(data, len, encoded, sizeof(encoded), &encoded_len) != CORE_OK) {
        return false;
    }
    ok = json_object_set_new(body, name, json_stringn(encoded, encoded_len)) == 0;
    OPENSSL_cleanse(encoded, sizeof(encoded));
    return ok;
}

/*
 * Sets body[name] to the encryption context {"s3seal-context": base64(context)}. An empty context sets
 * nothing, so a blob wrapped without context unwraps only without one.
 */
static bool set_context(json_t *body, const char *name, const uint8_t *context, size_t context_len)
{
    json_t *map;

    if (context_len == 0) {
        return true;
    }
    map = json_object();
    if (map == NULL || !set_base64(map, CONTEXT_NAME, context, context_len)) {
        json_decref(map);
        return false;
    }
    return json_object_set_new(body, name, map) == 0;
}

static bool set_string(json_t *body, const char *name, const char *value)
{
    return json_object_set_new(body, name, json_string(value)) == 0;
}

/*
 * Request bodies, one per operation (AWS KMS API Reference, "Request Syntax"). Each returns a new object
 * that the caller releases with json_decref, or NULL when jansson could not allocate.
 */

static json_t *finish_request(json_t *request, bool ok)
{
    if (!ok) {
        json_decref(request);
        return NULL;
    }
    return request;
}

static json_t *generate_request(const char *key, const uint8_t *context, size_t context_len)
{
    json_t *r = json_object();

    return finish_request(r, r != NULL && set_string(r, "KeyId", key) && set_string(r, "KeySpec", "AES_256") &&
                                 set_context(r, "EncryptionContext", context, context_len));
}

static json_t *encrypt_request(const char *key, const uint8_t dek[KMS_DEK_LEN], const uint8_t *context,
                               size_t context_len)
{
    json_t *r = json_object();

    return finish_request(r, r != NULL && set_string(r, "KeyId", key) &&
                                 set_base64(r, "Plaintext", dek, KMS_DEK_LEN) &&
                                 set_context(r, "EncryptionContext", context, context_len));
}

/* KeyId makes KMS reject a blob made under any other key (IncorrectKeyException). */
static json_t *decrypt_request(const char *key_id, const uint8_t *wrapped, size_t wrapped_len,
                               const uint8_t *context, size_t context_len)
{
    json_t *r = json_object();

    return finish_request(r, r != NULL && set_string(r, "KeyId", key_id) &&
                                 set_base64(r, "CiphertextBlob", wrapped, wrapped_len) &&
                                 set_context(r, "EncryptionContext", context, context_len));
}

static json_t *reencrypt_request(const char *key_id, const uint8_t *wrapped, size_t wrapped_len,
                                 const uint8_t *old_context, size_t old_context_len, const char *destination,
                                 const uint8_t *new_context, size_t new_context_len)
{
    json_t *r = json_object();

    return finish_request(r, r != NULL && set_base64(r, "CiphertextBlob", wrapped, wrapped_len) &&
                                 set_string(r, "SourceKeyId", key_id) &&
                                 set_context(r, "SourceEncryptionContext", old_context, old_context_len) &&
                                 set_string(r, "DestinationKeyId", destination) &&
                                 set_context(r, "DestinationEncryptionContext", new_context, new_context_len));
}

/* HTTP exchange ------------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
    struct response *r = arg;
    size_t n = size * count;

    if (n > RESPONSE_MAX - r->len) {
        r->too_large = true;
        return 0;
    }
    if (r->data == NULL) {
        r->data = malloc(RESPONSE_MAX);
        if (r->data == NULL) {
            return 0;
        }
        r->cap = RESPONSE_MAX;
    }
    memcpy(r->data + r->len, data, n);
    r->len += n;
    return n;
}

static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
    static const char name[] = "x-amzn-errortype:";
    struct response *r = arg;
    size_t n = size * count;

    if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *value = data + sizeof(name) - 1;
        size_t value_len = n - (sizeof(name) - 1);

        while (value_len > 0 && *value == ' ') {
            value++;
            value_len--;
        }
        copy_error_type(value, value_len, r->error_type_header, sizeof(r->error_type_header));
    }
    return n;
}

static void response_cleanup(struct response *r)
{
    if (r->data != NULL) {
        OPENSSL_cleanse(r->data, r->cap);
        free(r->data);
        r->data = NULL;
    }
}

/* Takes an idle easy handle, or makes one. */
static CURL *take_handle(struct kms_awskms *k)
{
    CURL *h = NULL;

    pthread_mutex_lock(&k->lock);
    if (k->idle_count > 0) {
        h = k->idle[--k->idle_count];
    }
    pthread_mutex_unlock(&k->lock);

    return h != NULL ? h : curl_easy_init();
}

/* Keeps h for the next call, or frees it when enough handles are idle. */
static void return_handle(struct kms_awskms *k, CURL *h)
{
    /* drops the pointers into the caller's frame (body, headers, error buffer) but keeps the connection */
    curl_easy_reset(h);

    pthread_mutex_lock(&k->lock);
    if (k->idle_count < IDLE_HANDLES_MAX) {
        k->idle[k->idle_count++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&k->lock);
    curl_easy_cleanup(h);
}

static bool set_transfer_options(const struct kms_awskms *k, CURL *h, const char *body, size_t body_len,
                                 struct curl_slist *headers, struct response *resp, char *curl_error)
{
    bool ok = true;

    ok = ok && curl_easy_setopt(h, CURLOPT_URL, k->endpoint) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    /* no proxy from the environment: requests go to the endpoint as configured */
    ok = ok && curl_easy_setopt(h, CURLOPT_PROXY, "") == CURLE_OK;
    /* signals cannot interrupt a transfer on one of several threads */
    ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, k->timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, resp) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HEADERDATA, resp) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error) == CURLE_OK;
    if (k->ca_file != NULL) {
        ok = ok && curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file) == CURLE_OK;
    }
    return ok;
}

/* Fills res from a failed reply: the error type from the body's __type or the header, and the message. */
static void read_error_reply(const struct response *resp, json_t *reply, struct call_result *res)
{
    json_t *type = json_object_get(reply, "__type");
    json_t *message = json_object_get(reply, "message");

    if (message == NULL) {
        message = json_object_get(reply, "Message");
    }
    if (json_is_string(type)) {
        copy_error_type(json_string_value(type), json_string_length(type), res->error_type,
                        sizeof(res->error_type));
    } else {
        snprintf(res->error_type, sizeof(res->error_type), "%s", resp->error_type_header);
    }
    if (json_is_string(message)) {
        snprintf(res->message, sizeof(res->message), "%s", json_string_value(message));
    }
}

/*
 * Posts request as operation and sets *reply to the parsed JSON object of a 200 reply, which the caller
 * frees with json_decref. On failure fills res and returns the mapped error code.
 */
static enum core_err call_kms(struct kms_awskms *k, const char *operation, const json_t *request, json_t **reply,
                              struct call_result *res)
{
    struct response resp = {0};
    struct curl_slist *headers = NULL;
    char curl_error[CURL_ERROR_SIZE] = "";
    char *body = NULL;
    size_t body_len = 0;
    json_t *parsed = NULL;
    json_error_t json_err;
    CURL *h = NULL;
    CURLcode rc;
    enum core_err err;

    *reply = NULL;
    memset(res, 0, sizeof(*res));
    err = dump_json(request, &body, &body_len);
    if (err == CORE_OK) {
        err = build_headers(k, operation, body, body_len, time(NULL), &headers);
    }
    if (err != CORE_OK) {
        goto out;
    }

    h = take_handle(k);
    if (h == NULL || !set_transfer_options(k, h, body, body_len, headers, &resp, curl_error)) {
        err = CORE_NOMEM;
        goto out;
    }
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->http_status);
    if (rc != CURLE_OK) {
        if (resp.too_large) {
            snprintf(res->message, sizeof(res->message), "reply longer than %d bytes", RESPONSE_MAX);
        } else {
            snprintf(res->message, sizeof(res->message), "%s",
                     curl_error[0] != '\0' ? curl_error : curl_easy_strerror(rc));
        }
        err = map_curl_error(rc);
        goto out;
    }

    parsed = json_loadb(resp.data != NULL ? resp.data : "", resp.len, JSON_REJECT_DUPLICATES, &json_err);
    if (res->http_status != 200) {
        read_error_reply(&resp, parsed, res);
        err = map_error(res->http_status, res->error_type);
        goto out;
    }
    if (!json_is_object(parsed)) {
        snprintf(res->message, sizeof(res->message), "reply is not a JSON object: %s", json_err.text);
        err = CORE_KMS;
        goto out;
    }
    *reply = parsed;
    parsed = NULL;

out:
    json_decref(parsed);
    response_cleanup(&resp);
    if (h != NULL) {
        return_handle(k, h);
    }
    free_headers(headers);
    if (body != NULL) {
        OPENSSL_cleanse(body, body_len);
        free(body);
    }
    return err;
}

/* Response parsing ------------------------------------------------------------------------------------ */

/* Decodes the base64 string reply[name] into out. */
static enum core_err get_base64(const json_t *reply, const char *name, uint8_t *out, size_t cap, size_t *len,
                                struct call_result *res)
{
    json_t *value = json_object_get(reply, name);
    enum core_err err;

    if (!json_is_string(value)) {
        snprintf(res->message, sizeof(res->message), "reply lacks the string %s", name);
        return CORE_KMS;
    }
    err = crypto_base64_decode(json_string_value(value), json_string_length(value), out, cap, len);
    if (err != CORE_OK) {
        snprintf(res->message, sizeof(res->message), "%s in the reply is not base64 of at most %zu bytes", name,
                 cap);
        return CORE_KMS;
    }
    return CORE_OK;
}

/* Copies the KeyId of the reply, the ARN of the key KMS used, into key_id. */
static enum core_err get_key_id(const json_t *reply, const char *name, char *key_id, size_t key_id_cap,
                                struct call_result *res)
{
    json_t *value = json_object_get(reply, name);

    /* a NUL inside the value would cut the kms_id short */
    if (!json_is_string(value) || json_string_length(value) == 0 ||
        strlen(json_string_value(value)) != json_string_length(value)) {
        snprintf(res->message, sizeof(res->message), "reply lacks the string %s", name);
        return CORE_KMS;
    }
    if (json_string_length(value) >= key_id_cap) {
        return CORE_TOO_LARGE;
    }
    memcpy(key_id, json_string_value(value), json_string_length(value) + 1);
    return CORE_OK;
}

/* Reads a Plaintext that must be exactly one data key. */
static enum core_err get_dek(const json_t *reply, uint8_t *dek, size_t dek_cap, size_t *dek_len,
                             struct call_result *res)
{
    uint8_t plain[KMS_DEK_LEN + 16];
    size_t plain_len = 0;
    enum core_err err = get_base64(reply, "Plaintext", plain, sizeof(plain), &plain_len, res);

    if (err == CORE_OK && (plain_len != KMS_DEK_LEN || plain_len > dek_cap)) {
        snprintf(res->message, sizeof(res->message), "Plaintext has %zu bytes, expected %d", plain_len,
                 KMS_DEK_LEN);
        err = CORE_CRYPTO;
    }
    if (err == CORE_OK) {
        memcpy(dek, plain, plain_len);
        *dek_len = plain_len;
    }
    OPENSSL_cleanse(plain, sizeof(plain));
    return err;
}

/* Operations ---------------------------------------------------------------------------------------- */

static const char *key_or_default(const struct kms_awskms *k, const char *want_key_id)
{
    return want_key_id != NULL ? want_key_id : k->key_id;
}

static void log_failure(const char *operation, const char *key_id, enum core_err err, const struct call_result *res)
{
    core_log(CORE_LOG_ERROR, "kms", "AWS KMS %s failed key=%s error=%s status=%ld type=%s detail=%s", operation,
             key_id, core_err_str(err), res->http_status, res->error_type[0] ? res->error_type : "-",
             res->message[0] ? res->message : "-");
}

/* Reads CiphertextBlob and KeyId, the parts that generate, wrap and rewrap responses share. */
static enum core_err get_blob_and_key(const json_t *reply, uint8_t *wrapped, size_t wrapped_cap,
                                      size_t *wrapped_len, char *key_id, size_t key_id_cap, struct call_result *res)
{
    CORE_TRY(get_base64(reply, "CiphertextBlob", wrapped, wrapped_cap, wrapped_len, res));
    return get_key_id(reply, "KeyId", key_id, key_id_cap, res);
}

static enum core_err do_generate(struct kms_awskms *k, const char *key, const uint8_t *context,
                                 size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped, size_t wrapped_cap,
                                 size_t *wrapped_len, char *key_id, size_t key_id_cap, struct call_result *res)
{
    json_t *request = generate_request(key, context, context_len);
    json_t *reply = NULL;
    size_t dek_len = 0;
    enum core_err err = CORE_NOMEM;

    memset(res, 0, sizeof(*res));
    if (request != NULL) {
        err = call_kms(k, "GenerateDataKey", request, &reply, res);
    }
    if (err == CORE_OK) {
        err = get_blob_and_key(reply, wrapped, wrapped_cap, wrapped_len, key_id, key_id_cap, res);
    }
    if (err == CORE_OK) {
        err = get_dek(reply, dek, KMS_DEK_LEN, &dek_len, res);
    }
    if (err != CORE_OK) {
        OPENSSL_cleanse(dek, KMS_DEK_LEN);
    }
    json_decref(reply);
    json_decref(request);
    return err;
}

static enum core_err do_decrypt(struct kms_awskms *k, const char *key_id, const uint8_t *wrapped,
                                size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                size_t dek_cap, size_t *dek_len, struct call_result *res)
{
    json_t *request = decrypt_request(key_id, wrapped, wrapped_len, context, context_len);
    json_t *reply = NULL;
    enum core_err err = CORE_NOMEM;

    memset(res, 0, sizeof(*res));
    if (request != NULL) {
        err = call_kms(k, "Decrypt", request, &reply, res);
    }
    if (err == CORE_OK) {
        err = get_dek(reply, dek, dek_cap, dek_len, res);
    }
    json_decref(reply);
    json_decref(request);
    return err;
}

static enum core_err awskms_generate(struct kms_provider *p, const char *want_key_id, const uint8_t *context,
                                     size_t context_len, uint8_t dek[KMS_DEK_LEN], uint8_t *wrapped,
                                     size_t wrapped_cap, size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_awskms *k = awskms_of(p);
    const char *key = key_or_default(k, want_key_id);
    struct call_result res;
    enum core_err err = do_generate(k, key, context, context_len, dek, wrapped, wrapped_cap, wrapped_len, key_id,
                                    key_id_cap, &res);

    if (err != CORE_OK) {
        log_failure("GenerateDataKey", key, err, &res);
    }
    return err;
}

static enum core_err awskms_wrap(struct kms_provider *p, const char *want_key_id, const uint8_t dek[KMS_DEK_LEN],
                                 const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                                 size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_awskms *k = awskms_of(p);
    const char *key = key_or_default(k, want_key_id);
    json_t *request = encrypt_request(key, dek, context, context_len);
    json_t *reply = NULL;
    struct call_result res = {0};
    enum core_err err = CORE_NOMEM;

    if (request != NULL) {
        err = call_kms(k, "Encrypt", request, &reply, &res);
    }
    if (err == CORE_OK) {
        err = get_blob_and_key(reply, wrapped, wrapped_cap, wrapped_len, key_id, key_id_cap, &res);
    }
    if (err != CORE_OK) {
        log_failure("Encrypt", key, err, &res);
    }
    json_decref(reply);
    json_decref(request);
    return err;
}

static enum core_err awskms_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                   size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                   size_t dek_cap, size_t *dek_len)
{
    struct call_result res;
    enum core_err err = do_decrypt(awskms_of(p), key_id, wrapped, wrapped_len, context, context_len, dek, dek_cap,
                                   dek_len, &res);

    if (err != CORE_OK) {
        log_failure("Decrypt", key_id, err, &res);
    }
    return err;
}

static enum core_err awskms_rewrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                   size_t wrapped_len, const uint8_t *old_context, size_t old_context_len,
                                   const char *want_key_id, const uint8_t *new_context, size_t new_context_len,
                                   uint8_t *out, size_t out_cap, size_t *out_len, char *out_key_id,
                                   size_t out_key_id_cap)
{
    struct kms_awskms *k = awskms_of(p);
    const char *destination = key_or_default(k, want_key_id);
    json_t *request = reencrypt_request(key_id, wrapped, wrapped_len, old_context, old_context_len, destination,
                                        new_context, new_context_len);
    json_t *reply = NULL;
    struct call_result res = {0};
    enum core_err err = CORE_NOMEM;

    if (request != NULL) {
        err = call_kms(k, "ReEncrypt", request, &reply, &res);
    }
    if (err == CORE_OK) {
        err = get_blob_and_key(reply, out, out_cap, out_len, out_key_id, out_key_id_cap, &res);
    }
    if (err != CORE_OK) {
        log_failure("ReEncrypt", key_id, err, &res);
    }
    json_decref(reply);
    json_decref(request);
    return err;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_clear_free(s, strlen(s));
    }
}

static void awskms_free(struct kms_provider *p)
{
    struct kms_awskms *k = awskms_of(p);

    for (size_t i = 0; i < k->idle_count; i++) {
        curl_easy_cleanup(k->idle[i]);
    }
    if (k->lock_ready) {
        pthread_mutex_destroy(&k->lock);
    }
    free(k->endpoint);
    free(k->host);
    free(k->region);
    free(k->key_id);
    free(k->access_key_id);
    free_secret(k->secret_access_key);
    free_secret(k->session_token);
    free(k->ca_file);
    free(k);
}

static const struct kms_provider_ops awskms_ops = {
    .name = "awskms",
    .wrap = awskms_wrap,
    .unwrap = awskms_unwrap,
    .generate = awskms_generate,
    .rewrap = awskms_rewrap,
    .free = awskms_free,
};

/* Loading ------------------------------------------------------------------------------------------- */

/*
 * Checks that endpoint is an http or https URL without path, query or credentials, and sets k->host to the
 * Host header libcurl would send: the host and, when the URL names one, the port.
 */
static enum core_err parse_endpoint(struct kms_awskms *k, const char *endpoint, char *err, size_t err_cap)
{
    CURLU *url = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL;
    enum core_err rc = CORE_CONFIG;
    size_t host_len;

    if (url == NULL) {
        return CORE_NOMEM;
    }
    if (curl_url_set(url, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        set_err(err, err_cap, "S3SEAL_AWSKMS_ENDPOINT=%s is not a URL; expected https://kms.<region>.amazonaws.com "
                "or http://127.0.0.1:<port> for a local test service", endpoint);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        set_err(err, err_cap, "S3SEAL_AWSKMS_ENDPOINT=%s: scheme '%s' is not supported; use https (or http for a "
                "local test service)", endpoint, scheme);
        goto out;
    }
    (void)curl_url_get(url, CURLUPART_PATH, &path, 0);
    (void)curl_url_get(url, CURLUPART_QUERY, &query, 0);
    (void)curl_url_get(url, CURLUPART_USER, &user, 0);
    if ((path != NULL && strcmp(path, "/") != 0) || query != NULL || user != NULL) {
        set_err(err, err_cap, "S3SEAL_AWSKMS_ENDPOINT=%s: give the base URL only, without path, query or user; "
                "KMS requests always go to /", endpoint);
        goto out;
    }
    (void)curl_url_get(url, CURLUPART_PORT, &port, 0);

    host_len = strlen(host) + (port != NULL ? 1 + strlen(port) : 0) + 1;
    k->host = malloc(host_len);
    if (k->host == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    snprintf(k->host, host_len, "%s%s%s", host, port != NULL ? ":" : "", port != NULL ? port : "");
    rc = CORE_OK;

out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(user);
    curl_url_cleanup(url);
    return rc;
}

static enum core_err check_settings(const struct kms_awskms_settings *s, char *err, size_t err_cap)
{
    static const struct {
        const char *name;
        size_t offset;
    } required[] = {
        {"S3SEAL_AWSKMS_ENDPOINT", offsetof(struct kms_awskms_settings, endpoint)},
        {"S3SEAL_AWSKMS_REGION", offsetof(struct kms_awskms_settings, region)},
        {"S3SEAL_AWSKMS_KEY_ID", offsetof(struct kms_awskms_settings, key_id)},
        {"S3SEAL_AWSKMS_ACCESS_KEY_ID", offsetof(struct kms_awskms_settings, access_key_id)},
        {"S3SEAL_AWSKMS_SECRET_ACCESS_KEY", offsetof(struct kms_awskms_settings, secret_access_key)},
    };

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        const char *value = *(const char *const *)((const char *)s + required[i].offset);

        if (value == NULL || value[0] == '\0') {
            set_err(err, err_cap, "missing setting %s: the awskms key provider needs it", required[i].name);
            return CORE_CONFIG;
        }
    }
    if (strlen(s->secret_access_key) > S3_SIGV4_SECRET_MAX) {
        set_err(err, err_cap, "S3SEAL_AWSKMS_SECRET_ACCESS_KEY is longer than %d bytes", S3_SIGV4_SECRET_MAX);
        return CORE_CONFIG;
    }
    if (strlen(s->key_id) >= KMS_KEY_ID_MAX - sizeof("awskms:")) {
        set_err(err, err_cap, "S3SEAL_AWSKMS_KEY_ID=%s is longer than %zu bytes", s->key_id,
                KMS_KEY_ID_MAX - sizeof("awskms:") - 1);
        return CORE_CONFIG;
    }
    if (s->timeout_ms < 0) {
        set_err(err, err_cap, "S3SEAL_AWSKMS_TIMEOUT_MS=%ld is negative; give milliseconds, such as 5000",
                s->timeout_ms);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static enum core_err copy_settings(struct kms_awskms *k, const struct kms_awskms_settings *s)
{
    k->endpoint = strdup(s->endpoint);
    k->region = strdup(s->region);
    k->key_id = strdup(s->key_id);
    k->access_key_id = strdup(s->access_key_id);
    k->secret_access_key = strdup(s->secret_access_key);
    k->session_token = dup_or_null(s->session_token);
    k->ca_file = dup_or_null(s->ca_file);
    k->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : KMS_AWSKMS_TIMEOUT_MS_DEFAULT;
    if (k->endpoint == NULL || k->region == NULL || k->key_id == NULL || k->access_key_id == NULL ||
        k->secret_access_key == NULL || (s->session_token != NULL && s->session_token[0] != '\0' &&
                                         k->session_token == NULL) ||
        (s->ca_file != NULL && s->ca_file[0] != '\0' && k->ca_file == NULL)) {
        return CORE_NOMEM;
    }
    return CORE_OK;
}

/* Writes the load message for a failed self-test call: which setting to check for this kind of failure. */
static void explain_failure(const struct kms_awskms *k, const char *operation, enum core_err rc,
                            const struct call_result *res, char *err, size_t err_cap)
{
    const char *type = res->error_type[0] ? res->error_type : "no error type";
    const char *detail = res->message[0] ? res->message : "no message";

    switch (rc) {
    case CORE_KMS_UNAVAILABLE:
        set_err(err, err_cap, "AWS KMS at S3SEAL_AWSKMS_ENDPOINT=%s did not complete %s (HTTP status %ld, %s: %s); "
                "check the URL and that the service is reachable, or raise S3SEAL_AWSKMS_TIMEOUT_MS=%ld",
                k->endpoint, operation, res->http_status, type, detail, k->timeout_ms);
        break;
    case CORE_KMS_DENIED:
        set_err(err, err_cap, "AWS KMS rejected %s for S3SEAL_AWSKMS_ACCESS_KEY_ID=%s (%s: %s); check "
                "S3SEAL_AWSKMS_SECRET_ACCESS_KEY, S3SEAL_AWSKMS_SESSION_TOKEN, S3SEAL_AWSKMS_REGION=%s and that the "
                "key policy of S3SEAL_AWSKMS_KEY_ID=%s allows kms:GenerateDataKey, kms:Encrypt, kms:Decrypt and "
                "kms:ReEncrypt*", operation, k->access_key_id, type, detail, k->region, k->key_id);
        break;
    case CORE_KMS:
        set_err(err, err_cap, "AWS KMS rejected %s with S3SEAL_AWSKMS_KEY_ID=%s (%s: %s); set it to the key id, "
                "ARN or alias of an enabled symmetric encryption key in region %s", operation, k->key_id, type,
                detail, k->region);
        break;
    default:
        set_err(err, err_cap, "AWS KMS %s with S3SEAL_AWSKMS_KEY_ID=%s failed: %s (%s: %s)", operation, k->key_id,
                core_err_str(rc), type, detail);
        break;
    }
}

/*
 * Makes a data key, decrypts it and compares, then checks that Decrypt with another context fails. A
 * service that ignored the encryption context would otherwise pass a round trip and bind nothing.
 */
static enum core_err self_test(struct kms_awskms *k, char *err, size_t err_cap)
{
    static const uint8_t context[] = SELF_TEST_CONTEXT;
    static const uint8_t other[] = SELF_TEST_CONTEXT " (changed)";
    uint8_t dek[KMS_DEK_LEN];
    uint8_t back[KMS_DEK_LEN];
    uint8_t wrapped[KMS_WRAPPED_MAX];
    size_t wrapped_len = 0;
    size_t back_len = 0;
    char key_arn[KMS_KEY_ID_MAX];
    struct call_result res;
    enum core_err rc;

    rc = do_generate(k, k->key_id, context, sizeof(context) - 1, dek, wrapped, sizeof(wrapped), &wrapped_len,
                     key_arn, sizeof(key_arn), &res);
    if (rc != CORE_OK) {
        explain_failure(k, "GenerateDataKey", rc, &res, err, err_cap);
        goto out;
    }
    rc = do_decrypt(k, key_arn, wrapped, wrapped_len, context, sizeof(context) - 1, back, sizeof(back), &back_len,
                    &res);
    if (rc != CORE_OK) {
        explain_failure(k, "Decrypt", rc, &res, err, err_cap);
        goto out;
    }
    if (back_len != KMS_DEK_LEN || CRYPTO_memcmp(dek, back, KMS_DEK_LEN) != 0) {
        set_err(err, err_cap, "AWS KMS self-test failed: Decrypt returned another data key than GenerateDataKey "
                "made with S3SEAL_AWSKMS_KEY_ID=%s", k->key_id);
        rc = CORE_CRYPTO;
        goto out;
    }

    rc = do_decrypt(k, key_arn, wrapped, wrapped_len, other, sizeof(other) - 1, back, sizeof(back), &back_len,
                    &res);
    if (rc != CORE_CRYPTO) {
        set_err(err, err_cap, "AWS KMS self-test failed: Decrypt with a changed encryption context returned %s, "
                "expected InvalidCiphertextException; S3SEAL_AWSKMS_ENDPOINT=%s does not bind the context",
                rc == CORE_OK ? "the data key" : core_err_str(rc), k->endpoint);
        rc = CORE_CRYPTO;
        goto out;
    }
    core_log(CORE_LOG_NOTICE, "kms", "loaded AWS KMS provider endpoint=%s region=%s key=%s arn=%s timeout_ms=%ld",
             k->endpoint, k->region, k->key_id, key_arn, k->timeout_ms);
    rc = CORE_OK;

out:
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(back, sizeof(back));
    return rc;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* Builds the provider from checked settings, without calling KMS. */
static enum core_err awskms_new(const struct kms_awskms_settings *settings, struct kms_awskms **out, char *err,
                                size_t err_cap)
{
    struct kms_awskms *k;
    enum core_err rc;

    *out = NULL;
    CORE_TRY(check_settings(settings, err, err_cap));
    pthread_once(&global_once, global_init);
    if (global_init_result != CURLE_OK) {
        set_err(err, err_cap, "curl_global_init failed: %s", curl_easy_strerror(global_init_result));
        return CORE_KMS;
    }

    k = calloc(1, sizeof(*k));
    CORE_ENSURE(k != NULL, CORE_NOMEM);
    k->base.ops = &awskms_ops;
    rc = copy_settings(k, settings);
    if (rc == CORE_OK) {
        rc = parse_endpoint(k, settings->endpoint, err, err_cap);
    }
    if (rc == CORE_OK && pthread_mutex_init(&k->lock, NULL) != 0) {
        rc = CORE_NOMEM;
    }
    if (rc != CORE_OK) {
        awskms_free(&k->base);
        return rc;
    }
    k->lock_ready = true;
    *out = k;
    return CORE_OK;
}

enum core_err kms_awskms_load(const struct kms_awskms_settings *settings, struct kms_provider **out, char *err,
                              size_t err_cap)
{
    struct kms_awskms *k = NULL;
    enum core_err rc;

    *out = NULL;
    rc = awskms_new(settings, &k, err, err_cap);
    if (rc == CORE_OK) {
        rc = self_test(k, err, err_cap);
    }
    if (rc != CORE_OK) {
        if (k != NULL) {
            awskms_free(&k->base);
        }
        return rc;
    }
    *out = &k->base;
    return CORE_OK;
}
