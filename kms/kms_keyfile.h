/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local key file provider: master keys read from a text file on disk, with kms_id values of the form
 * "file:<key id>". docs/KEYS.md describes the file format, rotation and the wrapped blob format.
 */
#ifndef KMS_KEYFILE_H
#define KMS_KEYFILE_H

#include <stddef.h>

#include "core/core_err.h"
#include "kms/kms.h"

/* Maximum length of a key id in a key file, without the terminating NUL. */
#define KMS_KEYFILE_ID_MAX 64

/*
 * Writes a new key file at path holding one random 32-byte key with id key_id, or with an id of "k" and
 * 8 random hex digits when key_id is NULL. The file is created with mode 0600 and O_EXCL, so an existing
 * file is never overwritten, and it is fsync'd together with its folder. On failure writes an English
 * message that names the path into err (err may be NULL) and returns CORE_CONFIG (existing file, invalid
 * key id), CORE_IO (a system call failed) or CORE_CRYPTO (the random generator failed).
 */
enum core_err kms_keyfile_generate(const char *path, const char *key_id, char *err, size_t err_cap)
    CORE_WARN_UNUSED;

/*
 * Reads the key file at path and sets *out to a provider that wraps with the last key in the file and
 * unwraps with any of them. The caller frees it with kms_provider_free. The provider is read-only after
 * load, so several threads may call kms_wrap and kms_unwrap on it at once.
 *
 * Rejects a file that group or others may access, that is not a regular file, that is larger than 1 MiB
 * or that contains no key. Rejects any malformed line, duplicate key id or key that is not exactly 32
 * bytes. On failure writes into err (which may be NULL) an English message that names the path, the line
 * where one applies and the fix, and never contains key material. Then returns CORE_CONFIG,
 * CORE_TOO_LARGE, CORE_IO, CORE_NOMEM or CORE_CRYPTO (OpenSSL lacks AES-256-GCM or HMAC).
 */
enum core_err kms_keyfile_load(const char *path, struct kms_provider **out, char *err, size_t err_cap)
    CORE_WARN_UNUSED;

#endif
