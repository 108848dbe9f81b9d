/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A borrowed view of one HTTP request as the s3 module needs it: method,
 * raw request-target and header fields. proxy/ fills it from its parser; s3/
 * never owns or copies the bytes.
 */
#ifndef S3_REQUEST_H
#define S3_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

/* One header field; borrowed views, not NUL-terminated, names in any case. */
struct s3_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct s3_request {
    const char *method; /* borrowed, NUL-terminated, e.g. "GET" */
    const char *target; /* borrowed raw request-target as received: path[?query] */
    size_t target_len;
    const struct s3_header *headers; /* borrowed array in the order received */
    size_t header_count;
};

/*
 * Returns the first header whose name equals lower_name ignoring case, or
 * NULL if there is none. lower_name must be lower case and NUL-terminated.
 */
const struct s3_header *s3_request_find_header(const struct s3_request *req, const char *lower_name);

/* Sets *path and *len to the part of the target before the first '?'. */
void s3_request_path(const struct s3_request *req, const char **path, size_t *len);

/*
 * Sets *query and *len to the part of the target after the first '?'.
 * Returns false, with an empty query, when the target has no '?'.
 */
bool s3_request_query(const struct s3_request *req, const char **query, size_t *len);

#endif
