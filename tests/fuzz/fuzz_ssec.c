/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the SSE-C headers: s3_ssec_parse for the object's
 * and the copy source's set, and s3_ssec_is_header, which keeps them from
 * the backend. The input is header lines of "name:value". A rejected set
 * must leave no key behind, and an accepted one must echo the client's MD5.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3/s3_ssec.h"

#define MAX_HEADERS 16

static const char *const set_names[2][3] = {
    {"x-amz-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-key",
     "x-amz-server-side-encryption-customer-key-md5"},
    {"x-amz-copy-source-server-side-encryption-customer-algorithm",
     "x-amz-copy-source-server-side-encryption-customer-key",
     "x-amz-copy-source-server-side-encryption-customer-key-md5"},
};

/* Splits the input into header views on '\n' and the first ':'. Lines without a colon are skipped. */
static size_t split_headers(const char *text, size_t size, struct s3_header *headers)
{
    size_t count = 0;
    size_t off = 0;

    while (off < size && count < MAX_HEADERS) {
        const char *line = text + off;
        const char *end = memchr(line, '\n', size - off);
        size_t len = end != NULL ? (size_t)(end - line) : size - off;
        const char *colon = memchr(line, ':', len);

        if (colon != NULL) {
            headers[count++] =
                (struct s3_header){line, (size_t)(colon - line), colon + 1, len - (size_t)(colon - line) - 1};
        }
        off += len + 1;
    }
    return count;
}

static void check_set(const struct s3_request *req, enum s3_ssec_kind kind)
{
    static const struct s3_ssec zero;
    const char *const *names = set_names[kind == S3_SSEC_OBJECT ? 0 : 1];
    struct s3_ssec ssec;
    const char *message = NULL;
    const struct s3_header *md5;

    if (s3_ssec_parse(req, kind, &ssec, &message) != CORE_OK) {
        if (message == NULL || memcmp(&ssec, &zero, sizeof(ssec)) != 0) {
            abort();
        }
        return;
    }
    md5 = s3_request_find_header(req, names[2]);
    if (!ssec.present) {
        if (md5 != NULL || s3_request_find_header(req, names[0]) != NULL ||
            s3_request_find_header(req, names[1]) != NULL) {
            abort();
        }
        return;
    }
    if (md5 == NULL || strlen(ssec.key_md5) != md5->value_len ||
        memcmp(ssec.key_md5, md5->value, md5->value_len) != 0) {
        abort();
    }
    s3_ssec_wipe(&ssec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_header headers[MAX_HEADERS];
    struct s3_request req = {0};

    req.method = "PUT";
    req.target = "/bucket/key";
    req.target_len = strlen(req.target);
    req.headers = headers;
    req.header_count = split_headers((const char *)data, size, headers);

    check_set(&req, S3_SSEC_OBJECT);
    check_set(&req, S3_SSEC_COPY_SOURCE);

    for (size_t i = 0; i < req.header_count; i++) {
        bool is_ssec = s3_ssec_is_header(headers[i].name, headers[i].name_len);

        for (size_t set = 0; set < 2; set++) {
            for (size_t j = 0; j < 3; j++) {
                size_t len = strlen(set_names[set][j]);

                if (headers[i].name_len == len && strncasecmp(headers[i].name, set_names[set][j], len) == 0 &&
                    !is_ssec) {
                    abort();
                }
            }
        }
    }
    return 0;
}
