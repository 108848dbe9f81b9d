/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the known-answer vectors of format version 1 to the file named on
 * the command line (normally tests/vectors/format-v1.json).
 * Usage: crypto_gen_vectors OUTPUT.json
 */
#include <stdio.h>

#include "core/core_err.h"
#include "vectors_write.h"

int main(int argc, char **argv)
{
    FILE *out = NULL;
    enum core_err err = CORE_OK;

    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT.json\n", argv[0]);
        return 2;
    }
    out = fopen(argv[1], "w");
    if (out == NULL) {
        perror(argv[1]);
        return 1;
    }
    err = vectors_write(out);
    if (fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    if (err != CORE_OK) {
        fprintf(stderr, "generating vectors failed: %s\n", core_err_str(err));
        return 1;
    }
    return 0;
}
