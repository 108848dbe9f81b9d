/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Project-wide error codes. Every module returns one of these; proxy/ maps
 * them to an HTTP status and an S3 error response once, at the request
 * boundary.
 */
#ifndef CORE_ERR_H
#define CORE_ERR_H

enum core_err {
    CORE_OK = 0,
    CORE_AGAIN,     /* would block or needs more input; not a failure */
    CORE_CLOSED,    /* peer closed the connection */
    CORE_CLIENT,    /* invalid request from the client (4xx) */
    CORE_AUTH,      /* authentication failed (403) */
    CORE_UPSTREAM,  /* backend failed or is unreachable (502/503) */
    CORE_CRYPTO,    /* authentication tag, commitment or MAC check failed */
    CORE_KMS,       /* key management failed: unknown key, bad reply, refused operation */
    CORE_KMS_UNAVAILABLE, /* the KMS is unreachable, timed out or overloaded; retrying may help (503) */
    CORE_KMS_DENIED,      /* the KMS refused the caller's credentials or permissions (403) */
    CORE_TOO_LARGE, /* a size exceeds a configured or format limit */
    CORE_NOMEM,     /* allocation failed */
    CORE_CONFIG,    /* invalid configuration */
    CORE_IO,        /* a system call failed; see errno */
    CORE_INTERNAL,  /* a bug in s3seal */
};

/* Returns a fixed English description of err, never NULL. */
const char *core_err_str(enum core_err err);

#define CORE_WARN_UNUSED __attribute__((warn_unused_result))

/* Early-return helpers for functions that own nothing. */
#define CORE_TRY(expr)                        \
    do {                                      \
        enum core_err core_try_err_ = (expr); \
        if (core_try_err_ != CORE_OK) {       \
            return core_try_err_;             \
        }                                     \
    } while (0)

#define CORE_ENSURE(cond, err) \
    do {                       \
        if (!(cond)) {         \
            return (err);      \
        }                      \
    } while (0)

#endif
