/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard base64 (RFC 4648 section 4, with padding) for the envelope fields
 * that s3seal stores in object metadata. Decoding is strict so that every
 * stored value has exactly one accepted spelling.
 */
#ifndef CRYPTO_BASE64_H
#define CRYPTO_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

/* Characters of the encoding of n bytes, without the terminating NUL. */
#define CRYPTO_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/*
 * Encodes in_len bytes of in as padded base64 into out and appends a NUL.
 * out_cap must be at least CRYPTO_BASE64_ENCODED_LEN(in_len) + 1, otherwise
 * returns CORE_INTERNAL and writes nothing. *out_len receives the number of
 * characters written, not counting the NUL.
 */
enum core_err crypto_base64_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap,
                                   size_t *out_len) CORE_WARN_UNUSED;

/*
 * Decodes in_len characters of padded base64 into out. Returns CORE_CRYPTO
 * when the input is not the canonical encoding of a byte string. Rejected
 * are lengths that are not a multiple of 4, characters outside the alphabet
 * (whitespace and the URL-safe "-" and "_" too), misplaced padding, and
 * nonzero unused bits in the last group. Returns CORE_TOO_LARGE when the
 * decoded bytes do not fit in out_cap. out may be partly written on failure.
 */
enum core_err crypto_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
                                   size_t *out_len) CORE_WARN_UNUSED;

#endif
