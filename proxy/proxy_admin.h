/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The offline administration commands "s3seal inspect" and "s3seal decrypt".
 * They read an object's metadata from a JSON file and show or verify its
 * envelope. They decrypt a stored object file with only the key file, without
 * a running proxy, to recover objects copied straight from the backend.
 */
#ifndef PROXY_ADMIN_H
#define PROXY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core_err.h"
#include "crypto/crypto_envelope.h"
#include "crypto/crypto_stream.h"
#include "kms/kms.h"

/* Exit statuses of both commands. */
#define PROXY_ADMIN_EXIT_OK 0
/* verification or decryption failed, or a file could not be read or written */
#define PROXY_ADMIN_EXIT_FAILED 1
#define PROXY_ADMIN_EXIT_USAGE 2

/* Largest metadata JSON file read; head-object output of an object is a few KiB. */
#define PROXY_ADMIN_META_FILE_MAX (1024 * 1024)

/* Runs "s3seal inspect"; argv[0] is "inspect". Returns the exit status. */
int proxy_admin_inspect_main(int argc, char **argv);

/* Runs "s3seal decrypt"; argv[0] is "decrypt". Returns the exit status. */
int proxy_admin_decrypt_main(int argc, char **argv);

/* An object's user metadata read from JSON, with names in lower case and without "x-amz-meta-". */
struct proxy_admin_meta;

/*
 * Parses json_len bytes of JSON: either the output of "aws s3api head-object"
 * (its "Metadata" object is used) or a flat object of name to value. Names
 * are compared in lower case, and an "x-amz-meta-" prefix is dropped. Fails
 * with CORE_CONFIG and a message naming source (a file name for messages)
 * when the JSON is invalid, is not an object, repeats a name, or contains an
 * s3seal* field whose value is not a string. Returns CORE_NOMEM when an
 * allocation fails. The caller frees *out with proxy_admin_meta_free.
 */
enum core_err proxy_admin_meta_parse(const char *json, size_t json_len, const char *source,
                                     struct proxy_admin_meta **out, char *err,
                                     size_t err_cap) CORE_WARN_UNUSED;

/*
 * Reads the JSON file at path ("-" is standard input) and parses it like
 * proxy_admin_meta_parse. Returns CORE_IO when the file cannot be read and
 * CORE_TOO_LARGE when it exceeds PROXY_ADMIN_META_FILE_MAX.
 */
enum core_err proxy_admin_meta_load(const char *path, struct proxy_admin_meta **out, char *err,
                                    size_t err_cap) CORE_WARN_UNUSED;

/*
 * Looks up a metadata value by its lower-case name without "x-amz-meta-";
 * arg is a struct proxy_admin_meta. Has the crypto_meta_lookup_fn signature.
 */
const char *proxy_admin_meta_lookup(void *arg, const char *name);

/*
 * Reads "ContentLength" of head-object output, which for an object read
 * straight from the backend is its stored size. Returns false when the JSON
 * has no such non-negative integer.
 */
bool proxy_admin_meta_stored_size(const struct proxy_admin_meta *meta, uint64_t *size);

void proxy_admin_meta_free(struct proxy_admin_meta *meta);

/*
 * Prints the envelope of meta in readable form to out: version, layout,
 * KMS id, wrapped key length (never its bytes), commitment in base64,
 * plaintext length and whether a MAC is present. Returns CORE_OK when the
 * envelope parses, CORE_CRYPTO when it is absent or malformed (the lines
 * printed name the field).
 */
enum core_err proxy_admin_inspect_print(struct proxy_admin_meta *meta, FILE *out) CORE_WARN_UNUSED;

/*
 * Parses the s3seal envelope of meta into env, unauthenticated. Returns
 * CORE_CRYPTO with a message when it is absent or malformed.
 */
enum core_err proxy_admin_envelope_parse(struct proxy_admin_meta *meta, struct crypto_envelope *env,
                                         char *err, size_t err_cap) CORE_WARN_UNUSED;

/*
 * Unwraps the data key of env with kms, for bucket and key. Returns
 * CORE_KMS when kms has no key for env->kms and CORE_CRYPTO when the
 * unwrap fails, each with a message. dek is zeroed on failure.
 */
enum core_err proxy_admin_envelope_unwrap(const struct crypto_envelope *env, struct kms_provider *kms,
                                          const char *bucket, const char *key, uint8_t dek[CRYPTO_DEK_LEN],
                                          char *err, size_t err_cap) CORE_WARN_UNUSED;

/*
 * Checks the commitment and the MAC of env for dek, bucket and key.
 * Returns CORE_CRYPTO with a message when either does not match.
 */
enum core_err proxy_admin_envelope_verify(const struct crypto_envelope *env,
                                          const uint8_t dek[CRYPTO_DEK_LEN], const char *bucket,
                                          const char *key, char *err, size_t err_cap) CORE_WARN_UNUSED;

/*
 * Decrypts the stored object read from in (named in_name in messages) and
 * writes the plaintext to out chunk by chunk, using about 128 KiB of memory
 * whatever the object size. env must have been verified with dek. A
 * single-stream object must be exactly the stream of env->plain_len bytes.
 * A multipart object is read as consecutive parts. Plaintext of chunks
 * that verified may already be in out when a later chunk fails. Returns
 * CORE_CRYPTO when the data fails verification, CORE_IO when reading or
 * writing fails, CORE_NOMEM, each with a message. Sets *plain_written.
 */
enum core_err proxy_admin_decrypt_stream(const struct crypto_envelope *env, const uint8_t dek[CRYPTO_DEK_LEN],
                                         FILE *in, const char *in_name, FILE *out, uint64_t *plain_written,
                                         char *err, size_t err_cap) CORE_WARN_UNUSED;

/*
 * Decrypts the file at in_path ("-" is standard input) like
 * proxy_admin_decrypt_stream into a temporary file next to out_path with
 * mode 0600, and renames it to out_path only after the whole object
 * verified, replacing any file there. On failure the temporary file is
 * removed and out_path is left as it was.
 */
enum core_err proxy_admin_decrypt_to_file(const struct crypto_envelope *env,
                                          const uint8_t dek[CRYPTO_DEK_LEN], const char *in_path,
                                          const char *out_path, uint64_t *plain_written, char *err,
                                          size_t err_cap) CORE_WARN_UNUSED;

#endif
