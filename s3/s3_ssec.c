/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of SSE-C request headers; see s3_ssec.h. */
#include "s3/s3_ssec.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto_base64.h"

#define OBJECT_PREFIX "x-amz-server-side-encryption-customer-"
#define COPY_PREFIX "x-amz-copy-source-server-side-encryption-customer-"

/* Finds the header prefix + suffix, such as the object set's "key-md5". */
static const struct s3_header *find(const struct s3_request *req, const char *prefix, const char *suffix)
{
    char name[96];

    snprintf(name, sizeof(name), "%s%s", prefix, suffix);
    return s3_request_find_header(req, name);
}

/* Decodes a base64 header value of exactly len bytes. */
static bool decode_exact(const struct s3_header *h, uint8_t *out, size_t len)
{
    uint8_t buf[64];
    size_t got = 0;
    bool ok = h->value_len <= CRYPTO_BASE64_ENCODED_LEN(sizeof(buf)) &&
              crypto_base64_decode(h->value, h->value_len, buf, sizeof(buf), &got) == CORE_OK && got == len;

    if (ok) {
        memcpy(out, buf, len);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

static bool md5_matches(const uint8_t key[S3_SSEC_KEY_LEN], const uint8_t expected[16])
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    return EVP_Digest(key, S3_SSEC_KEY_LEN, digest, &len, EVP_md5(), NULL) == 1 && len == 16 &&
           CRYPTO_memcmp(digest, expected, 16) == 0;
}

enum core_err s3_ssec_parse(const struct s3_request *req, enum s3_ssec_kind kind, struct s3_ssec *out,
                            const char **message)
{
    const char *prefix = kind == S3_SSEC_OBJECT ? OBJECT_PREFIX : COPY_PREFIX;
    const struct s3_header *algorithm = find(req, prefix, "algorithm");
    const struct s3_header *key = find(req, prefix, "key");
    const struct s3_header *md5 = find(req, prefix, "key-md5");
    uint8_t expected_md5[16];

    memset(out, 0, sizeof(*out));
    *message = NULL;
    if (algorithm == NULL && key == NULL && md5 == NULL) {
        return CORE_OK;
    }
    if (algorithm == NULL || key == NULL || md5 == NULL) {
        *message = "SSE-C needs the customer algorithm, key and key MD5 headers together";
        return CORE_CLIENT;
    }
    if (algorithm->value_len != 6 || strncasecmp(algorithm->value, "AES256", 6) != 0) {
        *message = "the SSE-C customer algorithm must be AES256";
        return CORE_CLIENT;
    }
    if (!decode_exact(key, out->key, S3_SSEC_KEY_LEN)) {
        *message = "the SSE-C customer key must be the base64 encoding of 32 bytes";
        s3_ssec_wipe(out);
        return CORE_CLIENT;
    }
    if (md5->value_len >= sizeof(out->key_md5) || !decode_exact(md5, expected_md5, sizeof(expected_md5)) ||
        !md5_matches(out->key, expected_md5)) {
        *message = "the SSE-C customer key MD5 does not match the key";
        s3_ssec_wipe(out);
        return CORE_CLIENT;
    }
    memcpy(out->key_md5, md5->value, md5->value_len);
    out->key_md5[md5->value_len] = '\0';
    out->present = true;
    return CORE_OK;
}

bool s3_ssec_is_header(const char *name, size_t name_len)
{
    return (name_len > strlen(OBJECT_PREFIX) && strncasecmp(name, OBJECT_PREFIX, strlen(OBJECT_PREFIX)) == 0) ||
           (name_len > strlen(COPY_PREFIX) && strncasecmp(name, COPY_PREFIX, strlen(COPY_PREFIX)) == 0);
}

void s3_ssec_wipe(struct s3_ssec *ssec)
{
    OPENSSL_cleanse(ssec, sizeof(*ssec));
}
