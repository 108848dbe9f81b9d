/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collects the head of an HTTP message from llhttp's callbacks, which may
 * deliver a name or value in several pieces, into one bounded buffer.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/proxy.h"

void proxy_head_reset(struct proxy_head *h)
{
    char *data = h->data;
    size_t cap = h->cap;
    size_t max_len = h->max_len;
    size_t max_count = h->max_count;
    size_t max_url = h->max_url;

    memset(h, 0, sizeof(*h));
    h->data = data;
    h->cap = cap;
    h->max_len = max_len;
    h->max_count = max_count;
    h->max_url = max_url;
}

void proxy_head_set_limits(struct proxy_head *h, size_t max_len, size_t max_count, size_t max_url)
{
    h->max_len = max_len < PROXY_HEAD_MAX ? max_len : PROXY_HEAD_MAX;
    h->max_count = max_count < PROXY_HEADERS_MAX ? max_count : PROXY_HEADERS_MAX;
    h->max_url = max_url;
}

bool proxy_head_over_limit(const struct proxy_head *h)
{
    return h->too_large || h->too_many || h->url_too_long;
}

void proxy_head_cleanup(struct proxy_head *h)
{
    free(h->data);
    memset(h, 0, sizeof(*h));
}

static int append(struct proxy_head *h, const char *at, size_t len)
{
    size_t max_len = h->max_len != 0 ? h->max_len : PROXY_HEAD_MAX;

    if (h->len + len > max_len) {
        h->too_large = true;
        return -1;
    }
    if (h->len + len + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 4096;
        char *grown;

        while (cap < h->len + len + 1) {
            cap *= 2;
        }
        grown = realloc(h->data, cap);
        if (grown == NULL) {
            return -1;
        }
        h->data = grown;
        h->cap = cap;
    }
    memcpy(h->data + h->len, at, len);
    h->len += len;
    return 0;
}

int proxy_head_on_url(struct proxy_head *h, const char *at, size_t len)
{
    if (h->url_len == 0) {
        h->url_off = h->len;
    }
    h->url_len += len;
    if (h->max_url != 0 && h->url_len > h->max_url) {
        h->url_too_long = true;
        return -1;
    }
    return append(h, at, len);
}

int proxy_head_on_field(struct proxy_head *h, const char *at, size_t len)
{
    /* a field name after a value starts the next header */
    if (h->in_value || h->count == 0) {
        size_t max_count = h->max_count != 0 ? h->max_count : PROXY_HEADERS_MAX;

        if (h->count == max_count) {
            h->too_many = true;
            return -1;
        }
        h->count++;
        h->name_off[h->count - 1] = h->len;
        h->name_len[h->count - 1] = 0;
        h->value_off[h->count - 1] = h->len;
        h->value_len[h->count - 1] = 0;
        h->in_value = false;
    }
    h->name_len[h->count - 1] += len;
    return append(h, at, len);
}

int proxy_head_on_value(struct proxy_head *h, const char *at, size_t len)
{
    /*
     * RFC 9110 section 5.1: a field name is a token of at least one
     * character. llhttp 8.1 accepts a line such as ":" as a field with an
     * empty name, which s3seal would otherwise forward to the backend.
     */
    if (h->count == 0 || h->name_len[h->count - 1] == 0) {
        return -1;
    }
    if (!h->in_value) {
        h->in_value = true;
        h->value_off[h->count - 1] = h->len;
    }
    h->value_len[h->count - 1] += len;
    return append(h, at, len);
}

void proxy_head_finish(struct proxy_head *h)
{
    for (size_t i = 0; i < h->count; i++) {
        h->views[i].name = h->data + h->name_off[i];
        h->views[i].name_len = h->name_len[i];
        h->views[i].value = h->data + h->value_off[i];
        h->views[i].value_len = h->value_len[i];
    }
}

bool proxy_header_is(const struct s3_header *hd, const char *lower_name)
{
    size_t len = strlen(lower_name);

    return hd->name_len == len && strncasecmp(hd->name, lower_name, len) == 0;
}

bool proxy_header_has_prefix(const struct s3_header *hd, const char *lower_prefix)
{
    size_t len = strlen(lower_prefix);

    return hd->name_len >= len && strncasecmp(hd->name, lower_prefix, len) == 0;
}

const struct s3_header *proxy_head_find(const struct proxy_head *h, const char *lower_name)
{
    for (size_t i = 0; i < h->count; i++) {
        if (proxy_header_is(&h->views[i], lower_name)) {
            return &h->views[i];
        }
    }
    return NULL;
}
