/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the metadata JSON of "s3seal inspect" and "s3seal
 * decrypt". proxy_admin_meta_parse reads the whole input, which is
 * head-object output or a flat name to value object. Then come the lookups,
 * the stored size, the readable envelope that inspect prints (into a memory
 * stream, not a file) and proxy_admin_envelope_parse. inspect and decrypt
 * must agree on whether the envelope is well-formed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_admin.h"

static void check_lookups(struct proxy_admin_meta *meta)
{
    static const char *const names[] = {CRYPTO_META_VERSION,    CRYPTO_META_KMS,    CRYPTO_META_DEK,
                                        CRYPTO_META_COMMITMENT, CRYPTO_META_LENGTH, CRYPTO_META_MULTIPART,
                                        CRYPTO_META_MAC};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *value = proxy_admin_meta_lookup(meta, names[i]);

        /* reading the whole value lets ASan check that it is a live, NUL-terminated string */
        if (value != NULL && strlen(value) > PROXY_ADMIN_META_FILE_MAX) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_admin_meta *meta = NULL;
    struct crypto_envelope env;
    char err[512] = "";
    uint64_t stored = 0;
    char *printed = NULL;
    size_t printed_len = 0;
    FILE *out;
    enum core_err inspect_rc;
    enum core_err parse_rc;

    if (proxy_admin_meta_parse((const char *)data, size, "fuzz input", &meta, err, sizeof(err)) != CORE_OK) {
        if (meta != NULL || memchr(err, '\0', sizeof(err)) == NULL) {
            abort();
        }
        return 0;
    }
    check_lookups(meta);
    (void)proxy_admin_meta_stored_size(meta, &stored);

    out = open_memstream(&printed, &printed_len);
    if (out == NULL) {
        proxy_admin_meta_free(meta);
        return 0;
    }
    inspect_rc = proxy_admin_inspect_print(meta, out);
    fclose(out);
    free(printed);

    parse_rc = proxy_admin_envelope_parse(meta, &env, err, sizeof(err));
    if ((inspect_rc == CORE_OK) != (parse_rc == CORE_OK)) {
        abort();
    }
    proxy_admin_meta_free(meta);
    return 0;
}
