/* SPDX-License-Identifier: Apache-2.0 */
/*
 * S3 error codes as clients see them: the code string, the HTTP status and
 * the XML error body. proxy/ picks a code at the request boundary and uses
 * s3_error_xml to write the response.
 */
#ifndef S3_ERROR_H
#define S3_ERROR_H

#include <stddef.h>

#include "core/core_err.h"

/*
 * Codes and statuses follow the Amazon S3 API Reference, "Error responses",
 * list of error codes. The default messages are our own wording.
 */
enum s3_error_code {
    S3_ERR_NONE = 0,                       /* no error; status 200 */
    S3_ERR_ACCESS_DENIED,                  /* 403 AccessDenied */
    S3_ERR_SIGNATURE_DOES_NOT_MATCH,       /* 403 SignatureDoesNotMatch */
    S3_ERR_INVALID_ACCESS_KEY_ID,          /* 403 InvalidAccessKeyId */
    S3_ERR_REQUEST_TIME_TOO_SKEWED,        /* 403 RequestTimeTooSkewed */
    S3_ERR_AUTHORIZATION_HEADER_MALFORMED, /* 400 AuthorizationHeaderMalformed */
    S3_ERR_MISSING_SECURITY_HEADER,        /* 400 MissingSecurityHeader */
    S3_ERR_INVALID_ARGUMENT,               /* 400 InvalidArgument */
    S3_ERR_INVALID_REQUEST,                /* 400 InvalidRequest */
    S3_ERR_INVALID_DIGEST,                 /* 400 InvalidDigest */
    S3_ERR_BAD_DIGEST,                     /* 400 BadDigest */
    S3_ERR_X_AMZ_CONTENT_SHA256_MISMATCH,  /* 400 XAmzContentSHA256Mismatch */
    S3_ERR_MISSING_CONTENT_LENGTH,         /* 411 MissingContentLength */
    S3_ERR_ENTITY_TOO_LARGE,               /* 400 EntityTooLarge */
    S3_ERR_INCOMPLETE_BODY,                /* 400 IncompleteBody */
    S3_ERR_INVALID_RANGE,                  /* 416 InvalidRange */
    S3_ERR_NOT_IMPLEMENTED,                /* 501 NotImplemented */
    S3_ERR_METHOD_NOT_ALLOWED,             /* 405 MethodNotAllowed */
    S3_ERR_REQUEST_TIMEOUT,                /* 400 RequestTimeout, as S3 sends it for a stalled upload */
    S3_ERR_INTERNAL_ERROR,                 /* 500 InternalError */
    S3_ERR_SERVICE_UNAVAILABLE,            /* 503 ServiceUnavailable */
    S3_ERR_SLOW_DOWN,                      /* 503 SlowDown */
    /*
     * The backend is unreachable or sent an invalid response. S3 has no
     * gateway error code, so this is 502 with code ServiceUnavailable. The
     * status shows operators that the fault is behind s3seal, and boto3
     * retries 502 by status (boto3 user guide, "Retries").
     */
    S3_ERR_UPSTREAM_UNAVAILABLE,
    /*
     * The key management service failed or timed out: 503 with the
     * documented code ServiceUnavailable and a message that names key
     * management, so clients retry it like any other 503.
     */
    S3_ERR_KMS,
    S3_ERR_KMS_DENIED, /* 403 AccessDenied: the KMS refused s3seal's credentials for the key */
    S3_ERR_MALFORMED_XML, /* 400 MalformedXML */
    /*
     * 400 BadRequest for an HTTP message that cannot be parsed. S3's list of
     * error codes has no such code, because S3 rejects such messages before
     * its XML layer. SDKs treat any 400 as a client error.
     */
    S3_ERR_BAD_REQUEST,
    S3_ERR_PRECONDITION_FAILED, /* 412 PreconditionFailed */
    S3_ERR_METADATA_TOO_LARGE,  /* 400 MetadataTooLarge */
    /* stored ciphertext failed authentication: 500 InternalError, never detail */
    S3_ERR_OBJECT_INTEGRITY,
    S3_ERR_KEY_TOO_LONG,        /* 400 KeyTooLong */
    S3_ERR_INVALID_URI,         /* 400 InvalidURI */
    S3_ERR_INVALID_BUCKET_NAME, /* 400 InvalidBucketName */
    /* 400 AuthorizationQueryParametersError: a malformed presigned URL */
    S3_ERR_AUTHORIZATION_QUERY_PARAMETERS_ERROR,
    S3_ERR_NO_SUCH_UPLOAD, /* 404 NoSuchUpload */
    S3_ERR_INVALID_PART,   /* 400 InvalidPart */
    S3_ERR_INVALID_PART_ORDER, /* 400 InvalidPartOrder */
    S3_ERR_NO_SUCH_KEY,        /* 404 NoSuchKey */
    S3_ERR_INVALID_PART_NUMBER, /* 416 InvalidPartNumber */
    /*
     * 400 RequestHeaderSectionTooLarge: S3 answers a request line and headers
     * over its limit (8 KB on AWS, query string included) with this code, not
     * with 431 or 414, so s3seal uses it for too many headers and for a too
     * long request target as well.
     */
    S3_ERR_REQUEST_HEADER_SECTION_TOO_LARGE,
    S3_ERR_COUNT /* number of codes; not a code */
};

/* Returns the HTTP status for code; 500 for a value outside the enum. */
int s3_error_status(enum s3_error_code code);

/*
 * Returns the code string as S3 spells it, e.g. "SignatureDoesNotMatch";
 * "InternalError" for a value outside the enum and "" for S3_ERR_NONE.
 */
const char *s3_error_name(enum s3_error_code code);

/* Returns the default English message for code, never NULL. */
const char *s3_error_message(enum s3_error_code code);

/* An extra child element of <Error>, e.g. RequestTime or AWSAccessKeyId. */
struct s3_error_extra {
    const char *name;  /* element name: ASCII letters and digits only */
    const char *value; /* text; escaped on output */
};

/*
 * Builds the XML error body:
 *   <?xml version="1.0" encoding="UTF-8"?>
 *   <Error><Code>..</Code><Message>..</Message><Resource>..</Resource>
 *   <RequestId>..</RequestId>extra elements..</Error>
 * message NULL selects the default message; resource and request_id NULL
 * omit their element. Every value is XML-escaped; bytes that XML 1.0 cannot
 * carry (control characters, invalid UTF-8) are replaced by U+FFFD.
 * On CORE_OK *out is a malloc'd NUL-terminated string the caller frees with
 * free(). Returns CORE_INTERNAL for S3_ERR_NONE, an unknown code or an
 * invalid extra name, CORE_TOO_LARGE past 64 KiB, CORE_NOMEM.
 */
enum core_err s3_error_xml(enum s3_error_code code, const char *message, const char *resource,
                           const char *request_id, const struct s3_error_extra *extra, size_t extra_count,
                           char **out, size_t *out_len) CORE_WARN_UNUSED;

#endif
