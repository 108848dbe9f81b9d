/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object envelope of format version 1: the wrapped data key, its key
 * commitment, the plaintext length and a MAC over them, stored as S3 user
 * metadata (x-amz-meta-s3seal-*). Also the wrap context that binds a
 * wrapped key to one bucket and object key. An object uploaded in parts
 * has a multipart marker in place of the plaintext length. See
 * docs/FORMAT.md.
 */
#ifndef CRYPTO_ENVELOPE_H
#define CRYPTO_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"
#include "crypto/crypto_base64.h"

/* metadata names, without the "x-amz-meta-" prefix */
#define CRYPTO_META_PREFIX "s3seal"
#define CRYPTO_META_VERSION "s3seal"
#define CRYPTO_META_KMS "s3seal-kms"
#define CRYPTO_META_DEK "s3seal-dek"
#define CRYPTO_META_COMMITMENT "s3seal-cm"
#define CRYPTO_META_LENGTH "s3seal-len"
/* set to "1" in place of CRYPTO_META_LENGTH on objects uploaded in parts */
#define CRYPTO_META_MULTIPART "s3seal-mp"
#define CRYPTO_META_MAC "s3seal-mac"

/* value of the CRYPTO_META_VERSION field */
#define CRYPTO_ENVELOPE_VERSION "1"
/* value of the CRYPTO_META_MULTIPART field */
#define CRYPTO_ENVELOPE_MULTIPART "1"

/* KMS key string ("<provider>:<key id>") with its NUL; the string has at most 255 characters */
#define CRYPTO_KMS_ID_MAX 256
#define CRYPTO_WRAPPED_MAX 1024
#define CRYPTO_ENVELOPE_MAC_LEN 16

/* literal that starts the wrap context */
#define CRYPTO_WRAP_CONTEXT_LABEL "s3seal/1 ctx"

/*
 * Returns the length of the wrap context for the given name lengths, or 0
 * when a length does not fit in 32 bits.
 */
size_t crypto_wrap_context_len(size_t bucket_len, size_t key_len);

/*
 * Writes the wrap context, "s3seal/1 ctx" || 0x00 || BE32(len(bucket)) ||
 * bucket || BE32(len(key)) || key, which the KMS binds the wrapped key to.
 * Returns CORE_TOO_LARGE when a name is longer than 2^32 - 1 bytes or out_cap
 * is smaller than crypto_wrap_context_len; out is then left unwritten.
 */
enum core_err crypto_wrap_context(const char *bucket, size_t bucket_len, const char *key, size_t key_len,
                                  uint8_t *out, size_t out_cap, size_t *out_len) CORE_WARN_UNUSED;

/* Decoded envelope fields. */
struct crypto_envelope {
    char kms[CRYPTO_KMS_ID_MAX];         /* NUL-terminated, 1 to 255 printable ASCII characters */
    uint8_t wrapped[CRYPTO_WRAPPED_MAX]; /* wrapped DEK as returned by kms/ */
    size_t wrapped_len;                  /* 1 to CRYPTO_WRAPPED_MAX */
    uint8_t commitment[32];
    uint8_t mac[CRYPTO_ENVELOPE_MAC_LEN];
    uint64_t plain_len; /* plaintext length of the whole object; 0 when multipart */
    /* the object was uploaded in parts: the envelope has s3seal-mp instead of s3seal-len */
    bool multipart;
};

/*
 * Metadata values ready to send as x-amz-meta-<name>, each NUL-terminated.
 * Exactly one of length and multipart is non-empty. Send only that one:
 * the parser rejects an envelope that has both fields, even with an empty value.
 */
struct crypto_envelope_headers {
    char version[2];
    char kms[CRYPTO_KMS_ID_MAX];
    char dek[CRYPTO_BASE64_ENCODED_LEN(CRYPTO_WRAPPED_MAX) + 1];
    char commitment[45];
    char length[21];   /* "" for a multipart object */
    char multipart[2]; /* "1" for a multipart object, "" otherwise */
    char mac[25];
};

