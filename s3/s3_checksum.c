/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checksums of the S3 flexible checksum feature. CRC32 comes from zlib,
 * CRC32C and CRC64NVME from slicing-by-8 tables built once per process,
 * SHA-1 and SHA-256 from OpenSSL EVP.
 */
#include "s3/s3_checksum.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <zlib.h>

#define CRC32C_POLY 0x82F63B78u
#define CRC64NVME_POLY 0x9A6C9329AC4BC9B5ull

struct alg_names {
    enum s3_checksum_alg alg;
    const char *name;   /* as in x-amz-checksum-algorithm */
    const char *header; /* lower-case header and trailer name */
};

static const struct alg_names alg_names[] = {
    {S3_CHECKSUM_CRC32, "CRC32", "x-amz-checksum-crc32"},
    {S3_CHECKSUM_CRC32C, "CRC32C", "x-amz-checksum-crc32c"},
    {S3_CHECKSUM_CRC64NVME, "CRC64NVME", "x-amz-checksum-crc64nvme"},
    {S3_CHECKSUM_SHA1, "SHA1", "x-amz-checksum-sha1"},
    {S3_CHECKSUM_SHA256, "SHA256", "x-amz-checksum-sha256"},
};

#define ALG_COUNT (sizeof(alg_names) / sizeof(alg_names[0]))

/* table[k][b] is the CRC of byte b followed by k zero bytes, for slicing-by-8 */
static uint32_t crc32c_table[8][256];
static uint64_t crc64_table[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (unsigned b = 0; b < 256; b++) {
        uint32_t c32 = b;
        uint64_t c64 = b;

        for (int bit = 0; bit < 8; bit++) {
            c32 = (c32 >> 1) ^ ((c32 & 1u) ? CRC32C_POLY : 0);
            c64 = (c64 >> 1) ^ ((c64 & 1u) ? CRC64NVME_POLY : 0);
        }
        crc32c_table[0][b] = c32;
        crc64_table[0][b] = c64;
    }
    for (unsigned b = 0; b < 256; b++) {
        for (int k = 1; k < 8; k++) {
            uint32_t p32 = crc32c_table[k - 1][b];
            uint64_t p64 = crc64_table[k - 1][b];

            crc32c_table[k][b] = (p32 >> 8) ^ crc32c_table[0][p32 & 0xff];
            crc64_table[k][b] = (p64 >> 8) ^ crc64_table[0][p64 & 0xff];
        }
    }
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* crc is the register value, already inverted at init; the caller inverts again at the end. */
static uint32_t crc32c_update(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint64_t v = load_le64(p) ^ crc;

        crc = crc32c_table[7][v & 0xff] ^ crc32c_table[6][(v >> 8) & 0xff] ^
              crc32c_table[5][(v >> 16) & 0xff] ^ crc32c_table[4][(v >> 24) & 0xff] ^
              crc32c_table[3][(v >> 32) & 0xff] ^ crc32c_table[2][(v >> 40) & 0xff] ^
              crc32c_table[1][(v >> 48) & 0xff] ^ crc32c_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0) {
        crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
    }
    return crc;
}

static uint64_t crc64_update(uint64_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint64_t v = load_le64(p) ^ crc;

        crc = crc64_table[7][v & 0xff] ^ crc64_table[6][(v >> 8) & 0xff] ^ crc64_table[5][(v >> 16) & 0xff] ^
              crc64_table[4][(v >> 24) & 0xff] ^ crc64_table[3][(v >> 32) & 0xff] ^
              crc64_table[2][(v >> 40) & 0xff] ^ crc64_table[1][(v >> 48) & 0xff] ^ crc64_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0) {
        crc = (crc >> 8) ^ crc64_table[0][(crc ^ *p++) & 0xff];
    }
    return crc;
}

static const EVP_MD *digest_of(enum s3_checksum_alg alg)
{
    return alg == S3_CHECKSUM_SHA1 ? EVP_sha1() : EVP_sha256();
}

