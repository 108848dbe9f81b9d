/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KMIP 1.4 messages of the KMIP provider: an Encrypt or Decrypt request with AES-GCM parameters, the
 * framing of a response on the stream, and the fields of its one batch item. No I/O happens here.
 */
#ifndef KMS_KMIP_MSG_H
#define KMS_KMIP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

/* Largest response accepted; an Encrypt or Decrypt response for a data key is a few hundred bytes. */
#define KMS_KMIP_RESPONSE_MAX 16384
/* Largest request built: the data key, IV, tag, key id and a context of up to KMS_KMIP_AAD_MAX bytes. */
#define KMS_KMIP_REQUEST_MAX 8192
#define KMS_KMIP_AAD_MAX 4096
/* Structures nest four deep in a response (message, batch item, payload, parameters); allow some slack. */
#define KMS_KMIP_MAX_DEPTH 8

/* Operation values (KMIP 1.4, section 9.1.3.2.27). */
enum kms_kmip_op {
    KMS_KMIP_OP_ENCRYPT = 0x1F,
    KMS_KMIP_OP_DECRYPT = 0x20,
};

/* Result Status and the Result Reason values the provider acts on (KMIP 1.4, 9.1.3.2.28 and 9.1.3.2.29). */
#define KMS_KMIP_STATUS_SUCCESS 0x0u
#define KMS_KMIP_REASON_ITEM_NOT_FOUND 0x01u
#define KMS_KMIP_REASON_AUTHENTICATION_NOT_SUCCESSFUL 0x03u
#define KMS_KMIP_REASON_CRYPTOGRAPHIC_FAILURE 0x0Au
#define KMS_KMIP_REASON_PERMISSION_DENIED 0x0Cu
#define KMS_KMIP_REASON_GENERAL_FAILURE 0x100u

/* An Encrypt or Decrypt of data under key_id with AES-GCM; the pointers are borrowed. */
struct kms_kmip_crypt_request {
    enum kms_kmip_op op;
    const char *key_id; /* Unique Identifier of the key */
    const uint8_t *data;
    size_t data_len;
    const uint8_t *iv; /* the GCM nonce, sent in IV/Counter/Nonce */
    size_t iv_len;
    const uint8_t *aad; /* Authenticated Encryption Additional Data; omitted when aad_len is 0 */
    size_t aad_len;
    const uint8_t *tag; /* Authenticated Encryption Tag; Decrypt only */
    size_t tag_len;
};

/*
 * Encodes a request message with protocol version 1.4, one batch item and explicit Cryptographic
 * Parameters (AES, GCM, Tag Length of tag_len bytes for Decrypt or 16 for Encrypt). Returns CORE_TOO_LARGE
 * when the message does not fit in cap or aad_len exceeds KMS_KMIP_AAD_MAX.
 */
enum core_err kms_kmip_encode_crypt_request(const struct kms_kmip_crypt_request *req, uint8_t *buf, size_t cap,
                                            size_t *len) CORE_WARN_UNUSED;

/*
 * Reads the length of a response message from its first 8 bytes and writes the whole message length,
 * header included, to *total. Returns CORE_KMS when the header is not that of a Response Message structure
 * and CORE_TOO_LARGE when the message would exceed KMS_KMIP_RESPONSE_MAX.
 */
enum core_err kms_kmip_response_length(const uint8_t header[8], size_t *total) CORE_WARN_UNUSED;

/* The fields of a response to one Encrypt or Decrypt; the pointers point into the parsed message. */
struct kms_kmip_crypt_response {
    uint32_t result_status;
    uint32_t result_reason; /* 0 when absent */
    const char *result_message; /* not NUL-terminated; NULL when absent */
    size_t result_message_len;
    const uint8_t *data; /* NULL when absent */
    size_t data_len;
    const uint8_t *iv; /* NULL when absent */
    size_t iv_len;
    const uint8_t *tag; /* NULL when absent */
    size_t tag_len;
};

/*
 * Checks a whole response message and extracts its one batch item, which must be for op. Returns CORE_OK
 * also when the server reports a failed operation: the caller reads result_status. Returns CORE_KMS when
 * the message is malformed, has another batch count, or is the response to another operation.
 */
enum core_err kms_kmip_parse_crypt_response(const uint8_t *msg, size_t len, enum kms_kmip_op op,
                                            struct kms_kmip_crypt_response *out) CORE_WARN_UNUSED;

/*
 * Maps a failed result to an error: Permission Denied and Authentication Not Successful give
 * CORE_KMS_DENIED. For Decrypt, Cryptographic Failure and General Failure give CORE_CRYPTO, because
 * servers such as PyKMIP 0.10 report a wrong tag or additional data as General Failure. Everything else,
 * Item Not Found included, gives CORE_KMS.
 */
enum core_err kms_kmip_result_err(enum kms_kmip_op op, uint32_t result_reason);

/* Returns the KMIP name of a Result Reason, or "an unlisted reason". */
const char *kms_kmip_reason_name(uint32_t result_reason);

#endif
