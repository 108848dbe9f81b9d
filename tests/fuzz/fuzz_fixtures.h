/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixed keys and names shared by the crypto fuzz targets and make_seeds.c,
 * which writes their seed corpora: seeds sealed under this key are what lets
 * a target reach the code after a successful tag or MAC check.
 */
#ifndef FUZZ_FIXTURES_H
#define FUZZ_FIXTURES_H

#include <stdint.h>

/* the data key of every sealed seed */
static const uint8_t fuzz_dek[32] = {0x46, 0x55, 0x5a, 0x5a, 0x20, 0x64, 0x61, 0x74, 0x61, 0x20, 0x6b,
                                     0x65, 0x79, 0x20, 0x66, 0x6f, 0x72, 0x20, 0x73, 0x33, 0x73, 0x65,
                                     0x61, 0x6c, 0x20, 0x73, 0x65, 0x65, 0x64, 0x73, 0x21, 0x0a};

/* the bucket and object key an envelope seed is sealed for */
#define FUZZ_BUCKET "fuzz-bucket"
#define FUZZ_KEY "photos/2026/seed.jpg"

#endif