enum core_err s3_checksum_init(struct s3_checksum *c, enum s3_checksum_alg alg)
{
    memset(c, 0, sizeof(*c));
    switch (alg) {
    case S3_CHECKSUM_CRC32:
        c->crc32 = (uint32_t)crc32(0L, Z_NULL, 0);
        break;
    case S3_CHECKSUM_CRC32C:
        pthread_once(&tables_once, build_tables);
        c->crc32 = 0xFFFFFFFFu;
        break;
    case S3_CHECKSUM_CRC64NVME:
        pthread_once(&tables_once, build_tables);
        c->crc64 = ~0ull;
        break;
    case S3_CHECKSUM_SHA1:
    case S3_CHECKSUM_SHA256:
        c->md_ctx = EVP_MD_CTX_new();
        CORE_ENSURE(c->md_ctx != NULL, CORE_NOMEM);
        CORE_ENSURE(EVP_DigestInit_ex(c->md_ctx, digest_of(alg), NULL) == 1, CORE_CRYPTO);
        break;
    case S3_CHECKSUM_NONE:
    default:
        return CORE_INTERNAL;
    }
    c->alg = alg;
    return CORE_OK;
}

enum core_err s3_checksum_update(struct s3_checksum *c, const uint8_t *data, size_t len)
{
    if (len == 0) {
        return CORE_OK;
    }
    switch (c->alg) {
    case S3_CHECKSUM_CRC32:
        /* zlib takes a uInt length, so large buffers go in slices */
        while (len > 0) {
            uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

            c->crc32 = (uint32_t)crc32(c->crc32, data, n);
            data += n;
            len -= n;
        }
        return CORE_OK;
    case S3_CHECKSUM_CRC32C:
        c->crc32 = crc32c_update(c->crc32, data, len);
        return CORE_OK;
    case S3_CHECKSUM_CRC64NVME:
        c->crc64 = crc64_update(c->crc64, data, len);
        return CORE_OK;
    case S3_CHECKSUM_SHA1:
    case S3_CHECKSUM_SHA256:
        return EVP_DigestUpdate(c->md_ctx, data, len) == 1 ? CORE_OK : CORE_CRYPTO;
    case S3_CHECKSUM_NONE:
    default:
        return CORE_INTERNAL;
    }
}

static void put_be(uint8_t *out, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[n - 1 - i] = (uint8_t)(v >> (8 * i));
    }
}

/* Writes the raw checksum bytes into raw and their count into *n. */
static enum core_err final_raw(struct s3_checksum *c, uint8_t raw[EVP_MAX_MD_SIZE], size_t *n)
{
    unsigned md_len = 0;

    switch (c->alg) {
    case S3_CHECKSUM_CRC32:
        put_be(raw, c->crc32, 4);
        *n = 4;
        return CORE_OK;
    case S3_CHECKSUM_CRC32C:
        put_be(raw, c->crc32 ^ 0xFFFFFFFFu, 4);
        *n = 4;
        return CORE_OK;
    case S3_CHECKSUM_CRC64NVME:
        put_be(raw, ~c->crc64, 8);
        *n = 8;
        return CORE_OK;
    case S3_CHECKSUM_SHA1:
    case S3_CHECKSUM_SHA256:
        CORE_ENSURE(EVP_DigestFinal_ex(c->md_ctx, raw, &md_len) == 1, CORE_CRYPTO);
        *n = md_len;
        return CORE_OK;
    case S3_CHECKSUM_NONE:
    default:
        return CORE_INTERNAL;
    }
}

enum core_err s3_checksum_final_base64(struct s3_checksum *c, char *out, size_t cap)
{
    uint8_t raw[EVP_MAX_MD_SIZE];
    size_t n = 0;

    CORE_TRY(final_raw(c, raw, &n));
    CORE_ENSURE(cap >= 4 * ((n + 2) / 3) + 1, CORE_TOO_LARGE);
    EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
    return CORE_OK;
}

void s3_checksum_cleanup(struct s3_checksum *c)
{
    if (c == NULL) {
        return;
    }
    EVP_MD_CTX_free(c->md_ctx);
    memset(c, 0, sizeof(*c));
}

enum s3_checksum_alg s3_checksum_alg_from_header(const char *name, size_t len)
{
    for (size_t i = 0; i < ALG_COUNT; i++) {
        if (strlen(alg_names[i].header) == len && strncasecmp(alg_names[i].header, name, len) == 0) {
            return alg_names[i].alg;
        }
    }
    return S3_CHECKSUM_NONE;
}

enum s3_checksum_alg s3_checksum_alg_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < ALG_COUNT; i++) {
        if (strlen(alg_names[i].name) == len && strncasecmp(alg_names[i].name, name, len) == 0) {
            return alg_names[i].alg;
        }
    }
    return S3_CHECKSUM_NONE;
}

const char *s3_checksum_header_name(enum s3_checksum_alg alg)
{
    for (size_t i = 0; i < ALG_COUNT; i++) {
        if (alg_names[i].alg == alg) {
            return alg_names[i].header;
        }
    }
    return NULL;
}
