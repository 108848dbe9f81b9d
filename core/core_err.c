/* SPDX-License-Identifier: Apache-2.0 */
/* Descriptions of the project-wide error codes. */
#include "core/core_err.h"

const char *core_err_str(enum core_err err)
{
    switch (err) {
    case CORE_OK:
        return "success";
    case CORE_AGAIN:
        return "operation would block";
    case CORE_CLOSED:
        return "connection closed by peer";
    case CORE_CLIENT:
        return "invalid request";
    case CORE_AUTH:
        return "authentication failed";
    case CORE_UPSTREAM:
        return "backend request failed";
    case CORE_CRYPTO:
        return "integrity check failed";
    case CORE_KMS:
        return "key management failed";
    case CORE_KMS_UNAVAILABLE:
        return "key management service unavailable";
    case CORE_KMS_DENIED:
        return "key management service denied access";
    case CORE_TOO_LARGE:
        return "size limit exceeded";
    case CORE_NOMEM:
        return "out of memory";
    case CORE_CONFIG:
        return "invalid configuration";
    case CORE_IO:
        return "system call failed";
    case CORE_INTERNAL:
        return "internal error";
    default:
        return "unknown error";
    }
}
