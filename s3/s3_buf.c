/* SPDX-License-Identifier: Apache-2.0 */
/* Growable byte buffer with a maximum size, private to the s3 module. */
#include "s3/s3_buf.h"

#include <stdlib.h>
#include <string.h>

void s3_buf_init(struct s3_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static enum core_err reserve(struct s3_buf *b, size_t extra)
{
    size_t need;
    size_t cap;
    char *data;

    CORE_ENSURE(extra <= b->max && b->len <= b->max - extra, CORE_TOO_LARGE);
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return CORE_OK;
    }

    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    data = realloc(b->data, cap);
    CORE_ENSURE(data != NULL, CORE_NOMEM);
    b->data = data;
    b->cap = cap;
    return CORE_OK;
}

enum core_err s3_buf_append(struct s3_buf *b, const void *p, size_t n)
{
    CORE_TRY(reserve(b, n));
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return CORE_OK;
}

enum core_err s3_buf_append_str(struct s3_buf *b, const char *s)
{
    return s3_buf_append(b, s, strlen(s));
}

enum core_err s3_buf_append_char(struct s3_buf *b, char c)
{
    return s3_buf_append(b, &c, 1);
}

enum core_err s3_buf_take(struct s3_buf *b, char **out, size_t *out_len)
{
    /* an empty result is still a valid string the caller can free */
    CORE_TRY(reserve(b, 0));
    b->data[b->len] = '\0';
    *out = b->data;
    *out_len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return CORE_OK;
}

void s3_buf_cleanup(struct s3_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
