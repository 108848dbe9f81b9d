/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for proxy/proxy_head.c: the head storage that llhttp's callbacks
 * fill, driven by llhttp as proxy_conn.c drives it, with the input given in
 * pieces of a chosen size so that names and values arrive split.
 */
#include <stdio.h>
#include <string.h>

#include "proxy/proxy.h"
#include "../crypto/test_check.h"

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    return proxy_head_on_url(p->data, at, len);
}

static int on_field(llhttp_t *p, const char *at, size_t len)
{
    return proxy_head_on_field(p->data, at, len);
}

static int on_value(llhttp_t *p, const char *at, size_t len)
{
    return proxy_head_on_value(p->data, at, len);
}

static int on_headers_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

/* Parses a request head in pieces of `piece` bytes. Returns HPE_PAUSED when the head is complete. */
static llhttp_errno_t parse(const char *text, size_t piece, struct proxy_head *h)
{
    llhttp_settings_t settings;
    llhttp_t parser;
    size_t len = strlen(text);
    llhttp_errno_t err = HPE_OK;

    memset(h, 0, sizeof(*h));
    llhttp_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_header_field = on_field;
    settings.on_header_value = on_value;
    settings.on_headers_complete = on_headers_complete;
    llhttp_init(&parser, HTTP_REQUEST, &settings);
    parser.data = h;
    for (size_t off = 0; off < len && err == HPE_OK; off += piece) {
        err = llhttp_execute(&parser, text + off, len - off < piece ? len - off : piece);
    }
    if (err == HPE_PAUSED) {
        proxy_head_finish(h);
    }
    return err;
}

static bool header_equals(const struct proxy_head *h, const char *lower_name, const char *value)
{
    const struct s3_header *hd = proxy_head_find(h, lower_name);

    return hd != NULL && hd->value_len == strlen(value) && memcmp(hd->value, value, hd->value_len) == 0;
}

static void test_head_split_in_pieces(void)
{
    static const char text[] = "GET /bkt/a%20b?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-9\r\n"
                               "x-amz-meta-empty:\r\n\r\n";
    struct proxy_head h;

    for (size_t piece = 1; piece <= sizeof(text); piece++) {
        CHECK(parse(text, piece, &h) == HPE_PAUSED);
        CHECK(h.count == 3);
        CHECK(h.url_len == strlen("/bkt/a%20b?x=1") &&
              memcmp(h.data + h.url_off, "/bkt/a%20b?x=1", h.url_len) == 0);
        CHECK(header_equals(&h, "host", "127.0.0.1"));
        CHECK(header_equals(&h, "range", "bytes=0-9"));
        CHECK(header_equals(&h, "x-amz-meta-empty", ""));
        proxy_head_cleanup(&h);
    }
}

/* llhttp 8.1 accepts ":" as a field with an empty name, and the head storage rejects it. */
static void test_head_rejects_empty_field_name(void)
{
    static const char *const heads[] = {
        "PUT /bkt/k HTTP/1.1\r\nHost: a\r\n:\r\nExpect: 100-continue\r\n\r\n",
        "PUT /bkt/k HTTP/1.1\r\nHost: a\r\n: value\r\n\r\n",
        "GET / HTTP/1.1\r\n:\r\n\r\n",
    };
    struct proxy_head h;

    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        for (size_t piece = 1; piece <= strlen(heads[i]); piece += 7) {
            CHECK(parse(heads[i], piece, &h) == HPE_USER);
            proxy_head_cleanup(&h);
        }
    }
}

static void test_head_field_count_limit(void)
{
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof(text), "GET / HTTP/1.1\r\n");
    struct proxy_head h;

    for (int i = 0; i <= PROXY_HEADERS_MAX; i++) {
        len += (size_t)snprintf(text + len, sizeof(text) - len, "x-h%d: v\r\n", i);
    }
    snprintf(text + len, sizeof(text) - len, "\r\n");
    CHECK(parse(text, sizeof(text), &h) == HPE_USER);
    CHECK(h.too_many);
    proxy_head_cleanup(&h);
}

int main(void)
{
    RUN(test_head_split_in_pieces);
    RUN(test_head_rejects_empty_field_name);
    RUN(test_head_field_count_limit);
    return TEST_RESULT();
}
