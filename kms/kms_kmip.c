/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KMIP provider. Each wrap is one KMIP Encrypt and each unwrap one Decrypt, with AES-GCM, a 12-byte IV
 * that s3seal picks, the wrap context as Authenticated Encryption Additional Data and a 16-byte tag. A
 * wrapped blob is
 *   version 0x01 || iv (12) || ciphertext of the DEK (32) || tag (16),
 * 61 bytes. kms/kms_kmip_conn.c carries the requests over TLS.
 */
#include "kms/kms_kmip.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/core_log.h"
#include "kms/kms_kmip_conn.h"
#include "kms/kms_kmip_msg.h"
#include "kms/kms_provider.h"

#define BLOB_VERSION 0x01
#define IV_LEN 12
#define TAG_LEN 16
#define IV_OFFSET 1
#define CIPHERTEXT_OFFSET (IV_OFFSET + IV_LEN)
#define TAG_OFFSET (CIPHERTEXT_OFFSET + KMS_DEK_LEN)
#define BLOB_LEN (TAG_OFFSET + TAG_LEN)

#define TIMEOUT_MS_MAX 600000
#define SELF_TEST_CONTEXT "s3seal kmip self-test"

struct kms_kmip {
    struct kms_provider base;
    char key_id[KMS_KMIP_KEY_ID_MAX + 1];
    struct kms_kmip_conn_pool pool;
    bool pool_ready; /* kms_kmip_conn_init was called, so kms_kmip_conn_cleanup must be */
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

static struct kms_kmip *kmip_of(struct kms_provider *p)
{
    return (struct kms_kmip *)p;
}

/* Checks a Unique Identifier: printable ASCII without blanks, so it fits the s3seal-kms metadata value. */
static bool key_id_is_valid(const char *id)
{
    size_t len = strnlen(id, KMS_KMIP_KEY_ID_MAX + 1);

    if (len == 0 || len > KMS_KMIP_KEY_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (id[i] < 0x21 || id[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* Explains a failed result, with the fix for the two cases a wrong setting causes. */
static void describe_result(const struct kms_kmip *k, const struct kms_kmip_crypt_request *req,
                            const struct kms_kmip_crypt_response *resp, char *err, size_t err_cap)
{
    const char *op = req->op == KMS_KMIP_OP_ENCRYPT ? "Encrypt" : "Decrypt";
    const char *hint = "";
    int msg_len = resp->result_message_len > 200 ? 200 : (int)resp->result_message_len;

    if (resp->result_reason == KMS_KMIP_REASON_ITEM_NOT_FOUND && req->op == KMS_KMIP_OP_ENCRYPT) {
        hint = "; check S3SEAL_KMIP_KEY_ID";
    } else if (resp->result_reason == KMS_KMIP_REASON_ITEM_NOT_FOUND) {
        hint = "; the key named in the object's s3seal-kms metadata is not on this server";
    } else if (resp->result_reason == KMS_KMIP_REASON_PERMISSION_DENIED) {
        hint = "; the key must be Active, allow Encrypt and Decrypt in its usage mask, and be usable by the "
               "identity of S3SEAL_KMIP_CERT_FILE";
    }
    set_err(err, err_cap, "KMIP %s with key '%s' on %s port %s failed: %s (reason 0x%x): %.*s%s", op, req->key_id,
            k->pool.host, k->pool.port, kms_kmip_reason_name(resp->result_reason), (unsigned)resp->result_reason, msg_len,
            resp->result_message != NULL ? resp->result_message : "", hint);
}

/* Request and response of one call; on the heap because a response may be KMS_KMIP_RESPONSE_MAX bytes. */
struct call_buffers {
    uint8_t req[KMS_KMIP_REQUEST_MAX];
    uint8_t resp[KMS_KMIP_RESPONSE_MAX];
};

/*
 * Runs one Encrypt or Decrypt and checks its result. On CORE_OK *out points into bufs->resp, which the
 * caller wipes and frees.
 */
static enum core_err kmip_crypt(struct kms_kmip *k, const struct kms_kmip_crypt_request *req,
                                struct call_buffers *bufs, struct kms_kmip_crypt_response *out, char *err,
                                size_t err_cap)
{
    size_t req_len = 0;
    size_t resp_len = 0;
    enum core_err rc;

    rc = kms_kmip_encode_crypt_request(req, bufs->req, sizeof(bufs->req), &req_len);
    if (rc != CORE_OK) {
        set_err(err, err_cap, "cannot build a KMIP request for key '%s': %s", req->key_id, core_err_str(rc));
        return rc;
    }
    rc = kms_kmip_conn_call(&k->pool, bufs->req, req_len, bufs->resp, &resp_len, err, err_cap);
    /* an Encrypt request contains the data key */
    OPENSSL_cleanse(bufs->req, req_len);
    CORE_TRY(rc);

    rc = kms_kmip_parse_crypt_response(bufs->resp, resp_len, req->op, out);
    if (rc != CORE_OK) {
        set_err(err, err_cap, "KMIP server %s port %s sent a malformed response to %s", k->pool.host, k->pool.port,
                req->op == KMS_KMIP_OP_ENCRYPT ? "Encrypt" : "Decrypt");
        return CORE_KMS;
    }
    if (out->result_status != KMS_KMIP_STATUS_SUCCESS) {
        describe_result(k, req, out, err, err_cap);
        return kms_kmip_result_err(req->op, out->result_reason);
    }
    return CORE_OK;
}

static void free_buffers(struct call_buffers *bufs)
{
    if (bufs != NULL) {
        OPENSSL_clear_free(bufs, sizeof(*bufs));
    }
}

/* Encrypts the DEK into blob[CIPHERTEXT_OFFSET..BLOB_LEN); blob[IV_OFFSET..] already contains the IV. */
static enum core_err encrypt_dek(struct kms_kmip *k, const char *key_id, const uint8_t dek[KMS_DEK_LEN],
                                 const uint8_t *aad, size_t aad_len, uint8_t blob[BLOB_LEN], char *err,
                                 size_t err_cap)
{
    const struct kms_kmip_crypt_request req = {
        .op = KMS_KMIP_OP_ENCRYPT,
        .key_id = key_id,
        .data = dek,
        .data_len = KMS_DEK_LEN,
        .iv = blob + IV_OFFSET,
        .iv_len = IV_LEN,
        .aad = aad,
        .aad_len = aad_len,
    };
    struct kms_kmip_crypt_response resp;
    struct call_buffers *bufs = malloc(sizeof(*bufs));
    enum core_err rc;

    if (bufs == NULL) {
        set_err(err, err_cap, "out of memory for a KMIP request");
        return CORE_NOMEM;
    }
    rc = kmip_crypt(k, &req, bufs, &resp, err, err_cap);
    if (rc == CORE_OK && (resp.data_len != KMS_DEK_LEN || resp.tag_len != TAG_LEN ||
                          (resp.iv != NULL && (resp.iv_len != IV_LEN || memcmp(resp.iv, blob + IV_OFFSET, IV_LEN) != 0)))) {
        set_err(err, err_cap, "KMIP Encrypt with key '%s' returned %zu ciphertext bytes and a %zu-byte tag where "
                "%d and %d were expected, or another IV; the server must support AES-GCM with KMIP 1.4",
                key_id, resp.data_len, resp.tag_len, KMS_DEK_LEN, TAG_LEN);
        rc = CORE_KMS;
    }
    if (rc == CORE_OK) {
        memcpy(blob + CIPHERTEXT_OFFSET, resp.data, KMS_DEK_LEN);
        memcpy(blob + TAG_OFFSET, resp.tag, TAG_LEN);
    }
    free_buffers(bufs);
    return rc;
}

static enum core_err decrypt_dek(struct kms_kmip *k, const char *key_id, const uint8_t blob[BLOB_LEN],
                                 const uint8_t *aad, size_t aad_len, uint8_t *dek, char *err, size_t err_cap)
{
    const struct kms_kmip_crypt_request req = {
        .op = KMS_KMIP_OP_DECRYPT,
        .key_id = key_id,
        .data = blob + CIPHERTEXT_OFFSET,
        .data_len = KMS_DEK_LEN,
        .iv = blob + IV_OFFSET,
        .iv_len = IV_LEN,
        .aad = aad,
        .aad_len = aad_len,
        .tag = blob + TAG_OFFSET,
        .tag_len = TAG_LEN,
    };
    struct kms_kmip_crypt_response resp;
    struct call_buffers *bufs = malloc(sizeof(*bufs));
    enum core_err rc;

    if (bufs == NULL) {
        set_err(err, err_cap, "out of memory for a KMIP request");
        return CORE_NOMEM;
    }
    rc = kmip_crypt(k, &req, bufs, &resp, err, err_cap);
    if (rc == CORE_OK && resp.data_len != KMS_DEK_LEN) {
        set_err(err, err_cap, "KMIP Decrypt with key '%s' returned %zu bytes; a data key has %d", key_id,
                resp.data_len, KMS_DEK_LEN);
        rc = CORE_CRYPTO;
    }
    if (rc == CORE_OK) {
        memcpy(dek, resp.data, KMS_DEK_LEN);
    }
    free_buffers(bufs);
    return rc;
}

/* want_key_id may name any key on the server, which returns Item Not Found for an unknown one. */
static enum core_err kmip_wrap(struct kms_provider *p, const char *want_key_id, const uint8_t dek[KMS_DEK_LEN],
                               const uint8_t *context, size_t context_len, uint8_t *wrapped, size_t wrapped_cap,
                               size_t *wrapped_len, char *key_id, size_t key_id_cap)
{
    struct kms_kmip *k = kmip_of(p);
    const char *id = want_key_id != NULL ? want_key_id : k->key_id;
    char err[512] = "";
    enum core_err rc;

    CORE_ENSURE(key_id_is_valid(id), CORE_KMS);
    CORE_ENSURE(wrapped_cap >= BLOB_LEN, CORE_TOO_LARGE);
    CORE_ENSURE(strlen(id) < key_id_cap, CORE_TOO_LARGE);
    CORE_ENSURE(context_len <= KMS_KMIP_AAD_MAX, CORE_TOO_LARGE);

    /*
     * NOTE: with random 96-bit IVs, one GCM key is commonly limited to 2^32 encryptions, because IV
     * collisions become likely beyond that. Move S3SEAL_KMIP_KEY_ID to a new key well before that.
     */
    wrapped[0] = BLOB_VERSION;
    CORE_ENSURE(RAND_bytes(wrapped + IV_OFFSET, IV_LEN) == 1, CORE_CRYPTO);
    rc = encrypt_dek(k, id, dek, context, context_len, wrapped, err, sizeof(err));
    if (rc != CORE_OK) {
        core_log(CORE_LOG_ERROR, "kms", "KMIP wrap failed key_id=%s: %s", id, err);
        return rc;
    }

    memcpy(key_id, id, strlen(id) + 1);
    *wrapped_len = BLOB_LEN;
    return CORE_OK;
}

static enum core_err kmip_unwrap(struct kms_provider *p, const char *key_id, const uint8_t *wrapped,
                                 size_t wrapped_len, const uint8_t *context, size_t context_len, uint8_t *dek,
                                 size_t dek_cap, size_t *dek_len)
{
    struct kms_kmip *k = kmip_of(p);
    char err[512] = "";
    enum core_err rc;

    CORE_ENSURE(dek_cap >= KMS_DEK_LEN, CORE_INTERNAL);
    CORE_ENSURE(key_id_is_valid(key_id), CORE_KMS);
    CORE_ENSURE(context_len <= KMS_KMIP_AAD_MAX, CORE_TOO_LARGE);
    /* a wrong length or version is tampering too, and fails the same way as a bad tag */
    CORE_ENSURE(wrapped_len == BLOB_LEN && wrapped[0] == BLOB_VERSION, CORE_CRYPTO);

    rc = decrypt_dek(k, key_id, wrapped, context, context_len, dek, err, sizeof(err));
    if (rc == CORE_CRYPTO) {
        core_log(CORE_LOG_INFO, "kms", "KMIP unwrap rejected key_id=%s: %s", key_id, err);
        return rc;
    }
    if (rc != CORE_OK) {
        core_log(CORE_LOG_ERROR, "kms", "KMIP unwrap failed key_id=%s: %s", key_id, err);
        return rc;
    }
    *dek_len = KMS_DEK_LEN;
    return CORE_OK;
}

static void kmip_free(struct kms_provider *p)
{
    struct kms_kmip *k = kmip_of(p);

    if (k->pool_ready) {
        kms_kmip_conn_cleanup(&k->pool);
    }
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

static const struct kms_provider_ops kmip_ops = {
    .name = "kmip",
    .wrap = kmip_wrap,
    .unwrap = kmip_unwrap,
    .free = kmip_free,
};

/*
 * Wraps and unwraps a random key, then checks that another context fails. A server that ignored the
 * additional data would otherwise pass a round trip and bind nothing to the object.
 */
static enum core_err self_test(struct kms_kmip *k, char *err, size_t err_cap)
{
    static const uint8_t context[] = SELF_TEST_CONTEXT;
    static const uint8_t other_context[] = SELF_TEST_CONTEXT "!";
    uint8_t dek[KMS_DEK_LEN];
    uint8_t out[KMS_DEK_LEN];
    uint8_t blob[BLOB_LEN];
    char detail[512] = "";
    enum core_err rc;

    CORE_ENSURE(RAND_bytes(dek, sizeof(dek)) == 1, CORE_CRYPTO);
    blob[0] = BLOB_VERSION;
    CORE_ENSURE(RAND_bytes(blob + IV_OFFSET, IV_LEN) == 1, CORE_CRYPTO);

    rc = encrypt_dek(k, k->key_id, dek, context, sizeof(context) - 1, blob, detail, sizeof(detail));
    if (rc == CORE_OK) {
        rc = decrypt_dek(k, k->key_id, blob, context, sizeof(context) - 1, out, detail, sizeof(detail));
        if (rc == CORE_OK && CRYPTO_memcmp(dek, out, sizeof(dek)) != 0) {
            set_err(detail, sizeof(detail), "Decrypt did not return the encrypted test key");
            rc = CORE_KMS;
        } else if (rc == CORE_CRYPTO) {
            rc = CORE_KMS;
        }
    }
    if (rc == CORE_OK) {
        rc = decrypt_dek(k, k->key_id, blob, other_context, sizeof(other_context) - 1, out, detail,
                         sizeof(detail));
        if (rc == CORE_OK) {
            set_err(detail, sizeof(detail), "Decrypt accepted different additional data");
            rc = CORE_KMS;
        } else if (rc == CORE_CRYPTO) {
            rc = CORE_OK;
        }
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(out, sizeof(out));
    if (rc != CORE_OK) {
        set_err(err, err_cap, "start-up check of KMIP key '%s' (S3SEAL_KMIP_KEY_ID) on %s port %s failed: %s",
                k->key_id, k->pool.host, k->pool.port, detail);
    }
    return rc;
}

static enum core_err check_settings(const struct kms_kmip_settings *s, char *err, size_t err_cap)
{
    const char *port = s->port != NULL ? s->port : KMS_KMIP_DEFAULT_PORT;
    char *end = NULL;
    long port_number = strtol(port, &end, 10);

    if (s->host == NULL || s->host[0] == '\0' || strlen(s->host) > KMS_KMIP_HOST_MAX) {
        set_err(err, err_cap, "%s S3SEAL_KMIP_HOST: set it to the KMIP server's name or address, as its "
                "certificate names it", s->host == NULL || s->host[0] == '\0' ? "missing setting" : "invalid");
        return CORE_CONFIG;
    }
    if (port[0] == '\0' || *end != '\0' || port_number < 1 || port_number > 65535) {
        set_err(err, err_cap, "invalid S3SEAL_KMIP_PORT '%s': expected a TCP port from 1 to 65535", port);
        return CORE_CONFIG;
    }
    if (s->ca_file == NULL || s->cert_file == NULL || s->key_file == NULL) {
        set_err(err, err_cap, "missing setting %s: the KMIP provider needs the CA file, a client certificate "
                "and its key", s->ca_file == NULL ? "S3SEAL_KMIP_CA_FILE" :
                s->cert_file == NULL ? "S3SEAL_KMIP_CERT_FILE" : "S3SEAL_KMIP_KEY_FILE");
        return CORE_CONFIG;
    }
    if (s->key_id == NULL || !key_id_is_valid(s->key_id)) {
        set_err(err, err_cap, "%s S3SEAL_KMIP_KEY_ID: set it to the Unique Identifier of the AES key, 1 to %d "
                "printable ASCII characters without blanks", s->key_id == NULL ? "missing setting" : "invalid",
                KMS_KMIP_KEY_ID_MAX);
        return CORE_CONFIG;
    }
    if (s->timeout_ms < 0 || s->timeout_ms > TIMEOUT_MS_MAX) {
        set_err(err, err_cap, "invalid S3SEAL_KMIP_TIMEOUT_MS %d: expected 1 to %d milliseconds", s->timeout_ms,
                TIMEOUT_MS_MAX);
        return CORE_CONFIG;
    }
    return CORE_OK;
}

enum core_err kms_kmip_load(const struct kms_kmip_settings *settings, struct kms_provider **out, char *err,
                            size_t err_cap)
{
    struct kms_kmip *k = NULL;
    enum core_err rc;

    CORE_ENSURE(settings != NULL && out != NULL, CORE_INTERNAL);
    *out = NULL;
    set_err(err, err_cap, "%s", "");

    rc = check_settings(settings, err, err_cap);
    if (rc != CORE_OK) {
        goto out;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    k->base.ops = &kmip_ops;
    memcpy(k->key_id, settings->key_id, strlen(settings->key_id) + 1);

    const struct kms_kmip_conn_settings conn = {
        .host = settings->host,
        .port = settings->port != NULL ? settings->port : KMS_KMIP_DEFAULT_PORT,
        .ca_file = settings->ca_file,
        .cert_file = settings->cert_file,
        .key_file = settings->key_file,
        .timeout_ms = settings->timeout_ms > 0 ? settings->timeout_ms : KMS_KMIP_DEFAULT_TIMEOUT_MS,
    };
    k->pool_ready = true;
    rc = kms_kmip_conn_init(&k->pool, &conn, err, err_cap);
    if (rc == CORE_OK) {
        rc = self_test(k, err, err_cap);
    }
    if (rc != CORE_OK) {
        goto out;
    }

    core_log(CORE_LOG_NOTICE, "kms", "loaded KMIP provider host=%s port=%s key_id=%s timeout_ms=%d",
             k->pool.host, k->pool.port, k->key_id, k->pool.timeout_ms);
    *out = &k->base;
    k = NULL;

out:
    if (k != NULL) {
        kmip_free(&k->base);
    }
    return rc;
}
