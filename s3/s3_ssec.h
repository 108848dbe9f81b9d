/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SSE-C request headers: x-amz-server-side-encryption-customer-algorithm, -key and -key-MD5, and their
 * x-amz-copy-source-server-side-encryption-customer-* forms for the source of a copy.
 */
#ifndef S3_SSEC_H
#define S3_SSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"
#include "s3/s3_request.h"

#define S3_SSEC_KEY_LEN 32
/* Base64 of a 16-byte MD5 and its NUL. */
#define S3_SSEC_MD5_B64_MAX 25

/* A customer key from one request; wipe it with s3_ssec_wipe. */
struct s3_ssec {
    bool present;
    uint8_t key[S3_SSEC_KEY_LEN];
    char key_md5[S3_SSEC_MD5_B64_MAX]; /* as the client sent it, for the response headers */
};

/* The set of SSE-C headers to read: the object's, or a copy source's. */
enum s3_ssec_kind {
    S3_SSEC_OBJECT,      /* x-amz-server-side-encryption-customer-* */
    S3_SSEC_COPY_SOURCE, /* x-amz-copy-source-server-side-encryption-customer-* */
};

/*
 * Reads one set of SSE-C headers from req into out. None of the three headers gives out->present false
 * and CORE_OK. Returns CORE_CLIENT, with a message for the client in message, when only some are sent,
 * the algorithm is not AES256, the key is not base64 of 32 bytes, or the MD5 does not match the key.
 */
enum core_err s3_ssec_parse(const struct s3_request *req, enum s3_ssec_kind kind, struct s3_ssec *out,
                            const char **message) CORE_WARN_UNUSED;

/* Tells whether a header belongs to either set, so it is never sent to the backend. */
bool s3_ssec_is_header(const char *name, size_t name_len);

/* Wipes the key. */
void s3_ssec_wipe(struct s3_ssec *ssec);

#endif
