/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for SigV4 verification and the canonical path and query
 * builders. The input is split on NUL bytes into method, request-target and
 * header lines ("name:value"), so the fuzzer controls every field that a
 * client controls, including presigned URL parameters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_op.h"
#include "s3/s3_sigv4.h"
#include "s3/s3_uri.h"

#define MAX_HEADERS 16

static const struct s3_credential credential = {"AKIAIOSFODNN7EXAMPLE",
                                                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};

static const struct s3_credential *lookup(void *arg, const char *access_key_id)
{
    (void)arg;
    return strcmp(access_key_id, credential.access_key_id) == 0 ? &credential : NULL;
}

/* Returns the length of the next field, up to a NUL byte or the end. */
static size_t field_length(const uint8_t *p, size_t size)
{
    const uint8_t *nul = memchr(p, '\0', size);

    return nul ? (size_t)(nul - p) : size;
}

static void fuzz_canonical(const char *target, size_t len)
{
    const char *mark = memchr(target, '?', len);
    size_t path_len = mark ? (size_t)(mark - target) : len;
    size_t query_len = mark ? len - path_len - 1 : 0;
    size_t cap = 3 * len + 2;
    char *out = malloc(cap);
    size_t n;

    if (out == NULL) {
        return;
    }
    if (s3_uri_canonical_path(target, path_len, out, cap, &n) == CORE_OK && n >= cap) {
        abort();
    }
    if (mark && s3_uri_canonical_query(mark + 1, query_len, true, out, cap, &n) == CORE_OK && n >= cap) {
        abort();
    }
    if (mark && s3_uri_canonical_query(mark + 1, query_len, false, out, cap, &n) == CORE_OK && n >= cap) {
        abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* one copy, so every field can be NUL-terminated in place */
    char *copy = malloc(size + 1);
    struct s3_header headers[MAX_HEADERS];
    struct s3_request req = {0};
    struct s3_auth auth;
    struct s3_target target;
    static const char *const domains[] = {"s3.example.com"};
    size_t off = 0;
    size_t len;

    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';

    len = field_length((const uint8_t *)copy, size);
    req.method = copy;
    off = len + 1;
    if (off > size) {
        free(copy);
        return 0;
    }
    len = field_length((const uint8_t *)copy + off, size - off);
    req.target = copy + off;
    req.target_len = len;
    off += len + 1;
    while (off < size && req.header_count < MAX_HEADERS) {
        const char *line = copy + off;
        const char *colon;

        len = field_length((const uint8_t *)line, size - off);
        colon = memchr(line, ':', len);
        if (colon != NULL) {
            headers[req.header_count++] =
                (struct s3_header){line, (size_t)(colon - line), colon + 1, len - (size_t)(colon - line) - 1};
        }
        off += len + 1;
    }
    req.headers = headers;

    fuzz_canonical(req.target, req.target_len);
    (void)s3_sigv4_verify(&req, lookup, NULL, 1369353600, &auth);
    s3_auth_cleanup(&auth);
    (void)s3_op_classify_host(&req, domains, 1, &target);
    s3_target_cleanup(&target);
    free(copy);
    return 0;
}
