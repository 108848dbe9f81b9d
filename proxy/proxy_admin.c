/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "s3seal inspect" and "s3seal decrypt": offline tools that read an object's
 * metadata JSON and stored bytes, fetched straight from the backend, and show,
 * verify or decrypt them with crypto/ and the key file provider of kms/.
 */
#include "proxy/proxy_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/core_log.h"
#include "crypto/crypto_base64.h"
#include "crypto/crypto_multi.h"
#include "crypto/crypto_stream.h"
#include "kms/kms_keyfile.h"
#include "kms/kms_registry.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_kms.h"

#define AMZ_META_PREFIX "x-amz-meta-"

struct meta_entry {
    char *name;        /* owned, lower case, without "x-amz-meta-" */
    const char *value; /* borrowed from root */
};

struct proxy_admin_meta {
    json_t *root; /* owned; the whole document */
    struct meta_entry *entries;
    size_t count;
};

/* Buffers of one decryption: a whole stored chunk and its plaintext. */
struct chunk_buffers {
    uint8_t cipher[CRYPTO_CHUNK_CIPHER_MAX];
    uint8_t plain[CRYPTO_CHUNK_PLAIN_MAX];
};

/*
 * The temporary output file, so that a signal handler can remove it: a
 * plaintext file cut short by Ctrl-C must not stay behind.
 */
static char signal_temp_path[PATH_MAX];
static volatile sig_atomic_t signal_temp_path_set;

/* ---- metadata JSON ---- */

static bool name_is_s3seal(const char *name)
{
    return strncmp(name, CRYPTO_META_PREFIX, strlen(CRYPTO_META_PREFIX)) == 0;
}

