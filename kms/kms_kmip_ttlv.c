/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KMIP TTLV writer and reader. The reader trusts nothing in a message: every length is checked against
 * the bytes that remain before it is used, and nesting is bounded by the caller.
 */
#include "kms/kms_kmip_ttlv.h"

#include <string.h>

#define PAD 8
#define TAG_MAX 0xFFFFFFu

static size_t padded(size_t len)
{
    return (len + PAD - 1) / PAD * PAD;
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t load_be64(const uint8_t *p)
{
    return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

void kms_ttlv_writer_init(struct kms_ttlv_writer *w, uint8_t *buf, size_t cap)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
    w->cap = cap;
    w->err = CORE_OK;
}

/* Writes a header and the value padded with zeros; value may be NULL when value_len is 0. */
static void put_item(struct kms_ttlv_writer *w, uint32_t tag, enum kms_ttlv_type type, const void *value,
                     size_t value_len)
{
    size_t total;

    if (w->err != CORE_OK) {
        return;
    }
    if (tag > TAG_MAX || value_len > UINT32_MAX - PAD) {
        w->err = CORE_TOO_LARGE;
        return;
    }
    total = KMS_TTLV_HEADER_LEN + padded(value_len);
    if (total > w->cap - w->len) {
        w->err = CORE_TOO_LARGE;
        return;
    }

    store_be32(w->buf + w->len, tag << 8 | (uint32_t)type);
    store_be32(w->buf + w->len + 4, (uint32_t)value_len);
    memset(w->buf + w->len + KMS_TTLV_HEADER_LEN, 0, padded(value_len));
    if (value_len > 0) {
        memcpy(w->buf + w->len + KMS_TTLV_HEADER_LEN, value, value_len);
    }
    w->len += total;
}

void kms_ttlv_begin(struct kms_ttlv_writer *w, uint32_t tag)
{
    size_t header_at = w->len;

    if (w->err == CORE_OK && w->depth == KMS_TTLV_WRITER_DEPTH) {
        w->err = CORE_TOO_LARGE;
    }
    put_item(w, tag, KMS_TTLV_STRUCTURE, NULL, 0);
    if (w->err == CORE_OK) {
        w->open[w->depth++] = header_at;
    }
}

void kms_ttlv_end(struct kms_ttlv_writer *w)
{
    size_t header_at;

    if (w->err != CORE_OK) {
        return;
    }
    if (w->depth == 0) {
        w->err = CORE_INTERNAL;
        return;
    }
    header_at = w->open[--w->depth];
    /* put_item keeps every item below UINT32_MAX, but the sum of the items in a structure may not be */
    if (w->len - header_at - KMS_TTLV_HEADER_LEN > UINT32_MAX) {
        w->err = CORE_TOO_LARGE;
        return;
    }
    store_be32(w->buf + header_at + 4, (uint32_t)(w->len - header_at - KMS_TTLV_HEADER_LEN));
}

void kms_ttlv_put_integer(struct kms_ttlv_writer *w, uint32_t tag, int32_t value)
{
    uint8_t be[4];

    store_be32(be, (uint32_t)value);
    put_item(w, tag, KMS_TTLV_INTEGER, be, sizeof(be));
}

void kms_ttlv_put_enum(struct kms_ttlv_writer *w, uint32_t tag, uint32_t value)
{
    uint8_t be[4];

    store_be32(be, value);
    put_item(w, tag, KMS_TTLV_ENUMERATION, be, sizeof(be));
}

void kms_ttlv_put_long(struct kms_ttlv_writer *w, uint32_t tag, int64_t value)
{
    uint8_t be[8];

    store_be32(be, (uint32_t)((uint64_t)value >> 32));
    store_be32(be + 4, (uint32_t)value);
    put_item(w, tag, KMS_TTLV_LONG_INTEGER, be, sizeof(be));
}

void kms_ttlv_put_bool(struct kms_ttlv_writer *w, uint32_t tag, bool value)
{
    uint8_t be[8] = {0};

    be[7] = value ? 1 : 0;
    put_item(w, tag, KMS_TTLV_BOOLEAN, be, sizeof(be));
}

void kms_ttlv_put_text(struct kms_ttlv_writer *w, uint32_t tag, const char *text, size_t len)
{
    put_item(w, tag, KMS_TTLV_TEXT_STRING, text, len);
}

void kms_ttlv_put_bytes(struct kms_ttlv_writer *w, uint32_t tag, const uint8_t *bytes, size_t len)
{
    put_item(w, tag, KMS_TTLV_BYTE_STRING, bytes, len);
}

enum core_err kms_ttlv_writer_finish(const struct kms_ttlv_writer *w, size_t *len)
{
    CORE_TRY(w->err);
    CORE_ENSURE(w->depth == 0, CORE_INTERNAL);
    *len = w->len;
    return CORE_OK;
}

/* Checks the value length that the type allows: 4 or 8 for the fixed-size types, multiples of 8 for some. */
static bool length_fits_type(uint8_t type, uint32_t len)
{
    switch (type) {
    case KMS_TTLV_INTEGER:
    case KMS_TTLV_ENUMERATION:
    case KMS_TTLV_INTERVAL:
        return len == 4;
    case KMS_TTLV_LONG_INTEGER:
    case KMS_TTLV_BOOLEAN:
    case KMS_TTLV_DATE_TIME:
        return len == 8;
    case KMS_TTLV_BIG_INTEGER:
    case KMS_TTLV_STRUCTURE:
        return len % PAD == 0;
    case KMS_TTLV_TEXT_STRING:
    case KMS_TTLV_BYTE_STRING:
        return true;
    default:
        return false;
    }
}

enum core_err kms_ttlv_read(const uint8_t *buf, size_t len, size_t *pos, struct kms_ttlv_item *item)
{
    size_t at = *pos;
    size_t value_at;
    size_t value_padded;
    uint32_t tag_type;

    CORE_ENSURE(at <= len && len - at >= KMS_TTLV_HEADER_LEN, CORE_KMS);
    tag_type = load_be32(buf + at);
    item->tag = tag_type >> 8;
    item->type = (uint8_t)tag_type;
    item->len = load_be32(buf + at + 4);
    CORE_ENSURE(length_fits_type(item->type, item->len), CORE_KMS);

    value_at = at + KMS_TTLV_HEADER_LEN;
    CORE_ENSURE(item->len <= len - value_at, CORE_KMS);
    value_padded = padded(item->len);
    CORE_ENSURE(value_padded <= len - value_at, CORE_KMS);
    for (size_t i = item->len; i < value_padded; i++) {
        CORE_ENSURE(buf[value_at + i] == 0, CORE_KMS);
    }
    if (item->type == KMS_TTLV_BOOLEAN) {
        CORE_ENSURE(load_be64(buf + value_at) <= 1, CORE_KMS);
    }

    item->value = buf + value_at;
    *pos = value_at + value_padded;
    return CORE_OK;
}

/* Checks that the items in buf[0..len) fill it exactly, descending into structures up to depth_left. */
static enum core_err check_items(const uint8_t *buf, size_t len, unsigned depth_left)
{
    size_t pos = 0;

    while (pos < len) {
        struct kms_ttlv_item item;

        CORE_TRY(kms_ttlv_read(buf, len, &pos, &item));
        if (item.type == KMS_TTLV_STRUCTURE) {
            CORE_ENSURE(depth_left > 0, CORE_KMS);
            CORE_TRY(check_items(item.value, item.len, depth_left - 1));
        }
    }
    return CORE_OK;
}

enum core_err kms_ttlv_parse(const uint8_t *buf, size_t len, unsigned max_depth, struct kms_ttlv_item *root)
{
    size_t pos = 0;

    CORE_TRY(kms_ttlv_read(buf, len, &pos, root));
    CORE_ENSURE(pos == len, CORE_KMS);
    if (root->type == KMS_TTLV_STRUCTURE) {
        CORE_ENSURE(max_depth > 0, CORE_KMS);
        CORE_TRY(check_items(root->value, root->len, max_depth - 1));
    }
    return CORE_OK;
}

enum core_err kms_ttlv_find(const struct kms_ttlv_item *parent, uint32_t tag, struct kms_ttlv_item *out)
{
    size_t pos = 0;

    CORE_ENSURE(parent->type == KMS_TTLV_STRUCTURE, CORE_KMS);
    while (pos < parent->len) {
        CORE_TRY(kms_ttlv_read(parent->value, parent->len, &pos, out));
        if (out->tag == tag) {
            return CORE_OK;
        }
    }
    return CORE_KMS;
}

size_t kms_ttlv_count(const struct kms_ttlv_item *parent, uint32_t tag)
{
    struct kms_ttlv_item item;
    size_t pos = 0;
    size_t count = 0;

    if (parent->type != KMS_TTLV_STRUCTURE) {
        return 0;
    }
    while (pos < parent->len && kms_ttlv_read(parent->value, parent->len, &pos, &item) == CORE_OK) {
        if (item.tag == tag) {
            count++;
        }
    }
    return count;
}

enum core_err kms_ttlv_get_integer(const struct kms_ttlv_item *item, int32_t *out)
{
    CORE_ENSURE(item->type == KMS_TTLV_INTEGER, CORE_KMS);
    *out = (int32_t)load_be32(item->value);
    return CORE_OK;
}

enum core_err kms_ttlv_get_enum(const struct kms_ttlv_item *item, uint32_t *out)
{
    CORE_ENSURE(item->type == KMS_TTLV_ENUMERATION, CORE_KMS);
    *out = load_be32(item->value);
    return CORE_OK;
}

enum core_err kms_ttlv_get_long(const struct kms_ttlv_item *item, int64_t *out)
{
    CORE_ENSURE(item->type == KMS_TTLV_LONG_INTEGER, CORE_KMS);
    *out = (int64_t)load_be64(item->value);
    return CORE_OK;
}

enum core_err kms_ttlv_get_bool(const struct kms_ttlv_item *item, bool *out)
{
    CORE_ENSURE(item->type == KMS_TTLV_BOOLEAN, CORE_KMS);
    *out = load_be64(item->value) == 1;
    return CORE_OK;
}
