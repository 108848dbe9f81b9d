/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the KMIP response reader (kms/kms_kmip_ttlv.h and
 * kms/kms_kmip_msg.h). The whole input is a response as it arrives from a
 * KMIP server: its framing (kms_kmip_response_length), the Encrypt and
 * Decrypt response parser, and the generic TTLV parser with a walk over
 * every item. A message made only of the types the writer supports must
 * encode back to the input byte for byte, since kms_ttlv_parse accepts only
 * canonical padding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_kmip_msg.h"
#include "kms/kms_kmip_ttlv.h"

static void check_inside(const uint8_t *msg, size_t len, const void *field, size_t field_len)
{
    const uint8_t *p = field;

    if (p != NULL && (p < msg || field_len > len || p + field_len > msg + len)) {
        abort();
    }
}

static void fuzz_response(const uint8_t *msg, size_t len)
{
    static const enum kms_kmip_op ops[] = {KMS_KMIP_OP_ENCRYPT, KMS_KMIP_OP_DECRYPT};
    struct kms_kmip_crypt_response out;
    size_t total = 0;

    if (len >= KMS_TTLV_HEADER_LEN && kms_kmip_response_length(msg, &total) == CORE_OK &&
        (total < KMS_TTLV_HEADER_LEN || total > KMS_KMIP_RESPONSE_MAX)) {
        abort();
    }
    for (size_t i = 0; i < 2; i++) {
        if (kms_kmip_parse_crypt_response(msg, len, ops[i], &out) != CORE_OK) {
            continue;
        }
        check_inside(msg, len, out.result_message, out.result_message_len);
        check_inside(msg, len, out.data, out.data_len);
        check_inside(msg, len, out.iv, out.iv_len);
        check_inside(msg, len, out.tag, out.tag_len);
        if (out.result_status != KMS_KMIP_STATUS_SUCCESS) {
            (void)kms_kmip_result_err(ops[i], out.result_reason);
            (void)kms_kmip_reason_name(out.result_reason);
        }
    }
}

/*
 * Writes item and everything inside it with the TTLV writer. Returns false
 * for a type the writer cannot write, so the round trip is skipped.
 */
static bool rewrite(const struct kms_ttlv_item *item, struct kms_ttlv_writer *w)
{
    int32_t integer = 0;
    uint32_t enumeration = 0;
    int64_t long_integer = 0;
    bool boolean = false;

    switch (item->type) {
    case KMS_TTLV_STRUCTURE: {
        size_t pos = 0;
        struct kms_ttlv_item child;

        kms_ttlv_begin(w, item->tag);
        while (pos < item->len) {
            /* kms_ttlv_parse checked every item inside, so reading them again cannot fail */
            if (kms_ttlv_read(item->value, item->len, &pos, &child) != CORE_OK) {
                abort();
            }
            if (!rewrite(&child, w)) {
                return false;
            }
        }
        kms_ttlv_end(w);
        return true;
    }
    case KMS_TTLV_INTEGER:
        if (kms_ttlv_get_integer(item, &integer) != CORE_OK) {
            abort();
        }
        kms_ttlv_put_integer(w, item->tag, integer);
        return true;
    case KMS_TTLV_ENUMERATION:
        if (kms_ttlv_get_enum(item, &enumeration) != CORE_OK) {
            abort();
        }
        kms_ttlv_put_enum(w, item->tag, enumeration);
        return true;
    case KMS_TTLV_LONG_INTEGER:
        if (kms_ttlv_get_long(item, &long_integer) != CORE_OK) {
            abort();
        }
        kms_ttlv_put_long(w, item->tag, long_integer);
        return true;
    case KMS_TTLV_BOOLEAN:
        if (kms_ttlv_get_bool(item, &boolean) != CORE_OK) {
            abort();
        }
        kms_ttlv_put_bool(w, item->tag, boolean);
        return true;
    case KMS_TTLV_TEXT_STRING:
        kms_ttlv_put_text(w, item->tag, (const char *)item->value, item->len);
        return true;
    case KMS_TTLV_BYTE_STRING:
        kms_ttlv_put_bytes(w, item->tag, item->value, item->len);
        return true;
    default:
        return false;
    }
}

static void fuzz_ttlv(const uint8_t *msg, size_t len)
{
    struct kms_ttlv_item root;
    struct kms_ttlv_item first;
    struct kms_ttlv_item found;
    struct kms_ttlv_writer w;
    size_t pos = 0;
    uint8_t *copy;
    size_t copy_len = 0;

    if (kms_ttlv_parse(msg, len, KMS_KMIP_MAX_DEPTH, &root) != CORE_OK) {
        return;
    }
    check_inside(msg, len, root.value, root.len);

    /* the first item inside the root is what a lookup of its tag finds */
    if (root.type == KMS_TTLV_STRUCTURE && root.len > 0) {
        if (kms_ttlv_read(root.value, root.len, &pos, &first) != CORE_OK ||
            kms_ttlv_find(&root, first.tag, &found) != CORE_OK || found.value != first.value ||
            kms_ttlv_count(&root, first.tag) == 0) {
            abort();
        }
    }

    copy = malloc(len);
    if (copy == NULL) {
        return;
    }
    kms_ttlv_writer_init(&w, copy, len);
    if (rewrite(&root, &w) && (kms_ttlv_writer_finish(&w, &copy_len) != CORE_OK || copy_len != len ||
                               memcmp(copy, msg, len) != 0)) {
        abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_response(data, size);
    fuzz_ttlv(data, size);
    return 0;
}
