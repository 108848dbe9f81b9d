/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multipart upload support for proxy/: the upload id that s3seal gives
 * clients, the XML bodies of CreateMultipartUpload, CompleteMultipartUpload
 * and ListParts, the multipart ETag, and query parameter access.
 *
 * s3seal stays stateless across instances and restarts because the upload
 * id carries the wrapped data key of the object next to the backend's
 * upload id. Every XML function here parses with libxml2 with network
 * access and entity expansion disabled, rejects a DOCTYPE, and needs
 * xmlInitParser() to have been called once before threads start.
 */
#ifndef S3_MULTIPART_H
#define S3_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

#define S3_UPLOAD_ID_MAX 2048                   /* maximum length of an upload id, in bytes without the NUL */
#define S3_MULTIPART_MAX_PARTS 10000            /* S3 limit on parts in one upload, and on the part number */
#define S3_COMPLETE_XML_MAX (2 * 1024 * 1024)   /* maximum CompleteMultipartUpload request body, in bytes */
#define S3_MULTIPART_XML_MAX (16 * 1024 * 1024) /* maximum backend response body, in bytes */
#define S3_MULTIPART_ETAG_MAX 80                /* buffer size for one ETag, NUL included */

/*
 * Builds the upload id returned to clients:
 *   "s3s1." base64url(kms_id) "." base64url(wrapped) "." backend_id
 * base64url is RFC 4648 section 5 without padding. The backend id comes
 * last and unchanged, so it needs no escaping even when it contains '.'.
 * out receives the id and a NUL. Returns CORE_TOO_LARGE when the id is
 * longer than S3_UPLOAD_ID_MAX or does not fit in cap, CORE_UPSTREAM for an
 * empty backend id or one with control characters, CORE_INTERNAL for an
 * empty kms_id or wrapped key or a kms_id with control characters.
 *
 * NOTE: nothing in the id is authenticated. A client that edits it can
 * only pair a wrapped key with another upload id, and the key stays
 * unusable unless the KMS unwraps it.
 */
enum core_err s3_upload_id_encode(const char *backend_id, const char *kms_id, const uint8_t *wrapped,
                                  size_t wrapped_len, char *out, size_t cap) CORE_WARN_UNUSED;

/*
 * Splits an upload id made by s3_upload_id_encode. backend_id and kms_id
 * receive NUL-terminated strings and wrapped the key bytes. Returns
 * CORE_CLIENT for anything else: a length over S3_UPLOAD_ID_MAX, another
 * prefix, an empty part, base64url that is invalid, padded or not in its
 * canonical form, control characters or NUL, or a part that does not fit
 * its buffer. proxy/ then returns 404 NoSuchUpload.
 */
enum core_err s3_upload_id_decode(const char *id, size_t len, char *backend_id, size_t backend_cap,
                                  char *kms_id, size_t kms_cap, uint8_t *wrapped, size_t wrapped_cap,
                                  size_t *wrapped_len) CORE_WARN_UNUSED;

/*
 * Copies the text of UploadId, a child of the root element
 * InitiateMultipartUploadResult, into upload_id with a NUL. Elements match
 * by local name, in the S3 namespace or none. Whitespace before the
 * document is skipped. Returns CORE_UPSTREAM when the body is not
 * well-formed, has a DOCTYPE or another root, or when UploadId is missing,
 * empty or does not fit in cap; CORE_TOO_LARGE past S3_MULTIPART_XML_MAX.
 */
enum core_err s3_multipart_parse_initiate(const char *xml, size_t len, char *upload_id,
                                          size_t cap) CORE_WARN_UNUSED;

/*
 * Replaces the text of the UploadId element that is a child of the root
 * (InitiateMultipartUploadResult or ListPartsResult, any root is accepted)
 * with new_id and keeps the rest of the document. The output starts with
 * an XML declaration and may spell unchanged text differently, for
 * example '"' for "&quot;". On CORE_OK *out is a malloc'd NUL-terminated
 * string that the caller frees with free(). Returns CORE_UPSTREAM when the
 * root has no UploadId child or the body is not well-formed or has a
 * DOCTYPE, CORE_TOO_LARGE past S3_MULTIPART_XML_MAX, CORE_NOMEM.
 */
enum core_err s3_multipart_replace_upload_id(const char *xml, size_t len, const char *new_id, char **out,
                                             size_t *out_len) CORE_WARN_UNUSED;

/* Parts of a CompleteMultipartUpload request, in document order. */
struct s3_complete_parts {
    uint32_t *numbers;                    /* owned; part numbers, strictly ascending, 1..10000 */
    char (*etags)[S3_MULTIPART_ETAG_MAX]; /* owned; ETag text as the client sent it, quotes included */
    size_t count;
};

/*
 * Parses a client's CompleteMultipartUpload body and removes every
 * ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1 and
 * ChecksumSHA256 element inside a Part, whatever its namespace prefix,
 * because those checksums describe plaintext that the backend never saw.
 * Everything else is kept. On CORE_OK *out is a malloc'd NUL-terminated
 * body with an XML declaration, freed with free(), and parts contains the
 * part numbers and ETags.
 *
 * Returns CORE_CLIENT, which proxy/ turns into 400 MalformedXML, for these
 * cases: input over S3_COMPLETE_XML_MAX, XML that is not well-formed or has a DOCTYPE,
 * another root, no Part, more than S3_MULTIPART_MAX_PARTS parts, a Part
 * without exactly one PartNumber and one ETag, a part number that is not a
 * decimal in 1..10000, part numbers not strictly ascending, or an ETag
 * that is empty or longer than S3_MULTIPART_ETAG_MAX - 1 bytes. Returns
 * CORE_NOMEM too. parts is cleared first and is empty after any error.
 */
