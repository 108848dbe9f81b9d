/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the object envelope: crypto_envelope_is_present,
 * crypto_envelope_parse and crypto_envelope_verify, with the metadata
 * lookup served from the input. The input is lines of "name:value"; the
 * first line with a name (compared ignoring case, as HTTP header names are)
 * gives its value. An envelope that verifies under the fixed data key must
 * be exactly the one crypto_envelope_seal writes for its fields, so the MAC
 * leaves no field malleable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto_envelope.h"
#include "fuzz_fixtures.h"

#define MAX_FIELDS 16

struct metadata {
    const char *names[MAX_FIELDS];
    const char *values[MAX_FIELDS];
    size_t count;
};

static const char *lookup(void *arg, const char *name)
{
    const struct metadata *meta = arg;

    for (size_t i = 0; i < meta->count; i++) {
        if (strcasecmp(meta->names[i], name) == 0) {
            return meta->values[i];
        }
    }
    return NULL;
}

/* Splits text in place into lines of name:value; lines without a colon are skipped. */
static void split_fields(char *text, struct metadata *meta)
{
    char *line = text;

    meta->count = 0;
    while (line != NULL && meta->count < MAX_FIELDS) {
        char *next = strchr(line, '\n');
        char *colon;

        if (next != NULL) {
            *next++ = '\0';
        }
        colon = strchr(line, ':');
        if (colon != NULL) {
            *colon = '\0';
            meta->names[meta->count] = line;
            meta->values[meta->count] = colon + 1;
            meta->count++;
        }
        line = next;
    }
}

static void check_field(struct metadata *meta, const char *name, const char *expected)
{
    const char *value = lookup(meta, name);

    if (value == NULL || strcmp(value, expected) != 0) {
        abort();
    }
}

/* Seals the parsed fields again and requires the same metadata values. */
static void check_canonical(struct metadata *meta, const struct crypto_envelope *env)
{
    static const char bucket[] = FUZZ_BUCKET;
    static const char key[] = FUZZ_KEY;
    struct crypto_envelope_headers sealed;
    enum core_err err;

    if (env->multipart) {
        err = crypto_envelope_seal_multipart(fuzz_dek, env->kms, env->wrapped, env->wrapped_len, bucket,
                                             sizeof(bucket) - 1, key, sizeof(key) - 1, &sealed);
    } else {
        err = crypto_envelope_seal(fuzz_dek, env->kms, env->wrapped, env->wrapped_len, env->plain_len, bucket,
                                   sizeof(bucket) - 1, key, sizeof(key) - 1, &sealed);
    }
    if (err != CORE_OK) {
        abort();
    }
    check_field(meta, CRYPTO_META_VERSION, sealed.version);
    check_field(meta, CRYPTO_META_KMS, sealed.kms);
    check_field(meta, CRYPTO_META_DEK, sealed.dek);
    check_field(meta, CRYPTO_META_COMMITMENT, sealed.commitment);
    check_field(meta, CRYPTO_META_MAC, sealed.mac);
    check_field(meta, env->multipart ? CRYPTO_META_MULTIPART : CRYPTO_META_LENGTH,
                env->multipart ? sealed.multipart : sealed.length);
}

static void check_parsed(const struct crypto_envelope *env)
{
    size_t kms_len = strnlen(env->kms, sizeof(env->kms));

    if (kms_len == 0 || kms_len >= sizeof(env->kms) || env->wrapped_len == 0 ||
        env->wrapped_len > CRYPTO_WRAPPED_MAX || (env->multipart && env->plain_len != 0)) {
        abort();
    }
    for (size_t i = 0; i < kms_len; i++) {
        if (env->kms[i] < 0x20 || env->kms[i] > 0x7e) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char bucket[] = FUZZ_BUCKET;
    static const char key[] = FUZZ_KEY;
    char *text = malloc(size + 1);
    struct metadata meta;
    struct crypto_envelope env;

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    split_fields(text, &meta);

    if (crypto_envelope_is_present(lookup, &meta) && crypto_envelope_parse(lookup, &meta, &env) == CORE_OK) {
        check_parsed(&env);
        if (crypto_envelope_verify(&env, fuzz_dek, bucket, sizeof(bucket) - 1, key, sizeof(key) - 1) ==
            CORE_OK) {
            check_canonical(&meta, &env);
        }
    }
    free(text);
    return 0;
}
