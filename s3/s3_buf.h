/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer with a fixed maximum size, used inside s3/ to build
 * error bodies and canonical requests. It is not part of the public s3 API.
 */
#ifndef S3_BUF_H
#define S3_BUF_H

#include <stddef.h>

#include "core/core_err.h"

struct s3_buf {
    char *data; /* owned, malloc'd; always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    size_t max; /* maximum len; an append past it fails with CORE_TOO_LARGE */
};

/* Prepares an empty buffer that may grow to max bytes. Allocates nothing. */
void s3_buf_init(struct s3_buf *b, size_t max);

/* Appends n bytes; returns CORE_TOO_LARGE past the maximum or CORE_NOMEM. */
enum core_err s3_buf_append(struct s3_buf *b, const void *p, size_t n) CORE_WARN_UNUSED;

/* Appends a NUL-terminated string, like s3_buf_append. */
enum core_err s3_buf_append_str(struct s3_buf *b, const char *s) CORE_WARN_UNUSED;

/* Appends one byte, like s3_buf_append. */
enum core_err s3_buf_append_char(struct s3_buf *b, char c) CORE_WARN_UNUSED;

/*
 * Moves the contents out: *out receives a malloc'd NUL-terminated string that
 * the caller frees with free(), and the buffer is left empty.
 */
enum core_err s3_buf_take(struct s3_buf *b, char **out, size_t *out_len) CORE_WARN_UNUSED;

/* Frees the contents; accepts a buffer that was only initialised. */
void s3_buf_cleanup(struct s3_buf *b);

#endif
