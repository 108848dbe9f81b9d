/* SPDX-License-Identifier: Apache-2.0 */
/* Header lookup and request-target splitting over a borrowed request view. */
#include "s3/s3_request.h"

#include <string.h>
#include <strings.h>

const struct s3_header *s3_request_find_header(const struct s3_request *req, const char *lower_name)
{
    size_t name_len = strlen(lower_name);

    for (size_t i = 0; i < req->header_count; i++) {
        const struct s3_header *h = &req->headers[i];

        if (h->name_len == name_len && strncasecmp(h->name, lower_name, name_len) == 0) {
            return h;
        }
    }
    return NULL;
}

static size_t query_mark(const struct s3_request *req)
{
    const char *mark;

    if (req->target_len == 0) {
        return 0;
    }
    mark = memchr(req->target, '?', req->target_len);

    return mark ? (size_t)(mark - req->target) : req->target_len;
}

void s3_request_path(const struct s3_request *req, const char **path, size_t *len)
{
    *path = req->target;
    *len = query_mark(req);
}

bool s3_request_query(const struct s3_request *req, const char **query, size_t *len)
{
    size_t mark = query_mark(req);

    if (mark == req->target_len) {
        *query = req->target + req->target_len;
        *len = 0;
        return false;
    }
    *query = req->target + mark + 1;
    *len = req->target_len - mark - 1;
    return true;
}