enum core_err s3_multipart_rewrite_complete(const char *xml, size_t len, char **out, size_t *out_len,
                                            struct s3_complete_parts *parts) CORE_WARN_UNUSED;

/* Frees the arrays of parts and resets it; accepts NULL and a cleared struct. */
void s3_complete_parts_cleanup(struct s3_complete_parts *parts);

/*
 * Computes the ETag that S3 gives a multipart object: the hex MD5 of the
 * concatenated binary MD5s of the parts, then "-" and the part count, in
 * double quotes ("\"<hex>-<n>\""). Each input is 32 hex digits of either
 * case, with or without surrounding double quotes. Returns CORE_CLIENT for
 * any other input or a count outside 1..S3_MULTIPART_MAX_PARTS,
 * CORE_TOO_LARGE when the result does not fit in cap (48 always does),
 * CORE_CRYPTO when OpenSSL has no MD5.
 */
enum core_err s3_multipart_etag(const char *const *part_etags, size_t count, char *out,
                                size_t cap) CORE_WARN_UNUSED;

/*
 * Builds a CompleteMultipartUpload request body with an XML declaration
 * and the S3 namespace, for the uploads that s3seal itself completes.
 * ETags are written in double quotes unless they already have them.
 * Returns CORE_INTERNAL for a count outside 1..S3_MULTIPART_MAX_PARTS,
 * part numbers not strictly ascending in 1..10000, or an empty ETag or
 * one with control characters. On CORE_OK *out is a malloc'd
 * NUL-terminated string freed with free().
 */
enum core_err s3_multipart_build_complete(const uint32_t *numbers, const char *const *etags, size_t count,
                                          char **out, size_t *out_len) CORE_WARN_UNUSED;

/*
 * Sets the ETag of a CompleteMultipartUploadResult to etag when the
 * element is empty or missing (Ceph RGW 16.2 sends it empty). A missing
 * ETag is inserted after Key, or last without a Key. When the ETag has
 * text, or the root is another element such as Error, *out is an
 * unchanged copy of the body. On CORE_OK *out is a malloc'd
 * NUL-terminated string freed with free(). Returns CORE_UPSTREAM for a
 * body that is not well-formed or has a DOCTYPE, CORE_TOO_LARGE past
 * S3_MULTIPART_XML_MAX, CORE_NOMEM.
 */
enum core_err s3_multipart_fill_complete_etag(const char *xml, size_t len, const char *etag, char **out,
                                              size_t *out_len) CORE_WARN_UNUSED;

/*
 * Copies the text of Code from an S3 error body (root Error) into code
 * with a NUL. S3 may respond to CompleteMultipartUpload with status 200 and
 * an error body, after whitespace it sends to keep the connection open,
 * so whitespace before the document is skipped. Returns CORE_UPSTREAM when
 * the body is not an Error document, has no Code or an empty one, or the
 * code does not fit in cap; CORE_TOO_LARGE past S3_MULTIPART_XML_MAX.
 */
enum core_err s3_multipart_parse_error_code(const char *xml, size_t len, char *code,
                                            size_t cap) CORE_WARN_UNUSED;

/*
 * Finds the parameter name in a raw query string (the part after '?') and
 * copies its percent-decoded value with a NUL into value. Names are
 * compared after percent-decoding; a parameter without '=' has the value
 * "". When the name occurs more than once the first occurrence counts.
 * Returns false when the name is absent, a value has an invalid escape or
 * contains NUL, or the value does not fit in cap.
 */
bool s3_query_get(const char *query, size_t len, const char *name, char *value, size_t cap);

/*
 * Copies a raw query string to out with the value of every parameter
 * called name replaced by new_value, encoded with s3_uri_encode without
 * keeping '/'. Other parameters keep their order and encoding. Returns
 * CORE_CLIENT when name does not occur or a parameter name has an invalid
 * escape, CORE_TOO_LARGE when the result and a NUL do not fit in cap.
 */
enum core_err s3_query_replace(const char *query, size_t len, const char *name, const char *new_value,
                               char *out, size_t cap, size_t *out_len) CORE_WARN_UNUSED;

/* One part of an upload as ListParts reports it. */
struct s3_listed_part {
    uint32_t number;
    uint64_t size; /* stored bytes */
};

/*
 * Reads the parts of a ListPartsResult into a malloc'd array the caller
 * frees, and whether the list continues on another page. CORE_UPSTREAM for
 * any other body, or a Part without a valid PartNumber or Size.
 */
enum core_err s3_multipart_parse_list_parts(const char *xml, size_t len, struct s3_listed_part **parts,
                                            size_t *count, bool *truncated) CORE_WARN_UNUSED;

/* Reads CopyPartResult/ETag from an UploadPartCopy response; CORE_UPSTREAM if it is missing. */
enum core_err s3_multipart_parse_copy_part_etag(const char *xml, size_t len, char *etag, size_t cap) CORE_WARN_UNUSED;

/*
 * Reads CopyObjectResult/ETag from a CopyObject response; CORE_UPSTREAM if
 * it is missing, which includes an Error body sent with status 200.
 */
enum core_err s3_multipart_parse_copy_object_etag(const char *xml, size_t len, char *etag,
                                                  size_t cap) CORE_WARN_UNUSED;

#endif
