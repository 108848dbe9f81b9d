/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds KMIP 1.4 Encrypt and Decrypt requests and reads their responses. Tag and enumeration values come
 * from the KMIP 1.4 specification, section 9.1.3.
 */
#include "kms/kms_kmip_msg.h"

#include <stdbool.h>
#include <string.h>

#include "kms/kms_kmip_ttlv.h"

#define TAG_AUTH_ADDITIONAL_DATA 0x4200FEu
#define TAG_AUTH_TAG 0x4200FFu
#define TAG_BATCH_COUNT 0x42000Du
#define TAG_BATCH_ITEM 0x42000Fu
#define TAG_BLOCK_CIPHER_MODE 0x420011u
#define TAG_CRYPTOGRAPHIC_ALGORITHM 0x420028u
#define TAG_CRYPTOGRAPHIC_PARAMETERS 0x42002Bu
#define TAG_DATA 0x4200C2u
#define TAG_IV_COUNTER_NONCE 0x42003Du
#define TAG_OPERATION 0x42005Cu
#define TAG_PROTOCOL_VERSION 0x420069u
#define TAG_PROTOCOL_VERSION_MAJOR 0x42006Au
#define TAG_PROTOCOL_VERSION_MINOR 0x42006Bu
#define TAG_REQUEST_HEADER 0x420077u
#define TAG_REQUEST_MESSAGE 0x420078u
#define TAG_REQUEST_PAYLOAD 0x420079u
#define TAG_RESPONSE_HEADER 0x42007Au
#define TAG_RESPONSE_MESSAGE 0x42007Bu
#define TAG_RESPONSE_PAYLOAD 0x42007Cu
#define TAG_RESULT_MESSAGE 0x42007Du
#define TAG_RESULT_REASON 0x42007Eu
#define TAG_RESULT_STATUS 0x42007Fu
#define TAG_TAG_LENGTH 0x4200CEu
#define TAG_UNIQUE_IDENTIFIER 0x420094u

#define ALGORITHM_AES 0x03u
#define MODE_GCM 0x09u
#define ENCRYPT_TAG_LEN 16

/* The Authenticated Encryption fields exist from KMIP 1.4 on; older versions drop them. */
#define PROTOCOL_MAJOR 1
#define PROTOCOL_MINOR 4

static void put_header(struct kms_ttlv_writer *w)
{
    kms_ttlv_begin(w, TAG_REQUEST_HEADER);
    kms_ttlv_begin(w, TAG_PROTOCOL_VERSION);
    kms_ttlv_put_integer(w, TAG_PROTOCOL_VERSION_MAJOR, PROTOCOL_MAJOR);
    kms_ttlv_put_integer(w, TAG_PROTOCOL_VERSION_MINOR, PROTOCOL_MINOR);
    kms_ttlv_end(w);
    kms_ttlv_put_integer(w, TAG_BATCH_COUNT, 1);
    kms_ttlv_end(w);
}

/* PyKMIP 0.10 does not take the parameters from the key's attributes, so every request names them. */
static void put_parameters(struct kms_ttlv_writer *w, size_t tag_len)
{
    kms_ttlv_begin(w, TAG_CRYPTOGRAPHIC_PARAMETERS);
    kms_ttlv_put_enum(w, TAG_BLOCK_CIPHER_MODE, MODE_GCM);
    kms_ttlv_put_enum(w, TAG_CRYPTOGRAPHIC_ALGORITHM, ALGORITHM_AES);
    kms_ttlv_put_integer(w, TAG_TAG_LENGTH, (int32_t)tag_len);
    kms_ttlv_end(w);
}

