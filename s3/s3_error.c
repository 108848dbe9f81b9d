/* SPDX-License-Identifier: Apache-2.0 */
/* The S3 error table and the XML error body builder. */
#include "s3/s3_error.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "s3/s3_buf.h"

/* an error body carries at most a 1024-byte key, each byte escaped to at most 6 */
#define ERROR_XML_MAX (64 * 1024)

struct error_info {
    const char *name;
    int status;
    const char *message;
};

static const struct error_info error_table[S3_ERR_COUNT] = {
    [S3_ERR_NONE] = {"", 200, ""},
    [S3_ERR_ACCESS_DENIED] = {"AccessDenied", 403, "Access Denied"},
    [S3_ERR_SIGNATURE_DOES_NOT_MATCH] = {"SignatureDoesNotMatch", 403,
                                         "The signature computed from the request does not match the "
                                         "signature provided. Check the secret key and signing method."},
    [S3_ERR_INVALID_ACCESS_KEY_ID] = {"InvalidAccessKeyId", 403, "The access key ID provided is not known."},
    [S3_ERR_REQUEST_TIME_TOO_SKEWED] = {"RequestTimeTooSkewed", 403,
                                        "The request time differs from the server time by more than 15 "
                                        "minutes."},
    [S3_ERR_AUTHORIZATION_HEADER_MALFORMED] = {"AuthorizationHeaderMalformed", 400,
                                               "The Authorization header is invalid."},
    [S3_ERR_MISSING_SECURITY_HEADER] = {"MissingSecurityHeader", 400,
                                        "The request is missing a required security header."},
    [S3_ERR_INVALID_ARGUMENT] = {"InvalidArgument", 400, "An argument of the request is invalid."},
    [S3_ERR_INVALID_REQUEST] = {"InvalidRequest", 400, "The request is invalid."},
    [S3_ERR_INVALID_DIGEST] = {"InvalidDigest", 400, "The Content-MD5 header is invalid."},
    [S3_ERR_BAD_DIGEST] = {"BadDigest", 400, "The Content-MD5 header does not match the received body."},
    [S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH] = {"XAmzContentSHA256Mismatch", 400,
                                              "The x-amz-content-sha256 header does not match the SHA-256 "
                                              "of the received body."},
    [S3_ERR_MISSING_CONTENT_LENGTH] = {"MissingContentLength", 411,
                                       "The request requires a Content-Length header."},
    [S3_ERR_ENTITY_TOO_LARGE] = {"EntityTooLarge", 400, "The request body exceeds the maximum allowed size."},
    [S3_ERR_INCOMPLETE_BODY] = {"IncompleteBody", 400,
                                "The request body is shorter than its Content-Length header."},
    [S3_ERR_INVALID_RANGE] = {"InvalidRange", 416, "The requested range cannot be satisfied."},
    [S3_ERR_NOT_IMPLEMENTED] = {"NotImplemented", 501, "This request is not implemented by s3seal."},
    [S3_ERR_METHOD_NOT_ALLOWED] = {"MethodNotAllowed", 405,
                                   "The method is not allowed against this resource."},
    [S3_ERR_REQUEST_TIMEOUT] = {"RequestTimeout", 400,
                                "The request body was not received within the timeout."},
    [S3_ERR_INTERNAL_ERROR] = {"InternalError", 500, "An internal error occurred. Retry the request."},
    [S3_ERR_SERVICE_UNAVAILABLE] = {"ServiceUnavailable", 503,
                                    "The service is unavailable. Retry the request."},
    [S3_ERR_SLOW_DOWN] = {"SlowDown", 503, "The request rate is too high. Reduce the rate and retry."},
    [S3_ERR_UPSTREAM_UNAVAILABLE] = {"ServiceUnavailable", 502,
                                     "The storage backend is unreachable or sent an invalid response. "
                                     "Retry the request."},
    [S3_ERR_KMS] = {"ServiceUnavailable", 503,
                    "The key management service is unavailable. Retry the request."},
    [S3_ERR_KMS_DENIED] = {"AccessDenied", 403,
                           "The key management service denied access to the object's key."},
    [S3_ERR_MALFORMED_XML] = {"MalformedXML", 400,
                              "The XML in the request body is not well-formed or "
                              "does not match the schema."},
    [S3_ERR_BAD_REQUEST] = {"BadRequest", 400, "The HTTP request is malformed."},
    [S3_ERR_PRECONDITION_FAILED] = {"PreconditionFailed", 412,
                                    "A precondition given in the request headers does not hold."},
    [S3_ERR_METADATA_TOO_LARGE] = {"MetadataTooLarge", 400,
                                   "The metadata headers exceed the maximum allowed size."},
    [S3_ERR_OBJECT_INTEGRITY] = {"InternalError", 500,
                                 "The stored object failed its integrity check and cannot be returned."},
    [S3_ERR_KEY_TOO_LONG] = {"KeyTooLong", 400, "The object key is longer than 1024 bytes."},
    [S3_ERR_INVALID_URI] = {"InvalidURI", 400, "The request URI cannot be parsed."},
    [S3_ERR_INVALID_BUCKET_NAME] = {"InvalidBucketName", 400, "The bucket name is invalid."},
    [S3_ERR_AUTHORIZATION_QUERY_PARAMETERS_ERROR] = {"AuthorizationQueryParametersError", 400,
                                                     "The authentication parameters of the presigned URL "
                                                     "are invalid."},
    [S3_ERR_NO_SUCH_UPLOAD] = {"NoSuchUpload", 404,
                               "The upload does not exist; it may have been completed or aborted."},
    [S3_ERR_INVALID_PART] = {"InvalidPart", 400, "One or more of the listed parts could not be used."},
    [S3_ERR_INVALID_PART_ORDER] = {"InvalidPartOrder", 400, "The list of parts is not in ascending order."},
    [S3_ERR_NO_SUCH_KEY] = {"NoSuchKey", 404, "The object does not exist."},
    [S3_ERR_INVALID_PART_NUMBER] = {"InvalidPartNumber", 416, "The requested part number is not satisfiable."},
    [S3_ERR_REQUEST_HEADER_SECTION_TOO_LARGE] = {"RequestHeaderSectionTooLarge", 400,
                                                 "The request line and headers exceed the maximum allowed size."},
};