/* Returns a lower-case copy of name without an "x-amz-meta-" prefix, or NULL when out of memory. */
static char *normalize_name(const char *name)
{
    size_t prefix_len = strlen(AMZ_META_PREFIX);
    char *copy;

    if (strncasecmp(name, AMZ_META_PREFIX, prefix_len) == 0) {
        name += prefix_len;
    }
    copy = strdup(name);
    if (copy == NULL) {
        return NULL;
    }
    for (char *p = copy; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    return copy;
}

static bool meta_has(const struct proxy_admin_meta *meta, const char *name)
{
    for (size_t i = 0; i < meta->count; i++) {
        if (strcmp(meta->entries[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Adds one field of the metadata object; fields that are not s3seal* and not strings are skipped. */
static enum core_err add_entry(struct proxy_admin_meta *meta, const char *raw_name, json_t *value,
                               const char *source, char *err, size_t err_cap)
{
    char *name = normalize_name(raw_name);

    if (name == NULL) {
        return CORE_NOMEM;
    }
    if (!json_is_string(value)) {
        bool required = name_is_s3seal(name);
        free(name);
        if (required) {
            snprintf(err, err_cap, "metadata field '%s' in %s is not a JSON string", raw_name, source);
            return CORE_CONFIG;
        }
        return CORE_OK;
    }
    if (meta_has(meta, name)) {
        snprintf(err, err_cap, "metadata field '%s' in %s appears twice (names are case-insensitive)",
                 raw_name, source);
        free(name);
        return CORE_CONFIG;
    }
    meta->entries[meta->count].name = name;
    meta->entries[meta->count].value = json_string_value(value);
    meta->count++;
    return CORE_OK;
}

/* Returns the object that contains the metadata: "Metadata" of head-object output, else the document itself. */
static json_t *metadata_object(json_t *root)
{
    json_t *nested = json_object_get(root, "Metadata");

    return json_is_object(nested) ? nested : root;
}

enum core_err proxy_admin_meta_parse(const char *json, size_t json_len, const char *source,
                                     struct proxy_admin_meta **out, char *err, size_t err_cap)
{
    enum core_err rc = CORE_OK;
    struct proxy_admin_meta *meta = calloc(1, sizeof(*meta));
    json_error_t jerr;
    json_t *fields;
    const char *name;
    json_t *value;

    *out = NULL;
    if (meta == NULL) {
        return CORE_NOMEM;
    }

    /* a repeated name would otherwise silently pick one of two envelope values */
    meta->root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (meta->root == NULL) {
        snprintf(err, err_cap, "%s is not valid JSON: %s at line %d, column %d", source, jerr.text, jerr.line,
                 jerr.column);
        rc = CORE_CONFIG;
        goto out;
    }
    if (!json_is_object(meta->root)) {
        snprintf(err, err_cap, "%s must hold a JSON object (head-object output or name to value)", source);
        rc = CORE_CONFIG;
        goto out;
    }

    fields = metadata_object(meta->root);
    meta->entries = calloc(json_object_size(fields) + 1, sizeof(*meta->entries));
    if (meta->entries == NULL) {
        rc = CORE_NOMEM;
        goto out;
    }
    json_object_foreach(fields, name, value)
    {
        rc = add_entry(meta, name, value, source, err, err_cap);
        if (rc != CORE_OK) {
            goto out;
        }
    }

out:
    if (rc != CORE_OK) {
        proxy_admin_meta_free(meta);
        return rc;
    }
    *out = meta;
    return CORE_OK;
}

/* Reads all of f into a new buffer of at most PROXY_ADMIN_META_FILE_MAX bytes. */
static enum core_err read_capped(FILE *f, const char *path, char **buf, size_t *len, char *err,
                                 size_t err_cap)
{
    char *data = malloc(PROXY_ADMIN_META_FILE_MAX + 1);
    size_t got;

    if (data == NULL) {
        return CORE_NOMEM;
    }
    got = fread(data, 1, PROXY_ADMIN_META_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, err_cap, "cannot read metadata file %s: %s", path, strerror(errno));
        free(data);
        return CORE_IO;
    }
    if (got > PROXY_ADMIN_META_FILE_MAX) {
        snprintf(err, err_cap,
                 "metadata file %s is larger than %d bytes; give the head-object output of one object", path,
                 PROXY_ADMIN_META_FILE_MAX);
        free(data);
        return CORE_TOO_LARGE;
    }
    *buf = data;
    *len = got;
    return CORE_OK;
}

enum core_err proxy_admin_meta_load(const char *path, struct proxy_admin_meta **out, char *err,
                                    size_t err_cap)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *data = NULL;
    size_t len = 0;
    enum core_err rc;

    *out = NULL;
    if (f == NULL) {
        snprintf(err, err_cap, "cannot open metadata file %s: %s", path, strerror(errno));
        return CORE_IO;
    }
    rc = read_capped(f, path, &data, &len, err, err_cap);
    if (!is_stdin) {
        fclose(f);
    }
    if (rc == CORE_OK) {
        rc = proxy_admin_meta_parse(data, len, is_stdin ? "standard input" : path, out, err, err_cap);
    }
    free(data);
    return rc;
}

const char *proxy_admin_meta_lookup(void *arg, const char *name)
{
    const struct proxy_admin_meta *meta = arg;

    for (size_t i = 0; i < meta->count; i++) {
        if (strcmp(meta->entries[i].name, name) == 0) {
            return meta->entries[i].value;
        }
    }
    return NULL;
}

bool proxy_admin_meta_stored_size(const struct proxy_admin_meta *meta, uint64_t *size)
{
    json_t *length = json_object_get(meta->root, "ContentLength");

    if (!json_is_integer(length) || json_integer_value(length) < 0) {
        return false;
    }
    *size = (uint64_t)json_integer_value(length);
    return true;
}

void proxy_admin_meta_free(struct proxy_admin_meta *meta)
{
    if (meta == NULL) {
        return;
    }
    for (size_t i = 0; i < meta->count; i++) {
        free(meta->entries[i].name);
    }
    free(meta->entries);
    json_decref(meta->root);
    free(meta);
}

/* ---- inspect ---- */

/* Prints value with anything but printable ASCII escaped, so metadata cannot send terminal controls. */
static void print_escaped(FILE *out, const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if (*p >= 0x20 && *p < 0x7f) {
            fputc(*p, out);
        } else {
            fprintf(out, "\\x%02x", *p);
        }
    }
}

static void print_field(FILE *out, const char *label, const char *value, const char *note)
{
    fprintf(out, "%-18s ", label);
    if (value == NULL) {
        fprintf(out, "missing");
    } else {
        print_escaped(out, value);
    }
    fprintf(out, "%s\n", note);
}

/* Prints the length of the wrapped key (its bytes are never printed) or why it does not decode. */
static void print_wrapped_key(FILE *out, const char *value)
{
    uint8_t wrapped[CRYPTO_WRAPPED_MAX];
    size_t wrapped_len = 0;
    enum core_err rc;

    if (value == NULL) {
        fprintf(out, "%-18s missing\n", "wrapped key:");
        return;
    }
    rc = crypto_base64_decode(value, strlen(value), wrapped, sizeof(wrapped), &wrapped_len);
    OPENSSL_cleanse(wrapped, sizeof(wrapped));
    if (rc == CORE_TOO_LARGE) {
        fprintf(out, "%-18s invalid: more than %d bytes\n", "wrapped key:", CRYPTO_WRAPPED_MAX);
    } else if (rc != CORE_OK || wrapped_len == 0) {
        fprintf(out, "%-18s invalid: not canonical base64 of 1 to %d bytes\n",
                "wrapped key:", CRYPTO_WRAPPED_MAX);
    } else {
        fprintf(out, "%-18s %zu bytes\n", "wrapped key:", wrapped_len);
    }
}

/* Checks a fixed-size base64 field and prints its value (show_value) or "present". */
static void print_base64_field(FILE *out, const char *label, const char *value, size_t expected_len,
                               bool show_value)
{
    uint8_t decoded[64];
    size_t decoded_len = 0;

    if (value == NULL) {
        fprintf(out, "%-18s missing\n", label);
        return;
    }
    if (crypto_base64_decode(value, strlen(value), decoded, sizeof(decoded), &decoded_len) != CORE_OK ||
        decoded_len != expected_len) {
        print_field(out, label, value, "  invalid: not canonical base64 of the expected length");
        return;
    }
    fprintf(out, "%-18s %s\n", label, show_value ? value : "present");
}

static void print_length(FILE *out, struct proxy_admin_meta *meta, const char *length, const char *multipart)
{
    uint64_t stored = 0;
    uint64_t plain = 0;

    if (length != NULL && multipart != NULL) {
        fprintf(out, "%-18s invalid: both s3seal-len and s3seal-mp are present\n", "plaintext length:");
    } else if (length != NULL) {
        print_field(out, "plaintext length:", length, " bytes");
    } else if (multipart == NULL) {
        fprintf(out, "%-18s invalid: neither s3seal-len nor s3seal-mp is present\n", "plaintext length:");
    } else if (!proxy_admin_meta_stored_size(meta, &stored)) {
        fprintf(out, "%-18s from the stored size (multipart object)\n", "plaintext length:");
    } else if (crypto_size_decrypted(stored, &plain)) {
        fprintf(out, "%-18s from the stored size: %" PRIu64 " stored bytes hold %" PRIu64 " bytes\n",
                "plaintext length:", stored, plain);
    } else {
        fprintf(out, "%-18s from the stored size, but %" PRIu64 " stored bytes is not a valid size\n",
                "plaintext length:", stored);
    }
}

static void print_layout(FILE *out, const char *length, const char *multipart)
{
    if (multipart != NULL && length == NULL && strcmp(multipart, CRYPTO_ENVELOPE_MULTIPART) == 0) {
        fprintf(out, "%-18s multipart (read part by part, chunk by chunk)\n", "layout:");
    } else if (multipart != NULL && length == NULL) {
        print_field(out, "layout:", multipart, "  invalid multipart marker s3seal-mp, expected 1");
    } else if (length != NULL && multipart == NULL) {
        fprintf(out, "%-18s single stream (one PUT)\n", "layout:");
    } else {
        fprintf(out, "%-18s unknown\n", "layout:");
    }
}

enum core_err proxy_admin_inspect_print(struct proxy_admin_meta *meta, FILE *out)
{
    const char *version = proxy_admin_meta_lookup(meta, CRYPTO_META_VERSION);
    const char *length = proxy_admin_meta_lookup(meta, CRYPTO_META_LENGTH);
    const char *multipart = proxy_admin_meta_lookup(meta, CRYPTO_META_MULTIPART);
    const char *mac = proxy_admin_meta_lookup(meta, CRYPTO_META_MAC);
    struct crypto_envelope env;
    enum core_err rc;

    if (version == NULL) {
        fprintf(out,
                "no s3seal envelope: the metadata has no '%s' field, so s3seal did not encrypt this object\n",
                CRYPTO_META_VERSION);
        return CORE_CRYPTO;
    }

    print_field(out, "format version:", version,
                strcmp(version, CRYPTO_ENVELOPE_VERSION) == 0 ? ""
                                                              : "  unsupported: this s3seal reads version 1");
    print_layout(out, length, multipart);
    print_field(out, "KMS id:", proxy_admin_meta_lookup(meta, CRYPTO_META_KMS), "");
    print_wrapped_key(out, proxy_admin_meta_lookup(meta, CRYPTO_META_DEK));
    print_base64_field(out, "commitment:", proxy_admin_meta_lookup(meta, CRYPTO_META_COMMITMENT), 32, true);
    print_length(out, meta, length, multipart);
    print_base64_field(out, "envelope MAC:", mac, CRYPTO_ENVELOPE_MAC_LEN, false);

    rc = crypto_envelope_parse(proxy_admin_meta_lookup, meta, &env);
    OPENSSL_cleanse(&env, sizeof(env));
    fprintf(out, "%-18s %s\n", "envelope:",
            rc == CORE_OK ? "well-formed (--verify with the key file checks it)"
                          : "malformed: s3seal rejects this object (see the fields above)");
    return rc == CORE_OK ? CORE_OK : CORE_CRYPTO;
}

/* ---- envelope ---- */

enum core_err proxy_admin_envelope_parse(struct proxy_admin_meta *meta, struct crypto_envelope *env,
                                         char *err, size_t err_cap)
{
    if (!crypto_envelope_is_present(proxy_admin_meta_lookup, meta)) {
        snprintf(err, err_cap, "the metadata has no '%s' field, so s3seal did not encrypt this object",
                 CRYPTO_META_VERSION);
        return CORE_CRYPTO;
    }
    if (crypto_envelope_parse(proxy_admin_meta_lookup, meta, env) != CORE_OK) {
        snprintf(err, err_cap,
                 "the s3seal envelope in the metadata is malformed; 's3seal inspect --metadata FILE' shows "
                 "which field");
        return CORE_CRYPTO;
    }
    return CORE_OK;
}

enum core_err proxy_admin_envelope_unwrap(const struct crypto_envelope *env, struct kms_provider *kms,
                                          const char *bucket, const char *key, uint8_t dek[CRYPTO_DEK_LEN],
                                          char *err, size_t err_cap)
{
    size_t context_cap = crypto_wrap_context_len(strlen(bucket), strlen(key));
    uint8_t *context = context_cap > 0 ? malloc(context_cap) : NULL;
    size_t context_len = 0;
    enum core_err rc = CORE_OK;

    memset(dek, 0, CRYPTO_DEK_LEN);
    if (context == NULL) {
        return CORE_NOMEM;
    }
    rc = crypto_wrap_context(bucket, strlen(bucket), key, strlen(key), context, context_cap, &context_len);
    if (rc != CORE_OK) {
        snprintf(err, err_cap, "cannot build the wrap context for bucket '%s' and key '%s'", bucket, key);
        goto out;
    }

    rc = kms_unwrap(kms, env->kms, env->wrapped, env->wrapped_len, context, context_len, dek);
    if (rc == CORE_KMS && strncmp(env->kms, "file:", 5) != 0 && strncmp(env->kms, "file+h:", 7) != 0) {
        snprintf(err, err_cap,
                 "KMS id '%s' names a key provider that is not loaded; for ids other than file:<key id>, use "
                 "--kms-env with that provider's settings",
                 env->kms);
    } else if (rc == CORE_KMS) {
        snprintf(err, err_cap,
                 "the key file has no master key for KMS id '%s'; use the key file that contains it",
                 env->kms);
    } else if (rc != CORE_OK) {
        snprintf(
            err, err_cap,
            "unwrapping the data key with KMS id '%s' failed for bucket '%s' and key '%s': the bucket or "
            "key differs from the upload, the wrapped key was changed, or the key file contains another key "
            "under that id",
            env->kms, bucket, key);
    }

out:
    free(context);
    return rc;
}

enum core_err proxy_admin_envelope_verify(const struct crypto_envelope *env,
                                          const uint8_t dek[CRYPTO_DEK_LEN], const char *bucket,
                                          const char *key, char *err, size_t err_cap)
{
    enum core_err rc = crypto_envelope_verify(env, dek, bucket, strlen(bucket), key, strlen(key));

    if (rc != CORE_OK) {
        snprintf(
            err, err_cap,
            "the envelope commitment or MAC does not match for bucket '%s' and key '%s': the metadata was "
            "changed or belongs to another object",
            bucket, key);
    }
    return rc;
}

/* ---- decrypt ---- */

/* Reads up to len bytes; returns fewer only at the end of the input or on an error (see ferror). */
static size_t read_full(FILE *in, uint8_t *buf, size_t len)
{
    return fread(buf, 1, len, in);
}

static enum core_err read_error(FILE *in, const char *in_name, char *err, size_t err_cap)
{
    if (ferror(in)) {
        snprintf(err, err_cap, "cannot read %s: %s", in_name, strerror(errno));
        return CORE_IO;
    }
    return CORE_OK;
}

static enum core_err write_plain(FILE *out, const uint8_t *plain, size_t len, char *err, size_t err_cap)
{
    if (len > 0 && fwrite(plain, 1, len, out) != len) {
        snprintf(err, err_cap, "cannot write the plaintext: %s", strerror(errno));
        return CORE_IO;
    }
    return CORE_OK;
}

/* Fails when the input has a byte after the last chunk, which the format forbids. */
static enum core_err check_no_trailing_data(FILE *in, const char *in_name, uint64_t offset, char *err,
                                            size_t err_cap)
{
    if (fgetc(in) != EOF) {
        snprintf(err, err_cap, "%s has data after the final chunk at stored byte offset %" PRIu64, in_name,
                 offset);
        return CORE_CRYPTO;
    }
    return read_error(in, in_name, err, err_cap);
}

static enum core_err decrypt_single(struct crypto_stream *s, const struct crypto_envelope *env,
                                    const uint8_t dek[CRYPTO_DEK_LEN], FILE *in, const char *in_name,
                                    FILE *out, struct chunk_buffers *buf, uint64_t *plain_written, char *err,
                                    size_t err_cap)
{
    uint64_t offset = 0;
    uint64_t chunk = 0;
    size_t want;

    if (crypto_stream_open_init(s, dek, 0, env->plain_len, 0) != CORE_OK) {
        snprintf(err, err_cap,
                 "plaintext length %" PRIu64 " in the envelope is above the maximum of %llu bytes",
                 env->plain_len, CRYPTO_PLAIN_MAX_SINGLE);
        return CORE_CRYPTO;
    }
    while ((want = crypto_stream_next_cipher_len(s)) > 0) {
        size_t got = read_full(in, buf->cipher, want);
        size_t plain_len = 0;

        CORE_TRY(read_error(in, in_name, err, err_cap));
        if (got < want) {
            snprintf(err, err_cap,
                     "%s ends inside chunk %" PRIu64 " at stored byte offset %" PRIu64
                     ": the object is truncated (expected %" PRIu64 " stored bytes for %" PRIu64
                     " plaintext bytes)",
                     in_name, chunk, offset + got, crypto_size_encrypted(env->plain_len), env->plain_len);
            return CORE_CRYPTO;
        }
        if (crypto_stream_open_chunk(s, buf->cipher, want, buf->plain, sizeof(buf->plain), &plain_len) !=
            CORE_OK) {
            snprintf(err, err_cap,
                     "chunk %" PRIu64 " at stored byte offset %" PRIu64
                     " of %s failed verification: the data "
                     "was changed or is not this object's",
                     chunk, offset, in_name);
            return CORE_CRYPTO;
        }
        CORE_TRY(write_plain(out, buf->plain, plain_len, err, err_cap));
        *plain_written += plain_len;
        offset += want;
        chunk++;
    }
    return check_no_trailing_data(in, in_name, offset, err, err_cap);
}

/* Reads and opens one chunk of a multipart object whose 20 header bytes are already in buf->cipher. */
static enum core_err open_multi_chunk(struct crypto_multi_open *m, FILE *in, const char *in_name,
                                      struct chunk_buffers *buf, uint64_t chunk, uint64_t offset,
                                      size_t *chunk_len, size_t *plain_len, char *err, size_t err_cap)
{
    size_t rest;
    size_t got;

    if (crypto_multi_chunk_len(buf->cipher, chunk_len) != CORE_OK) {
        snprintf(err, err_cap,
                 "chunk %" PRIu64 " at stored byte offset %" PRIu64 " of %s has an invalid header", chunk,
                 offset, in_name);
        return CORE_CRYPTO;
    }
    rest = *chunk_len - CRYPTO_CHUNK_HEADER_LEN;
    got = read_full(in, buf->cipher + CRYPTO_CHUNK_HEADER_LEN, rest);
    CORE_TRY(read_error(in, in_name, err, err_cap));
    if (got < rest) {
        snprintf(err, err_cap,
                 "%s ends inside chunk %" PRIu64 " at stored byte offset %" PRIu64 ": truncated", in_name,
                 chunk, offset + CRYPTO_CHUNK_HEADER_LEN + got);
        return CORE_CRYPTO;
    }
    if (crypto_multi_open_chunk(m, buf->cipher, *chunk_len, buf->plain, sizeof(buf->plain), plain_len) !=
        CORE_OK) {
        snprintf(err, err_cap,
                 "chunk %" PRIu64 " at stored byte offset %" PRIu64
                 " of %s failed verification: the data was "
                 "changed, parts are missing or out of order, or it is not this object's data",
                 chunk, offset, in_name);
        return CORE_CRYPTO;
    }
    return CORE_OK;
}

static enum core_err decrypt_multipart(struct crypto_multi_open *m, const uint8_t dek[CRYPTO_DEK_LEN],
                                       FILE *in, const char *in_name, FILE *out, struct chunk_buffers *buf,
                                       uint64_t *plain_written, char *err, size_t err_cap)
{
    uint64_t offset = 0;
    uint64_t chunk = 0;

    if (crypto_multi_open_init(m, dek, true) != CORE_OK) {
        snprintf(err, err_cap, "cannot allocate the AES-256-GCM context");
        return CORE_NOMEM;
    }
    for (;;) {
        size_t got = read_full(in, buf->cipher, CRYPTO_CHUNK_HEADER_LEN);
        size_t chunk_len = 0;
        size_t plain_len = 0;

        CORE_TRY(read_error(in, in_name, err, err_cap));
        if (got == 0) {
            break;
        }
        if (got < CRYPTO_CHUNK_HEADER_LEN) {
            snprintf(err, err_cap,
                     "%s ends inside the header of chunk %" PRIu64 " at stored byte offset %" PRIu64
                     ": truncated",
                     in_name, chunk, offset + got);
            return CORE_CRYPTO;
        }
        CORE_TRY(open_multi_chunk(m, in, in_name, buf, chunk, offset, &chunk_len, &plain_len, err, err_cap));
        CORE_TRY(write_plain(out, buf->plain, plain_len, err, err_cap));
        *plain_written += plain_len;
        offset += chunk_len;
        chunk++;
    }

    /* parts of 0 bytes store no chunk, so an object of only empty parts is empty */
    if (offset > 0 && !crypto_multi_open_at_final(m)) {
        snprintf(err, err_cap,
                 "%s ends after chunk %" PRIu64 ", which is not the last chunk of its part: truncated",
                 in_name, chunk - 1);
        return CORE_CRYPTO;
    }
    return CORE_OK;
}

enum core_err proxy_admin_decrypt_stream(const struct crypto_envelope *env, const uint8_t dek[CRYPTO_DEK_LEN],
                                         FILE *in, const char *in_name, FILE *out, uint64_t *plain_written,
                                         char *err, size_t err_cap)
{
    struct chunk_buffers *buf = malloc(sizeof(*buf));
    struct crypto_stream single = {0};
    struct crypto_multi_open multi = {0};
    enum core_err rc;

    *plain_written = 0;
    if (buf == NULL) {
        snprintf(err, err_cap, "out of memory for the chunk buffers");
        return CORE_NOMEM;
    }
    if (env->multipart) {
        rc = decrypt_multipart(&multi, dek, in, in_name, out, buf, plain_written, err, err_cap);
    } else {
        rc = decrypt_single(&single, env, dek, in, in_name, out, buf, plain_written, err, err_cap);
    }
    if (rc == CORE_OK && fflush(out) != 0) {
        snprintf(err, err_cap, "cannot write the plaintext: %s", strerror(errno));
        rc = CORE_IO;
    }

    crypto_stream_cleanup(&single);
    crypto_multi_open_cleanup(&multi);
    OPENSSL_cleanse(buf, sizeof(*buf));
    free(buf);
    return rc;
}

/* Writes "DIR/.NAME.s3seal-XXXXXX" for out_path, so that rename stays within one file system. */
static enum core_err temp_path_for(const char *out_path, char *temp, size_t temp_cap, char *err,
                                   size_t err_cap)
{
    const char *slash = strrchr(out_path, '/');
    int dir_len = slash == NULL ? 0 : (int)(slash - out_path + 1);
    const char *base = slash == NULL ? out_path : slash + 1;
    int n;

    if (base[0] == '\0') {
        snprintf(err, err_cap, "--out '%s' names a folder; give a file name", out_path);
        return CORE_CONFIG;
    }
    n = snprintf(temp, temp_cap, "%.*s.%s.s3seal-XXXXXX", dir_len, out_path, base);
    if (n < 0 || (size_t)n >= temp_cap) {
        snprintf(err, err_cap, "--out '%s' is too long", out_path);
        return CORE_TOO_LARGE;
    }
    return CORE_OK;
}

/* Flushes f to disk and closes it; the data must be durable before the rename publishes it. */
static enum core_err close_synced(FILE *f, const char *temp, char *err, size_t err_cap)
{
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;

    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        snprintf(err, err_cap, "cannot write temporary file %s: %s", temp, strerror(errno));
        return CORE_IO;
    }
    return CORE_OK;
}

static FILE *open_input(const char *in_path, char *err, size_t err_cap)
{
    FILE *in = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "rb");

    if (in == NULL) {
        snprintf(err, err_cap, "cannot open --in %s: %s", in_path, strerror(errno));
    }
    return in;
}

enum core_err proxy_admin_decrypt_to_file(const struct crypto_envelope *env,
                                          const uint8_t dek[CRYPTO_DEK_LEN], const char *in_path,
                                          const char *out_path, uint64_t *plain_written, char *err,
                                          size_t err_cap)
{
    char temp[PATH_MAX];
    FILE *in = NULL;
    FILE *out = NULL;
    int fd = -1;
    enum core_err rc;

    *plain_written = 0;
    rc = temp_path_for(out_path, temp, sizeof(temp), err, err_cap);
    if (rc != CORE_OK) {
        return rc;
    }
    in = open_input(in_path, err, err_cap);
    if (in == NULL) {
        return CORE_IO;
    }

    /* mkostemp creates the file with mode 0600, which suits plaintext */
    fd = mkostemp(temp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot create a temporary file next to --out %s: %s", out_path,
                 strerror(errno));
        rc = CORE_IO;
        goto out;
    }
    memcpy(signal_temp_path, temp, sizeof(signal_temp_path));
    signal_temp_path_set = 1;
    out = fdopen(fd, "wb");
    if (out == NULL) {
        snprintf(err, err_cap, "cannot open temporary file %s: %s", temp, strerror(errno));
        close(fd);
        rc = CORE_IO;
        goto out;
    }

    rc = proxy_admin_decrypt_stream(env, dek, in, in_path, out, plain_written, err, err_cap);
    if (rc == CORE_OK) {
        rc = close_synced(out, temp, err, err_cap);
    } else {
        fclose(out);
    }
    out = NULL;
    if (rc == CORE_OK && rename(temp, out_path) != 0) {
        snprintf(err, err_cap, "cannot rename %s to --out %s: %s", temp, out_path, strerror(errno));
        rc = CORE_IO;
    }

out:
    if (fd >= 0 && rc != CORE_OK) {
        unlink(temp);
    }
    signal_temp_path_set = 0;
    if (in != stdin) {
        fclose(in);
    }
    return rc;
}