enum core_err kms_kmip_encode_crypt_request(const struct kms_kmip_crypt_request *req, uint8_t *buf, size_t cap,
                                            size_t *len)
{
    bool decrypt = req->op == KMS_KMIP_OP_DECRYPT;
    struct kms_ttlv_writer w;

    CORE_ENSURE(req->op == KMS_KMIP_OP_ENCRYPT || decrypt, CORE_INTERNAL);
    CORE_ENSURE(req->aad_len <= KMS_KMIP_AAD_MAX, CORE_TOO_LARGE);
    CORE_ENSURE(!decrypt || (req->tag_len > 0 && req->tag_len <= 16), CORE_INTERNAL);

    kms_ttlv_writer_init(&w, buf, cap);
    kms_ttlv_begin(&w, TAG_REQUEST_MESSAGE);
    put_header(&w);

    kms_ttlv_begin(&w, TAG_BATCH_ITEM);
    kms_ttlv_put_enum(&w, TAG_OPERATION, (uint32_t)req->op);
    kms_ttlv_begin(&w, TAG_REQUEST_PAYLOAD);
    kms_ttlv_put_text(&w, TAG_UNIQUE_IDENTIFIER, req->key_id, strlen(req->key_id));
    put_parameters(&w, decrypt ? req->tag_len : ENCRYPT_TAG_LEN);
    kms_ttlv_put_bytes(&w, TAG_DATA, req->data, req->data_len);
    kms_ttlv_put_bytes(&w, TAG_IV_COUNTER_NONCE, req->iv, req->iv_len);
    if (req->aad_len > 0) {
        kms_ttlv_put_bytes(&w, TAG_AUTH_ADDITIONAL_DATA, req->aad, req->aad_len);
    }
    if (decrypt) {
        kms_ttlv_put_bytes(&w, TAG_AUTH_TAG, req->tag, req->tag_len);
    }
    kms_ttlv_end(&w);
    kms_ttlv_end(&w);

    kms_ttlv_end(&w);
    return kms_ttlv_writer_finish(&w, len);
}

enum core_err kms_kmip_response_length(const uint8_t header[8], size_t *total)
{
    uint32_t tag_type = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 | (uint32_t)header[2] << 8 |
                        header[3];
    uint32_t len = (uint32_t)header[4] << 24 | (uint32_t)header[5] << 16 | (uint32_t)header[6] << 8 | header[7];

    CORE_ENSURE(tag_type == (TAG_RESPONSE_MESSAGE << 8 | KMS_TTLV_STRUCTURE), CORE_KMS);
    CORE_ENSURE(len <= KMS_KMIP_RESPONSE_MAX - KMS_TTLV_HEADER_LEN, CORE_TOO_LARGE);
    *total = KMS_TTLV_HEADER_LEN + (size_t)len;
    return CORE_OK;
}

/* Sets *out to the value of an optional Byte String field, or leaves it NULL when the field is absent. */
static enum core_err find_optional_bytes(const struct kms_ttlv_item *parent, uint32_t tag, const uint8_t **out,
                                         size_t *out_len)
{
    struct kms_ttlv_item item;

    *out = NULL;
    *out_len = 0;
    if (kms_ttlv_find(parent, tag, &item) != CORE_OK) {
        return CORE_OK;
    }
    CORE_ENSURE(item.type == KMS_TTLV_BYTE_STRING, CORE_KMS);
    *out = item.value;
    *out_len = item.len;
    return CORE_OK;
}

/* Checks the response header: protocol version 1.x and a batch count of 1. */
static enum core_err check_response_header(const struct kms_ttlv_item *message)
{
    struct kms_ttlv_item header;
    struct kms_ttlv_item version;
    struct kms_ttlv_item field;
    int32_t value = 0;

    CORE_TRY(kms_ttlv_find(message, TAG_RESPONSE_HEADER, &header));
    CORE_TRY(kms_ttlv_find(&header, TAG_PROTOCOL_VERSION, &version));
    CORE_TRY(kms_ttlv_find(&version, TAG_PROTOCOL_VERSION_MAJOR, &field));
    CORE_TRY(kms_ttlv_get_integer(&field, &value));
    CORE_ENSURE(value == PROTOCOL_MAJOR, CORE_KMS);

    CORE_TRY(kms_ttlv_find(&header, TAG_BATCH_COUNT, &field));
    CORE_TRY(kms_ttlv_get_integer(&field, &value));
    CORE_ENSURE(value == 1, CORE_KMS);
    CORE_ENSURE(kms_ttlv_count(message, TAG_BATCH_ITEM) == 1, CORE_KMS);
    return CORE_OK;
}

/* Reads Result Status, and Result Reason and Result Message when present. */
static enum core_err read_result(const struct kms_ttlv_item *batch, struct kms_kmip_crypt_response *out)
{
    struct kms_ttlv_item item;

