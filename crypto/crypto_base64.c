/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict standard base64 with padding, written here because OpenSSL's
 * EVP_DecodeBlock accepts whitespace and non-canonical trailing bits.
 */
#include "crypto/crypto_base64.h"

#include <stdbool.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Returns the 6-bit value of c, or -1 when c is not in the alphabet. */
static int sextet(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

enum core_err crypto_base64_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap,
                                   size_t *out_len)
{
    size_t need = CRYPTO_BASE64_ENCODED_LEN(in_len);
    size_t o = 0;

    CORE_ENSURE(in_len <= (SIZE_MAX - 3) / 4 * 3, CORE_INTERNAL);
    CORE_ENSURE(out_cap > need, CORE_INTERNAL);

    for (size_t i = 0; i < in_len; i += 3) {
        size_t left = in_len - i;
        uint32_t group = (uint32_t)in[i] << 16;

        if (left > 1) {
            group |= (uint32_t)in[i + 1] << 8;
        }
        if (left > 2) {
            group |= in[i + 2];
        }
        out[o++] = alphabet[(group >> 18) & 0x3f];
        out[o++] = alphabet[(group >> 12) & 0x3f];
        out[o++] = left > 1 ? alphabet[(group >> 6) & 0x3f] : '=';
        out[o++] = left > 2 ? alphabet[group & 0x3f] : '=';
    }
    out[o] = '\0';
    *out_len = o;
    return CORE_OK;
}

/*
 * Decodes one group of four characters into up to three bytes. Padding is
 * accepted only in the last group, as "x=" or "xx" followed by "==" / "=".
 */
static enum core_err decode_group(const char *in, bool last, uint8_t bytes[3], size_t *count)
{
    int v[4];
    size_t pad = 0;

    if (last && in[3] == '=') {
        pad = in[2] == '=' ? 2 : 1;
    }
    for (size_t j = 0; j < 4 - pad; j++) {
        v[j] = sextet(in[j]);
        CORE_ENSURE(v[j] >= 0, CORE_CRYPTO);
    }
    for (size_t j = 4 - pad; j < 4; j++) {
        v[j] = 0;
    }

    /* canonical form: the bits that padding drops must be zero */
    CORE_ENSURE(pad != 2 || (v[1] & 0x0f) == 0, CORE_CRYPTO);
    CORE_ENSURE(pad != 1 || (v[2] & 0x03) == 0, CORE_CRYPTO);

    uint32_t group = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
    bytes[0] = (uint8_t)(group >> 16);
    bytes[1] = (uint8_t)(group >> 8);
    bytes[2] = (uint8_t)group;
    *count = 3 - pad;
    return CORE_OK;
}

enum core_err crypto_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
                                   size_t *out_len)
{
    size_t o = 0;

    CORE_ENSURE(in_len % 4 == 0, CORE_CRYPTO);

    for (size_t i = 0; i < in_len; i += 4) {
        uint8_t bytes[3];
        size_t count = 0;

        CORE_TRY(decode_group(in + i, i + 4 == in_len, bytes, &count));
        CORE_ENSURE(out_cap - o >= count, CORE_TOO_LARGE);
        for (size_t j = 0; j < count; j++) {
            out[o++] = bytes[j];
        }
    }
    *out_len = o;
    return CORE_OK;
}