/*
 * Computes the commitment and MAC for an object and writes all envelope
 * metadata values to out. kms_id must be 1 to 255 printable ASCII
 * characters and wrapped_len 1 to CRYPTO_WRAPPED_MAX, otherwise returns
 * CORE_INTERNAL. Returns CORE_TOO_LARGE when a name is longer than
 * 2^32 - 1 bytes and CORE_INTERNAL or CORE_NOMEM when OpenSSL fails.
 */
enum core_err crypto_envelope_seal(const uint8_t dek[32], const char *kms_id, const uint8_t *wrapped,
                                   size_t wrapped_len, uint64_t plain_len, const char *bucket,
                                   size_t bucket_len, const char *key, size_t key_len,
                                   struct crypto_envelope_headers *out) CORE_WARN_UNUSED;

/*
 * Computes the commitment and MAC for an object uploaded in parts, whose
 * plaintext length is unknown when the upload starts, and writes all
 * envelope metadata values to out: multipart is "1" and length is "".
 * Checks its input and fails like crypto_envelope_seal.
 */
enum core_err crypto_envelope_seal_multipart(const uint8_t dek[32], const char *kms_id,
                                             const uint8_t *wrapped, size_t wrapped_len, const char *bucket,
                                             size_t bucket_len, const char *key, size_t key_len,
                                             struct crypto_envelope_headers *out) CORE_WARN_UNUSED;

/*
 * Looks up a metadata value by name (e.g. "s3seal-dek": lower case, without
 * the "x-amz-meta-" prefix). Returns a NUL-terminated value that stays valid
 * during the parse call, or NULL when the field is absent.
 */
typedef const char *(*crypto_meta_lookup_fn)(void *arg, const char *name);

/* Returns true when the object has the CRYPTO_META_VERSION field, whatever its value. */
bool crypto_envelope_is_present(crypto_meta_lookup_fn lookup, void *arg);

/*
 * Reads and decodes all envelope fields into out. Returns CORE_CRYPTO when
 * a field is missing or malformed. Rejected are a version other than "1",
 * a KMS string that is empty, longer than 255 or not printable ASCII,
 * base64 that is not canonical, a wrapped key of 0 or over 1024 bytes, a
 * commitment other than 32 bytes, a MAC other than 16 bytes, and a length
 * that is not a canonical decimal uint64. Also rejected are a multipart
 * marker other than "1" and an envelope with both or neither of the length
 * and the marker. Sets out->multipart when the marker is present. Nothing
 * is authenticated yet, so call crypto_envelope_verify before using the
 * fields.
 */
enum core_err crypto_envelope_parse(crypto_meta_lookup_fn lookup, void *arg,
                                    struct crypto_envelope *out) CORE_WARN_UNUSED;

/*
 * Checks that dek matches the commitment and that the MAC covers every
 * field, including the multipart marker, together with this bucket and key,
 * comparing in constant time. Returns CORE_CRYPTO for any mismatch or
 * invalid field (such as a multipart envelope with a nonzero plain_len),
 * without saying which, and CORE_INTERNAL or CORE_NOMEM when OpenSSL fails.
 */
enum core_err crypto_envelope_verify(const struct crypto_envelope *env, const uint8_t dek[32],
                                     const char *bucket, size_t bucket_len, const char *key,
                                     size_t key_len) CORE_WARN_UNUSED;

/*
 * Writes the MAC input M of docs/FORMAT.md for env (its mac field is not
 * used) and the given names to out, so that other implementations can be
 * checked against it. Returns CORE_TOO_LARGE when out_cap is too small or a
 * name is longer than 2^32 - 1 bytes, CORE_INTERNAL for invalid env fields.
 */
enum core_err crypto_envelope_mac_input(const struct crypto_envelope *env, const char *bucket,
                                        size_t bucket_len, const char *key, size_t key_len, uint8_t *out,
                                        size_t out_cap, size_t *out_len) CORE_WARN_UNUSED;

#endif
