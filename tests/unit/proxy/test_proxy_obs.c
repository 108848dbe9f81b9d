/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for proxy/proxy_obs.c: the access log line. It has every documented field in a fixed order,
 * escapes bucket and key so a line always splits on spaces and '=', and carries nothing from the
 * request's headers or query string, so a signature or secret cannot reach it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"
#include "proxy/proxy_obs.h"
#include "../crypto/test_check.h"

static struct proxy_access_entry sample(void)
{
    struct proxy_access_entry e = {
        .start = {.tv_sec = 1780000000, .tv_nsec = 123456789},
        .request_id = "0123456789ABCDEF",
        .client = "127.0.0.1:51234",
        .op = "GetObject",
        .bucket = "photos",
        .key = "2026/cat.jpg",
        .key_len = 12,
        .status = 200,
        .bytes_in = 312,
        .bytes_out = 70000,
        .duration_us = 12345,
        .upstream_status = 200,
        .end = PROXY_END_DONE,
    };

    return e;
}

static void test_line_has_every_field(void)
{
    struct proxy_access_entry e = sample();
    char line[1024];
    size_t len = proxy_access_format(&e, line, sizeof(line));

    CHECK(len == strlen(line));
    CHECK(strcmp(line, "time=2026-05-28T20:26:40.123Z r=0123456789ABCDEF client=127.0.0.1:51234 op=GetObject "
                       "bucket=photos key=2026/cat.jpg status=200 bytes_in=312 bytes_out=70000 duration_ms=12.345 "
                       "upstream_status=200 end=done") == 0);
}

static void test_line_marks_missing_values(void)
{
    struct proxy_access_entry e = sample();
    char line[1024];

    e.bucket = NULL;
    e.key = NULL;
    e.key_len = 0;
    e.status = 0;
    e.upstream_status = 0;
    e.end = PROXY_END_CLIENT;
    proxy_access_format(&e, line, sizeof(line));
    CHECK(strstr(line, " bucket=- key=- status=- ") != NULL);
    CHECK(strstr(line, " upstream_status=- end=client") != NULL);
}

/* A key with spaces, '=', quotes, a newline, '%', a NUL byte and UTF-8 stays one parseable field. */
static void test_key_is_escaped(void)
{
    static const char key[] = "a b=c\"d\ne%f\0g\xc3\xa9?x=1";
    struct proxy_access_entry e = sample();
    char line[1024];

    e.key = key;
    e.key_len = sizeof(key) - 1;
    e.bucket = "b-1.x";
    proxy_access_format(&e, line, sizeof(line));
    CHECK(strstr(line, " bucket=b-1.x key=a%20b%3Dc%22d%0Ae%25f%00g%C3%A9%3Fx%3D1 status=200 ") != NULL);
    CHECK(strchr(line, '\n') == NULL);
    CHECK(strchr(line, '"') == NULL);
}

static void test_short_buffer_is_truncated(void)
{
    struct proxy_access_entry e = sample();
    char full[1024];
    char small[40];
    size_t len = proxy_access_format(&e, full, sizeof(full));

    memset(small, 'x', sizeof(small));
    CHECK(proxy_access_format(&e, small, sizeof(small)) == len);
    CHECK(small[sizeof(small) - 1] == '\0');
    CHECK(strncmp(small, full, sizeof(small) - 1) == 0);
}

static void test_end_names(void)
{
    CHECK(strcmp(proxy_access_end_name(PROXY_END_DONE), "done") == 0);
    CHECK(strcmp(proxy_access_end_name(PROXY_END_CLIENT), "client") == 0);
    CHECK(strcmp(proxy_access_end_name(PROXY_END_BACKEND), "backend") == 0);
    CHECK(strcmp(proxy_access_end_name(PROXY_END_S3SEAL), "s3seal") == 0);
}

/*
 * A presigned request: the signature, credential and security token are in the query string and an
 * Authorization header is present too. The line is built from the parsed target only, so none of them
 * appears in it.
 */
static void test_line_carries_no_secret(void)
{
    static const char target[] =
        "/photos/cat.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDSECRET%2F20260501%2Fus-east-1%2Fs3"
        "%2Faws4_request&X-Amz-Signature=deadbeefcafe0123&X-Amz-Security-Token=tokenvalue";
    static const char authorization[] = "AWS4-HMAC-SHA256 Credential=AKIDSECRET/20260501/us-east-1/s3/aws4_request, "
                                        "SignedHeaders=host, Signature=feedface4567";
    char bucket[] = "photos";
    char key[] = "cat.jpg";
    struct proxy_request *req = calloc(1, sizeof(*req));
    struct proxy_conn *conn = calloc(1, sizeof(*conn));
    struct proxy_access_entry e;
    char line[1024];

    /* the request as the parser leaves it: the raw target and headers, and the decoded target */
    req->conn = conn;
    snprintf(conn->peer, sizeof(conn->peer), "127.0.0.1:40000");
    conn->obs.bytes_in = 900;
    conn->obs.bytes_out = 1500;
    req->obs.conn_in_start = 400;
    req->obs.conn_out_start = 500;
    req->obs.status = 200;
    req->obs.upstream_status = 200;
    snprintf(req->id, sizeof(req->id), "AAAABBBBCCCCDDDD");
    req->head.views[0].name = "authorization";
    req->head.views[0].name_len = strlen("authorization");
    req->head.views[0].value = authorization;
    req->head.views[0].value_len = strlen(authorization);
    req->head.count = 1;
    req->s3.target = target;
    req->s3.target_len = strlen(target);
    req->s3.headers = req->head.views;
    req->s3.header_count = 1;
    req->target.op = S3_OP_GET_OBJECT;
    req->target.bucket = bucket;
    req->target.key = key;
    req->target.key_len = strlen(key);
    req->target.has_query = true;

    proxy_obs_access_entry(req, 2500, &e);
    proxy_access_format(&e, line, sizeof(line));
    CHECK(strstr(line, " r=AAAABBBBCCCCDDDD client=127.0.0.1:40000 op=GetObject bucket=photos key=cat.jpg ") !=
          NULL);
    CHECK(strstr(line, " bytes_in=500 bytes_out=1000 duration_ms=2.500 ") != NULL);
    CHECK(strstr(line, "deadbeefcafe0123") == NULL);
    CHECK(strstr(line, "feedface4567") == NULL);
    CHECK(strstr(line, "AKIDSECRET") == NULL);
    CHECK(strstr(line, "tokenvalue") == NULL);
    CHECK(strstr(line, "X-Amz") == NULL);
    CHECK(strchr(line, '?') == NULL);
    free(req);
    free(conn);
}

int main(void)
{
    RUN(test_line_has_every_field);
    RUN(test_line_marks_missing_values);
    RUN(test_key_is_escaped);
    RUN(test_short_buffer_is_truncated);
    RUN(test_end_names);
    RUN(test_line_carries_no_secret);
    return TEST_RESULT();
}
