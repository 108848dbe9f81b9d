/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KMIP TTLV encoding (KMIP 1.4 specification, section 9.1): every item is a 3-byte tag, a 1-byte type, a
 * 4-byte big-endian length and a value padded with zero bytes to a multiple of 8. A writer builds a
 * message in a caller's buffer; the reader checks a received message before any field is used.
 */
#ifndef KMS_KMIP_TTLV_H
#define KMS_KMIP_TTLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

#define KMS_TTLV_HEADER_LEN 8
/* Maximum number of structures a writer can keep open at once. */
#define KMS_TTLV_WRITER_DEPTH 8

enum kms_ttlv_type {
    KMS_TTLV_STRUCTURE = 0x01,
    KMS_TTLV_INTEGER = 0x02,
    KMS_TTLV_LONG_INTEGER = 0x03,
    KMS_TTLV_BIG_INTEGER = 0x04,
    KMS_TTLV_ENUMERATION = 0x05,
    KMS_TTLV_BOOLEAN = 0x06,
    KMS_TTLV_TEXT_STRING = 0x07,
    KMS_TTLV_BYTE_STRING = 0x08,
    KMS_TTLV_DATE_TIME = 0x09,
    KMS_TTLV_INTERVAL = 0x0A,
};

/*
 * Writes TTLV items into a borrowed buffer. The first failure sticks: later calls do nothing, and
 * kms_ttlv_writer_finish returns it.
 */
struct kms_ttlv_writer {
    uint8_t *buf; /* borrowed */
    size_t cap;
    size_t len;
    size_t open[KMS_TTLV_WRITER_DEPTH]; /* offsets of the headers of the open structures */
    unsigned depth;
    enum core_err err;
};

void kms_ttlv_writer_init(struct kms_ttlv_writer *w, uint8_t *buf, size_t cap);

/* Opens a structure; its length is written by the matching kms_ttlv_end. */
void kms_ttlv_begin(struct kms_ttlv_writer *w, uint32_t tag);
void kms_ttlv_end(struct kms_ttlv_writer *w);

void kms_ttlv_put_integer(struct kms_ttlv_writer *w, uint32_t tag, int32_t value);
void kms_ttlv_put_enum(struct kms_ttlv_writer *w, uint32_t tag, uint32_t value);
void kms_ttlv_put_long(struct kms_ttlv_writer *w, uint32_t tag, int64_t value);
void kms_ttlv_put_bool(struct kms_ttlv_writer *w, uint32_t tag, bool value);
void kms_ttlv_put_text(struct kms_ttlv_writer *w, uint32_t tag, const char *text, size_t len);
void kms_ttlv_put_bytes(struct kms_ttlv_writer *w, uint32_t tag, const uint8_t *bytes, size_t len);

/*
 * Writes the message length to *len. Returns CORE_TOO_LARGE when the buffer was too small or the
 * structures were nested deeper than KMS_TTLV_WRITER_DEPTH, and CORE_INTERNAL when a structure is still
 * open or kms_ttlv_end had no structure to close.
 */
enum core_err kms_ttlv_writer_finish(const struct kms_ttlv_writer *w, size_t *len) CORE_WARN_UNUSED;

/* One decoded item. value points into the message that was read and len excludes the padding. */
struct kms_ttlv_item {
    uint32_t tag;
    uint8_t type;
    uint32_t len;
    const uint8_t *value; /* borrowed */
};

/*
 * Reads the item at buf[*pos] and moves *pos past it and its padding. Returns CORE_KMS when the header or
 * the padded value does not fit in len bytes, the type is unknown, a fixed-size type has another length,
 * a Boolean is not 0 or 1, a Big Integer or Structure length is not a multiple of 8, or a padding byte is
 * not zero. Never reads outside buf[0..len).
 */
enum core_err kms_ttlv_read(const uint8_t *buf, size_t len, size_t *pos, struct kms_ttlv_item *item)
    CORE_WARN_UNUSED;

/*
 * Checks a whole message: exactly one item that fills len bytes, every structure filled exactly by its
 * items, and at most max_depth structures nested inside each other (the outermost counts as 1). Writes
 * the outermost item to *root. Returns CORE_KMS on any violation.
 */
enum core_err kms_ttlv_parse(const uint8_t *buf, size_t len, unsigned max_depth, struct kms_ttlv_item *root)
    CORE_WARN_UNUSED;

/*
 * Finds the first item with tag directly inside the structure parent, which kms_ttlv_parse has checked.
 * Returns CORE_KMS when parent is not a structure or holds no such item.
 */
enum core_err kms_ttlv_find(const struct kms_ttlv_item *parent, uint32_t tag, struct kms_ttlv_item *out)
    CORE_WARN_UNUSED;

/* Counts the items with tag directly inside the checked structure parent. */
size_t kms_ttlv_count(const struct kms_ttlv_item *parent, uint32_t tag);

/* Read the value of an item of the named type; CORE_KMS when the item has another type. */
enum core_err kms_ttlv_get_integer(const struct kms_ttlv_item *item, int32_t *out) CORE_WARN_UNUSED;
enum core_err kms_ttlv_get_enum(const struct kms_ttlv_item *item, uint32_t *out) CORE_WARN_UNUSED;
enum core_err kms_ttlv_get_long(const struct kms_ttlv_item *item, int64_t *out) CORE_WARN_UNUSED;
enum core_err kms_ttlv_get_bool(const struct kms_ttlv_item *item, bool *out) CORE_WARN_UNUSED;

#endif