    CORE_TRY(kms_ttlv_find(batch, TAG_RESULT_STATUS, &item));
    CORE_TRY(kms_ttlv_get_enum(&item, &out->result_status));
    if (kms_ttlv_find(batch, TAG_RESULT_REASON, &item) == CORE_OK) {
        CORE_TRY(kms_ttlv_get_enum(&item, &out->result_reason));
    }
    if (kms_ttlv_find(batch, TAG_RESULT_MESSAGE, &item) == CORE_OK) {
        CORE_ENSURE(item.type == KMS_TTLV_TEXT_STRING, CORE_KMS);
        out->result_message = (const char *)item.value;
        out->result_message_len = item.len;
    }
    return CORE_OK;
}

enum core_err kms_kmip_parse_crypt_response(const uint8_t *msg, size_t len, enum kms_kmip_op op,
                                            struct kms_kmip_crypt_response *out)
{
    struct kms_ttlv_item message;
    struct kms_ttlv_item batch;
    struct kms_ttlv_item item;
    struct kms_ttlv_item payload;
    uint32_t operation = 0;

    memset(out, 0, sizeof(*out));
    CORE_TRY(kms_ttlv_parse(msg, len, KMS_KMIP_MAX_DEPTH, &message));
    CORE_ENSURE(message.tag == TAG_RESPONSE_MESSAGE && message.type == KMS_TTLV_STRUCTURE, CORE_KMS);
    CORE_TRY(check_response_header(&message));

    CORE_TRY(kms_ttlv_find(&message, TAG_BATCH_ITEM, &batch));
    CORE_ENSURE(batch.type == KMS_TTLV_STRUCTURE, CORE_KMS);
    /* a server may leave Operation out of a failed item (KMIP 1.4, 7.2: "if specified in the request") */
    if (kms_ttlv_find(&batch, TAG_OPERATION, &item) == CORE_OK) {
        CORE_TRY(kms_ttlv_get_enum(&item, &operation));
        CORE_ENSURE(operation == (uint32_t)op, CORE_KMS);
    }
    CORE_TRY(read_result(&batch, out));
    if (out->result_status != KMS_KMIP_STATUS_SUCCESS) {
        return CORE_OK;
    }

    CORE_ENSURE(operation == (uint32_t)op, CORE_KMS);
    CORE_TRY(kms_ttlv_find(&batch, TAG_RESPONSE_PAYLOAD, &payload));
    CORE_ENSURE(payload.type == KMS_TTLV_STRUCTURE, CORE_KMS);
    CORE_TRY(find_optional_bytes(&payload, TAG_DATA, &out->data, &out->data_len));
    CORE_TRY(find_optional_bytes(&payload, TAG_IV_COUNTER_NONCE, &out->iv, &out->iv_len));
    CORE_TRY(find_optional_bytes(&payload, TAG_AUTH_TAG, &out->tag, &out->tag_len));
    return CORE_OK;
}

enum core_err kms_kmip_result_err(enum kms_kmip_op op, uint32_t result_reason)
{
    switch (result_reason) {
    case KMS_KMIP_REASON_PERMISSION_DENIED:
    case KMS_KMIP_REASON_AUTHENTICATION_NOT_SUCCESSFUL:
        return CORE_KMS_DENIED;
    case KMS_KMIP_REASON_CRYPTOGRAPHIC_FAILURE:
    case KMS_KMIP_REASON_GENERAL_FAILURE:
        return op == KMS_KMIP_OP_DECRYPT ? CORE_CRYPTO : CORE_KMS;
    default:
        return CORE_KMS;
    }
}

const char *kms_kmip_reason_name(uint32_t result_reason)
{
    static const struct {
        uint32_t reason;
        const char *name;
    } names[] = {
        {0x01, "Item Not Found"},
        {0x02, "Response Too Large"},
        {0x03, "Authentication Not Successful"},
        {0x04, "Invalid Message"},
        {0x05, "Operation Not Supported"},
        {0x06, "Missing Data"},
        {0x07, "Invalid Field"},
        {0x08, "Feature Not Supported"},
        {0x0A, "Cryptographic Failure"},
        {0x0B, "Illegal Operation"},
        {0x0C, "Permission Denied"},
        {0x0D, "Object Archived"},
        {0x100, "General Failure"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].reason == result_reason) {
            return names[i].name;
        }
    }
    return "an unlisted reason";
}
