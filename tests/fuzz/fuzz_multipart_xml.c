/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the multipart parsers of s3/s3_multipart.h. Every
 * input goes through each of them: the client's CompleteMultipartUpload body
 * (parse and checksum removal), the backend's ListParts,
 * InitiateMultipartUpload, CompleteMultipartUploadResult, Error,
 * CopyObjectResult and CopyPartResult bodies, and the upload id decoder
 * for an upload id sent in a query string. Results are checked against the
 * contracts in the header, and a decoded upload id must encode back to the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "s3/s3_multipart.h"

static void check_string(const char *out, size_t out_len)
{
    if (out == NULL || strlen(out) != out_len) {
        abort();
    }
}

/*
 * A filled body is serialised by libxml2, so it has no NUL inside. Any other
 * body is passed on as an unchanged copy, which may contain a NUL the
 * backend sent.
 */
static void check_filled(const char *xml, size_t len, const char *out, size_t out_len)
{
    if (out == NULL || out[out_len] != '\0') {
        abort();
    }
    if (strlen(out) != out_len && (out_len != len || memcmp(out, xml, len) != 0)) {
        abort();
    }
}

static void check_parts(const struct s3_complete_parts *parts)
{
    if (parts->count == 0 || parts->count > S3_MULTIPART_MAX_PARTS) {
        abort();
    }
    for (size_t i = 0; i < parts->count; i++) {
        size_t etag_len = strnlen(parts->etags[i], S3_MULTIPART_ETAG_MAX);

        if (parts->numbers[i] < 1 || parts->numbers[i] > S3_MULTIPART_MAX_PARTS ||
            (i > 0 && parts->numbers[i] <= parts->numbers[i - 1]) || etag_len == 0 ||
            etag_len >= S3_MULTIPART_ETAG_MAX) {
            abort();
        }
    }
}

/* The rewritten body goes to the backend, so it must parse again to the same parts. */
static void fuzz_complete(const char *xml, size_t len)
{
    struct s3_complete_parts parts;
    struct s3_complete_parts again;
    char *out = NULL;
    char *out2 = NULL;
    size_t out_len = 0;
    size_t out2_len = 0;

    if (s3_multipart_rewrite_complete(xml, len, &out, &out_len, &parts) != CORE_OK) {
        if (parts.count != 0 || parts.numbers != NULL) {
            abort();
        }
        return;
    }
    check_string(out, out_len);
    check_parts(&parts);
    if (s3_multipart_rewrite_complete(out, out_len, &out2, &out2_len, &again) != CORE_OK ||
        again.count != parts.count) {
        abort();
    }
    for (size_t i = 0; i < parts.count; i++) {
        if (again.numbers[i] != parts.numbers[i] || strcmp(again.etags[i], parts.etags[i]) != 0) {
            abort();
        }
    }
    free(out2);
    s3_complete_parts_cleanup(&again);
    free(out);
    s3_complete_parts_cleanup(&parts);
}

static void fuzz_backend_bodies(const char *xml, size_t len)
{
    struct s3_listed_part *listed = NULL;
    size_t count = 0;
    bool truncated = false;
    char text[S3_UPLOAD_ID_MAX + 1];
    char *out = NULL;
    size_t out_len = 0;

    if (s3_multipart_parse_list_parts(xml, len, &listed, &count, &truncated) == CORE_OK && count > 0 &&
        listed == NULL) {
        abort();
    }
    free(listed);

    if (s3_multipart_parse_initiate(xml, len, text, sizeof(text)) == CORE_OK && text[0] == '\0') {
        abort();
    }
    if (s3_multipart_replace_upload_id(xml, len, "s3s1.new.id", &out, &out_len) == CORE_OK) {
        check_string(out, out_len);
        if (strstr(out, "s3s1.new.id") == NULL) {
            abort();
        }
    }
    free(out);
    out = NULL;
    if (s3_multipart_fill_complete_etag(xml, len, "\"etag-2\"", &out, &out_len) == CORE_OK) {
        check_filled(xml, len, out, out_len);
    }
    free(out);

    if (s3_multipart_parse_error_code(xml, len, text, 64) == CORE_OK &&
        (text[0] == '\0' || strlen(text) >= 64)) {
        abort();
    }
    if (s3_multipart_parse_copy_object_etag(xml, len, text, S3_MULTIPART_ETAG_MAX) == CORE_OK &&
        strlen(text) >= S3_MULTIPART_ETAG_MAX) {
        abort();
    }
    if (s3_multipart_parse_copy_part_etag(xml, len, text, S3_MULTIPART_ETAG_MAX) == CORE_OK &&
        strlen(text) >= S3_MULTIPART_ETAG_MAX) {
        abort();
    }
}

/* proxy_upload.c decodes the uploadId of a client's request; a decoded id is canonical, so it encodes back. */
static void fuzz_upload_id(const char *id, size_t len)
{
    char backend_id[S3_UPLOAD_ID_MAX + 1];
    char kms_id[256];
    uint8_t wrapped[1024];
    size_t wrapped_len = 0;
    char encoded[S3_UPLOAD_ID_MAX + 1];

    if (s3_upload_id_decode(id, len, backend_id, sizeof(backend_id), kms_id, sizeof(kms_id), wrapped,
                            sizeof(wrapped), &wrapped_len) != CORE_OK) {
        return;
    }
    if (s3_upload_id_encode(backend_id, kms_id, wrapped, wrapped_len, encoded, sizeof(encoded)) != CORE_OK ||
        strlen(encoded) != len || memcmp(encoded, id, len) != 0) {
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_complete((const char *)data, size);
    fuzz_backend_bodies((const char *)data, size);
    fuzz_upload_id((const char *)data, size);
    return 0;
}
