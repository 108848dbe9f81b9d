/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing and resolution of single byte ranges. */
#include "s3/s3_range.h"

#include <string.h>
#include <strings.h>

/*
 * Reads decimal digits into *out; returns the count read. A number above
 * UINT64_MAX saturates, because such a position is still a valid range that
 * lies past the end of every object.
 */
static size_t read_number(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    while (i < len && s[i] >= '0' && s[i] <= '9') {
        uint64_t digit = (uint64_t)(s[i] - '0');

        v = v > (UINT64_MAX - digit) / 10 ? UINT64_MAX : v * 10 + digit;
        i++;
    }
    *out = v;
    return i;
}

void s3_range_parse(const char *value, size_t len, struct s3_range *out)
{
    static const char unit[] = "bytes=";
    size_t pos = sizeof(unit) - 1;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (len < pos || strncasecmp(value, unit, pos) != 0) {
        return;
    }

    if (pos < len && value[pos] == '-') {
        n = read_number(value + pos + 1, len - pos - 1, &out->suffix);
        if (n > 0 && pos + 1 + n == len) {
            out->kind = S3_RANGE_SUFFIX;
        }
        return;
    }

    n = read_number(value + pos, len - pos, &out->first);
    if (n == 0 || pos + n >= len || value[pos + n] != '-') {
        return;
    }
    pos += n + 1;
    if (pos == len) {
        out->kind = S3_RANGE_FROM;
        return;
    }
    n = read_number(value + pos, len - pos, &out->last);
    if (n > 0 && pos + n == len && out->last >= out->first) {
        out->kind = S3_RANGE_FROM_TO;
    }
}

bool s3_range_resolve(const struct s3_range *range, uint64_t size, uint64_t *first, uint64_t *last)
{
    switch (range->kind) {
    case S3_RANGE_FROM_TO:
    case S3_RANGE_FROM:
        if (range->first >= size) {
            return false;
        }
        *first = range->first;
        *last = range->kind == S3_RANGE_FROM || range->last >= size ? size - 1 : range->last;
        return true;
    case S3_RANGE_SUFFIX:
        if (range->suffix == 0 || size == 0) {
            return false;
        }
        *first = range->suffix >= size ? 0 : size - range->suffix;
        *last = size - 1;
        return true;
    default:
        if (size == 0) {
            return false;
        }
        *first = 0;
        *last = size - 1;
        return true;
    }
}
