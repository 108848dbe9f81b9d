/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Range request header of GetObject and HeadObject (RFC 9110 section
 * 14.1.2), limited to what S3 supports: one byte range per request.
 */
#ifndef S3_RANGE_H
#define S3_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

enum s3_range_kind {
    S3_RANGE_NONE = 0, /* no usable range: S3 then returns the whole object */
    S3_RANGE_FROM_TO,  /* bytes=first-last */
    S3_RANGE_FROM,     /* bytes=first- */
    S3_RANGE_SUFFIX,   /* bytes=-suffix: the last suffix bytes */
};

struct s3_range {
    enum s3_range_kind kind;
    uint64_t first;
    uint64_t last;
    uint64_t suffix;
};

/*
 * Parses a Range header value. A value S3 ignores (another unit, several
 * ranges, a first position after the last, a syntax error) gives kind
 * S3_RANGE_NONE, because S3 returns the whole object for such requests.
 */
void s3_range_parse(const char *value, size_t len, struct s3_range *out);

/*
 * Resolves a range against an object of `size` bytes into the inclusive
 * positions *first..*last, clamping an end past the object. Returns false
 * when the range is unsatisfiable (S3 returns 416 InvalidRange), which
 * includes every range on an empty object and a zero-length suffix.
 */
bool s3_range_resolve(const struct s3_range *range, uint64_t size, uint64_t *first, uint64_t *last);

#endif