static bool is_known_code(enum s3_error_code code)
{
    return (int)code >= 0 && (int)code < (int)S3_ERR_COUNT;
}

static const struct error_info *error_lookup(enum s3_error_code code)
{
    if (!is_known_code(code)) {
        return &error_table[S3_ERR_INTERNAL_ERROR];
    }
    return &error_table[code];
}

int s3_error_status(enum s3_error_code code)
{
    return error_lookup(code)->status;
}

const char *s3_error_name(enum s3_error_code code)
{
    return error_lookup(code)->name;
}

const char *s3_error_message(enum s3_error_code code)
{
    return error_lookup(code)->message;
}

/*
 * Returns the length of the UTF-8 sequence at s that XML 1.0 accepts as a
 * character, or 0 if it is invalid UTF-8, a surrogate, U+FFFE or U+FFFF.
 */
static size_t xml_char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    if (len == 3 && c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE) {
        return 0;
    }
    return len;
}

static const char *escape_ascii(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&apos;";
    case '\r':
        /* a literal CR would be normalised to LF by the client's parser */
        return "&#13;";
    case '\t':
    case '\n':
        return NULL;
    default:
        /* XML 1.0 has no way to carry other C0 controls, not even as references */
        return c < 0x20 ? "\xEF\xBF\xBD" : NULL;
    }
}

static enum core_err append_escaped(struct s3_buf *b, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    size_t i = 0;

    while (i < n) {
        size_t len = xml_char_len(s + i, n - i);
        const char *entity;

        if (len == 0) {
            CORE_TRY(s3_buf_append_str(b, "\xEF\xBF\xBD"));
            i++;
            continue;
        }
        entity = len == 1 ? escape_ascii(s[i]) : NULL;
        if (entity) {
            CORE_TRY(s3_buf_append_str(b, entity));
        } else {
            CORE_TRY(s3_buf_append(b, s + i, len));
        }
        i += len;
    }
    return CORE_OK;
}

static bool is_element_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || (name[0] >= '0' && name[0] <= '9')) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');

        if (!alnum) {
            return false;
        }
    }
    return true;
}

static enum core_err append_element(struct s3_buf *b, const char *name, const char *value)
{
    CORE_TRY(s3_buf_append_char(b, '<'));
    CORE_TRY(s3_buf_append_str(b, name));
    CORE_TRY(s3_buf_append_char(b, '>'));
    CORE_TRY(append_escaped(b, value));
    CORE_TRY(s3_buf_append_str(b, "</"));
    CORE_TRY(s3_buf_append_str(b, name));
    return s3_buf_append_char(b, '>');
}

static enum core_err append_body(struct s3_buf *b, enum s3_error_code code, const char *message,
                                 const char *resource, const char *request_id,
                                 const struct s3_error_extra *extra, size_t extra_count)
{
    CORE_TRY(s3_buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"));
    CORE_TRY(append_element(b, "Code", s3_error_name(code)));
    CORE_TRY(append_element(b, "Message", message ? message : s3_error_message(code)));
    if (resource) {
        CORE_TRY(append_element(b, "Resource", resource));
    }
    if (request_id) {
        CORE_TRY(append_element(b, "RequestId", request_id));
    }
    for (size_t i = 0; i < extra_count; i++) {
        CORE_TRY(append_element(b, extra[i].name, extra[i].value ? extra[i].value : ""));
    }
    return s3_buf_append_str(b, "</Error>");
}

enum core_err s3_error_xml(enum s3_error_code code, const char *message, const char *resource,
                           const char *request_id, const struct s3_error_extra *extra, size_t extra_count,
                           char **out, size_t *out_len)
{
    enum core_err err = CORE_OK;
    struct s3_buf b;

    *out = NULL;
    *out_len = 0;
    s3_buf_init(&b, ERROR_XML_MAX);

    if (!is_known_code(code) || code == S3_ERR_NONE) {
        err = CORE_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < extra_count; i++) {
        if (!is_element_name(extra[i].name)) {
            err = CORE_INTERNAL;
            goto out;
        }
    }

    err = append_body(&b, code, message, resource, request_id, extra, extra_count);
    if (err != CORE_OK) {
        goto out;
    }
    err = s3_buf_take(&b, out, out_len);

out:
    s3_buf_cleanup(&b);
    return err;
}