/* ---- command line ---- */

static void remove_temp_on_signal(int sig)
{
    if (signal_temp_path_set) {
        unlink(signal_temp_path);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signal_cleanup(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = remove_temp_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
}

static void print_inspect_help(FILE *out)
{
    fprintf(out, "Usage: s3seal inspect --metadata FILE\n"
                 "                      [--verify (--key-file FILE | --kms-env) --bucket NAME --key KEY]\n"
                 "\n"
                 "Prints the s3seal envelope of one object from its metadata: format version, single\n"
                 "stream or multipart, KMS id, wrapped key length, commitment, plaintext length and\n"
                 "whether the envelope MAC is present. Key material is never printed.\n"
                 "\n"
                 "  --metadata FILE   JSON with the object's metadata: the output of\n"
                 "                    'aws s3api head-object' against the backend, or a flat object of\n"
                 "                    name to value (names with or without x-amz-meta-). '-' reads\n"
                 "                    standard input.\n"
                 "  --verify          Also unwrap the data key and check the envelope commitment and\n"
                 "                    MAC; prints 'envelope valid' or what failed.\n"
                 "  --key-file FILE   Master key file (see docs/KEYS.md); with --verify, this or --kms-env.\n"
                 "  --kms-env         Use the key providers that S3SEAL_KMS_PROVIDER and the other key\n"
                 "                    settings in the environment name, as s3seal serve does (pkcs11, vault).\n"
                 "  --bucket NAME     Bucket the object is stored in; needed with --verify.\n"
                 "  --key KEY         Object key, not URL-encoded; needed with --verify.\n"
                 "\n"
                 "Exit status: 0 the envelope is well-formed (and valid with --verify), 1 it is\n"
                 "absent, malformed or invalid, or a file cannot be read, 2 usage error.\n");
}

static void print_decrypt_help(FILE *out)
{
    fprintf(out, "Usage: s3seal decrypt (--key-file FILE | --kms-env) --bucket NAME --key KEY\n"
                 "                      --metadata META.json --in OBJECT.bin --out PLAIN.bin [--allow-partial]\n"
                 "\n"
                 "Decrypts one object copied straight from the backend, without a running proxy and\n"
                 "without any setting besides the key file (or the key provider settings). It verifies\n"
                 "the envelope, then every 64 KiB chunk, using about 128 KiB of memory whatever the\n"
                 "object size.\n"
                 "\n"
                 "  --key-file FILE       Master key file that wrapped the object's data key.\n"
                 "  --kms-env             Instead of --key-file, use the key providers that\n"
                 "                        S3SEAL_KMS_PROVIDER and the other key settings in the\n"
                 "                        environment name, as s3seal serve does (pkcs11, vault).\n"
                 "  --bucket NAME         Bucket the object is stored in; the wrapped key is bound to it.\n"
                 "  --key KEY             Object key, not URL-encoded; the wrapped key is bound to it.\n"
                 "  --metadata META.json  The object's metadata, as for 's3seal inspect'.\n"
                 "  --in OBJECT.bin       The stored object bytes ('-' reads standard input).\n"
                 "  --out PLAIN.bin       Where to write the plaintext. It is written to a temporary\n"
                 "                        file (mode 0600) in the same folder and renamed to PLAIN.bin\n"
                 "                        only after the whole object verified, replacing any file\n"
                 "                        there, so a failure leaves no partial plaintext behind.\n"
                 "  --out -               Write to standard output instead. Output already written\n"
                 "                        cannot be taken back when a later chunk fails, so this\n"
                 "                        needs --allow-partial.\n"
                 "  --allow-partial       Accept that --out - may carry verified plaintext of the\n"
                 "                        chunks before a failure; exit status 1 then means: discard it.\n"
                 "\n"
                 "Exit status: 0 decrypted and verified, 1 verification or decryption failed or a\n"
                 "file cannot be read or written, 2 usage error.\n");
}

struct admin_options {
    const char *metadata;
    const char *key_file;
    const char *bucket;
    const char *key;
    const char *in;
    const char *out;
    bool verify;
    bool allow_partial;
    bool kms_env; /* the key providers come from the S3SEAL_* environment, as for s3seal serve */
    const char *key_file_or_env; /* key_file, or "--kms-env" with kms_env */
};

/* Parses the options of both commands; returns 0, 1 for --help, or -1 after printing a usage error. */
static int parse_options(int argc, char **argv, const char *cmd, struct admin_options *o)
{
    static const struct option options[] = {
        {"metadata", required_argument, NULL, 'm'}, {"key-file", required_argument, NULL, 'f'},
        {"bucket", required_argument, NULL, 'b'},   {"key", required_argument, NULL, 'k'},
        {"in", required_argument, NULL, 'i'},       {"out", required_argument, NULL, 'o'},
        {"verify", no_argument, NULL, 'v'},         {"allow-partial", no_argument, NULL, 'p'},
        {"kms-env", no_argument, NULL, 'e'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'm':
            o->metadata = optarg;
            break;
        case 'f':
            o->key_file = optarg;
            break;
        case 'b':
            o->bucket = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'i':
            o->in = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'v':
            o->verify = true;
            break;
        case 'p':
            o->allow_partial = true;
            break;
        case 'e':
            o->kms_env = true;
            break;
        case 'h':
            return 1;
        default:
            fprintf(stderr, "s3seal %s: see 's3seal %s --help'\n", cmd, cmd);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "s3seal %s: unexpected argument '%s'; see 's3seal %s --help'\n", cmd, argv[optind],
                cmd);
        return -1;
    }
    if (o->kms_env && o->key_file != NULL) {
        fprintf(stderr, "s3seal %s: give either --key-file or --kms-env, not both\n", cmd);
        return -1;
    }
    /* --kms-env stands in for --key-file in the checks of required options */
    if (o->kms_env) {
        o->key_file_or_env = "--kms-env";
    } else {
        o->key_file_or_env = o->key_file;
    }
    return 0;
}

/* Prints a usage error for the first required option that is missing or empty; returns false then. */
static bool require_options(const char *cmd, const char *const *names, const char *const *values,
                            size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (values[i] == NULL || values[i][0] == '\0') {
            fprintf(stderr, "s3seal %s: missing %s; see 's3seal %s --help'\n", cmd, names[i], cmd);
            return false;
        }
    }
    return true;
}

/* Loads the key providers of the S3SEAL_* environment settings, as s3seal serve does. */
static enum core_err load_env_providers(struct kms_provider **kms, char *err, size_t err_cap)
{
    struct proxy_config *cfg = NULL;
    enum core_err rc;

    rc = proxy_config_load_kms(&cfg, err, err_cap);
    if (rc == CORE_OK) {
        rc = proxy_kms_load(cfg, kms, err, err_cap);
    }
    proxy_config_free(cfg);
    return rc;
}

/* Loads the key file with its hashed-context twin, so envelopes of either context form open. */
static enum core_err load_key_file(const char *path, struct kms_provider **out, char *err, size_t err_cap)
{
    struct kms_provider *registry = NULL;
    struct kms_provider *keyfile = NULL;
    enum core_err rc;

    *out = NULL;
    CORE_TRY(kms_registry_new(&registry));
    rc = kms_keyfile_load(path, &keyfile, err, err_cap);
    if (rc == CORE_OK) {
        rc = kms_registry_add(registry, keyfile, true);
    }
    if (rc == CORE_OK) {
        rc = kms_registry_add_hashed(registry, false);
    }
    if (rc != CORE_OK) {
        kms_provider_free(registry);
        return rc;
    }
    *out = registry;
    return CORE_OK;
}

/* Loads the key file or providers, unwraps the data key and verifies the envelope; prints the failure. */
static int open_envelope(const char *cmd, const struct admin_options *o, const struct crypto_envelope *env,
                         uint8_t dek[CRYPTO_DEK_LEN])
{
    struct kms_provider *kms = NULL;
    char err[1024] = "";
    enum core_err rc;

    if (o->kms_env) {
        rc = load_env_providers(&kms, err, sizeof(err));
    } else {
        rc = load_key_file(o->key_file, &kms, err, sizeof(err));
    }
    if (rc != CORE_OK) {
        fprintf(stderr, "s3seal %s: %s\n", cmd, err[0] ? err : "cannot load the key providers");
        return PROXY_ADMIN_EXIT_FAILED;
    }
    rc = proxy_admin_envelope_unwrap(env, kms, o->bucket, o->key, dek, err, sizeof(err));
    kms_provider_free(kms);
    if (rc == CORE_OK) {
        rc = proxy_admin_envelope_verify(env, dek, o->bucket, o->key, err, sizeof(err));
    }
    if (rc != CORE_OK) {
        OPENSSL_cleanse(dek, CRYPTO_DEK_LEN);
        fprintf(stderr, "s3seal %s: envelope invalid: %s\n", cmd, err[0] ? err : core_err_str(rc));
        return PROXY_ADMIN_EXIT_FAILED;
    }
    return PROXY_ADMIN_EXIT_OK;
}

static int inspect_verify(struct proxy_admin_meta *meta, const struct admin_options *o)
{
    struct crypto_envelope env = {0};
    uint8_t dek[CRYPTO_DEK_LEN] = {0};
    char err[1024] = "";
    int status;

    if (proxy_admin_envelope_parse(meta, &env, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal inspect: envelope invalid: %s\n", err);
        return PROXY_ADMIN_EXIT_FAILED;
    }
    status = open_envelope("inspect", o, &env, dek);
    if (status == PROXY_ADMIN_EXIT_OK) {
        printf("envelope valid\n");
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(&env, sizeof(env));
    return status;
}

int proxy_admin_inspect_main(int argc, char **argv)
{
    static const char *const names[] = {"--metadata", "--key-file (or --kms-env)", "--bucket", "--key"};
    struct admin_options o;
    struct proxy_admin_meta *meta = NULL;
    char err[1024] = "";
    int status;
    int parsed = parse_options(argc, argv, "inspect", &o);

    /* the key file provider logs a notice on load, which is noise in a command's output */
    core_log_set_level(CORE_LOG_WARN);

    /* a usage error has been printed with a pointer to --help, as every command does */
    if (parsed != 0) {
        if (parsed > 0) {
            print_inspect_help(stdout);
        }
        return parsed > 0 ? PROXY_ADMIN_EXIT_OK : PROXY_ADMIN_EXIT_USAGE;
    }
    const char *const values[] = {o.metadata, o.key_file_or_env, o.bucket, o.key};
    if (!require_options("inspect", names, values, o.verify ? 4 : 1)) {
        return PROXY_ADMIN_EXIT_USAGE;
    }
    if (!o.verify && (o.key_file_or_env != NULL || o.bucket != NULL || o.key != NULL)) {
        fprintf(stderr, "s3seal inspect: --key-file, --kms-env, --bucket and --key are used only with --verify\n");
        return PROXY_ADMIN_EXIT_USAGE;
    }

    if (proxy_admin_meta_load(o.metadata, &meta, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal inspect: %s\n", err[0] ? err : "cannot read the metadata");
        return PROXY_ADMIN_EXIT_FAILED;
    }
    status =
        proxy_admin_inspect_print(meta, stdout) == CORE_OK ? PROXY_ADMIN_EXIT_OK : PROXY_ADMIN_EXIT_FAILED;
    if (status == PROXY_ADMIN_EXIT_OK && o.verify) {
        status = inspect_verify(meta, &o);
    }
    proxy_admin_meta_free(meta);
    return status;
}

/* Checks the option combinations of decrypt; prints the usage error and returns false when one is invalid. */
static bool check_decrypt_options(const struct admin_options *o)
{
    static const char *const names[] = {"--key-file (or --kms-env)", "--bucket", "--key", "--metadata", "--in",
                                        "--out"};
    const char *const values[] = {o->key_file_or_env, o->bucket, o->key, o->metadata, o->in, o->out};

    if (!require_options("decrypt", names, values, 6)) {
        return false;
    }
    if (o->verify) {
        fprintf(stderr, "s3seal decrypt: --verify belongs to 's3seal inspect'; decrypt always verifies\n");
        return false;
    }
    if (strcmp(o->in, "-") == 0 && strcmp(o->metadata, "-") == 0) {
        fprintf(stderr, "s3seal decrypt: --in and --metadata cannot both read standard input\n");
        return false;
    }
    if (strcmp(o->out, "-") == 0 && !o->allow_partial) {
        fprintf(stderr, "s3seal decrypt: --out - needs --allow-partial, because plaintext already written to "
                        "standard output cannot be withdrawn when a later chunk fails verification; give a "
                        "file name to get all or nothing\n");
        return false;
    }
    return true;
}

/* Decrypts with a verified envelope to --out; prints the outcome. */
static int decrypt_verified(const struct admin_options *o, const struct crypto_envelope *env,
                            const uint8_t dek[CRYPTO_DEK_LEN])
{
    char err[1024] = "";
    uint64_t written = 0;
    enum core_err rc;

    if (strcmp(o->out, "-") == 0) {
        FILE *in = open_input(o->in, err, sizeof(err));
        rc = in == NULL ? CORE_IO
                        : proxy_admin_decrypt_stream(env, dek, in, o->in, stdout, &written, err, sizeof(err));
        if (in != NULL && in != stdin) {
            fclose(in);
        }
        if (rc != CORE_OK) {
            fprintf(stderr,
                    "s3seal decrypt: %s; discard the %" PRIu64 " bytes already written to standard output\n",
                    err, written);
        }
    } else {
        rc = proxy_admin_decrypt_to_file(env, dek, o->in, o->out, &written, err, sizeof(err));
        if (rc != CORE_OK) {
            fprintf(stderr, "s3seal decrypt: %s; no output written to %s\n", err, o->out);
        } else {
            fprintf(stderr, "s3seal decrypt: wrote %" PRIu64 " verified bytes to %s\n", written, o->out);
        }
    }
    return rc == CORE_OK ? PROXY_ADMIN_EXIT_OK : PROXY_ADMIN_EXIT_FAILED;
}

int proxy_admin_decrypt_main(int argc, char **argv)
{
    struct admin_options o;
    struct proxy_admin_meta *meta = NULL;
    struct crypto_envelope env = {0};
    uint8_t dek[CRYPTO_DEK_LEN] = {0};
    char err[1024] = "";
    int status = PROXY_ADMIN_EXIT_FAILED;
    int parsed = parse_options(argc, argv, "decrypt", &o);

    core_log_set_level(CORE_LOG_WARN);

    if (parsed != 0) {
        if (parsed > 0) {
            print_decrypt_help(stdout);
        }
        return parsed > 0 ? PROXY_ADMIN_EXIT_OK : PROXY_ADMIN_EXIT_USAGE;
    }
    if (!check_decrypt_options(&o)) {
        return PROXY_ADMIN_EXIT_USAGE;
    }
    install_signal_cleanup();

    if (proxy_admin_meta_load(o.metadata, &meta, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal decrypt: %s\n", err[0] ? err : "cannot read the metadata");
        return PROXY_ADMIN_EXIT_FAILED;
    }
    if (proxy_admin_envelope_parse(meta, &env, err, sizeof(err)) != CORE_OK) {
        fprintf(stderr, "s3seal decrypt: envelope invalid: %s (--metadata %s)\n", err, o.metadata);
        goto out;
    }
    status = open_envelope("decrypt", &o, &env, dek);
    if (status == PROXY_ADMIN_EXIT_OK) {
        status = decrypt_verified(&o, &env, dek);
    }

out:
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(&env, sizeof(env));
    proxy_admin_meta_free(meta);
    return status;
}
