/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streaming checksums that S3 clients send in x-amz-checksum-* headers and
 * aws-chunked trailers, computed over the plaintext: CRC32, CRC32C,
 * CRC64NVME, SHA-1 and SHA-256. Values are written the way S3 writes them:
 * base64 of the big-endian CRC or of the digest.
 */
#ifndef S3_CHECKSUM_H
#define S3_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

enum s3_checksum_alg {
    S3_CHECKSUM_NONE = 0,
    S3_CHECKSUM_CRC32,     /* ISO-HDLC CRC-32, as zlib computes it */
    S3_CHECKSUM_CRC32C,    /* Castagnoli, reflected polynomial 0x82F63B78 */
    S3_CHECKSUM_CRC64NVME, /* reflected polynomial 0x9A6C9329AC4BC9B5 */
    S3_CHECKSUM_SHA1,
    S3_CHECKSUM_SHA256,
};

/* Output size for s3_checksum_final_base64 that fits every algorithm: base64 of 32 bytes plus NUL. */
#define S3_CHECKSUM_BASE64_MAX 45

/* One running checksum. Embedded by the caller; fields are private to s3_checksum.c. */
struct s3_checksum {
    enum s3_checksum_alg alg;
    uint32_t crc32;
    uint64_t crc64;
    void *md_ctx; /* owned EVP_MD_CTX for SHA-1 and SHA-256, NULL otherwise */
};

/*
 * Starts a checksum of alg. Returns CORE_INTERNAL for S3_CHECKSUM_NONE or a
 * value outside the enum, CORE_NOMEM or CORE_CRYPTO if OpenSSL fails. The
 * caller calls s3_checksum_cleanup after any return.
 */
enum core_err s3_checksum_init(struct s3_checksum *c, enum s3_checksum_alg alg) CORE_WARN_UNUSED;

/* Adds len bytes; data may be NULL when len is 0. Returns CORE_CRYPTO if OpenSSL fails. */
enum core_err s3_checksum_update(struct s3_checksum *c, const uint8_t *data, size_t len) CORE_WARN_UNUSED;

/*
 * Writes the NUL-terminated base64 value, e.g. "DUoRhQ==" for the CRC32 of
 * "hello world". After this call only s3_checksum_cleanup or
 * s3_checksum_init may follow. Returns CORE_TOO_LARGE if cap is too small
 * (S3_CHECKSUM_BASE64_MAX always suffices), CORE_INTERNAL for an
 * uninitialised checksum.
 */
enum core_err s3_checksum_final_base64(struct s3_checksum *c, char *out, size_t cap) CORE_WARN_UNUSED;

/* Frees the digest context and resets c; accepts NULL and a zeroed struct. */
void s3_checksum_cleanup(struct s3_checksum *c);

/*
 * Returns the algorithm of a checksum header name such as
 * "x-amz-checksum-crc32" (any case), or S3_CHECKSUM_NONE for any other name,
 * including x-amz-checksum-algorithm and x-amz-checksum-mode.
 */
enum s3_checksum_alg s3_checksum_alg_from_header(const char *name, size_t len);

/*
 * Returns the algorithm for a value of x-amz-sdk-checksum-algorithm or
 * x-amz-checksum-algorithm: "CRC32", "CRC32C", "CRC64NVME", "SHA1" or
 * "SHA256", in any case. S3_CHECKSUM_NONE for anything else.
 */
enum s3_checksum_alg s3_checksum_alg_from_name(const char *name, size_t len);

/* Returns the lower-case header name, e.g. "x-amz-checksum-crc32c", or NULL for NONE and unknown values. */
const char *s3_checksum_header_name(enum s3_checksum_alg alg);

#endif
