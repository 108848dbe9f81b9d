/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regenerates the known-answer vectors with crypto/ and compares them byte
 * for byte with the checked-in tests/vectors/format-v1.json, so that any
 * change to the bytes the format produces fails here.
 * Usage: test_crypto_vectors PATH/format-v1.json
 */
#include <stdlib.h>
#include <string.h>

#include "test_check.h"
#include "vectors_write.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size = 0;

    if (f == NULL) {
        perror(path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* Prints the first line where the two documents differ, so that a failure points at one field. */
static void report_first_difference(const char *want, size_t want_len, const char *got, size_t got_len)
{
    size_t i = 0;
    size_t line = 1;

    while (i < want_len && i < got_len && want[i] == got[i]) {
        line += want[i] == '\n';
        i++;
    }
    fprintf(stderr, "generated vectors differ from the checked-in file at line %zu, byte %zu\n", line, i);
}

static void test_vectors_match_checked_in_file(const char *path)
{
    size_t want_len = 0;
    char *want = read_file(path, &want_len);
    char *got = NULL;
    size_t got_len = 0;
    FILE *mem = open_memstream(&got, &got_len);

    CHECK(want != NULL);
    CHECK(mem != NULL);
    if (want == NULL || mem == NULL) {
        free(want);
        return;
    }
    CHECK(vectors_write(mem) == CORE_OK);
    CHECK(fclose(mem) == 0);
    CHECK(got_len == want_len);
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        report_first_difference(want, want_len, got, got_len);
        CHECK(!"vectors identical");
    }
    free(want);
    free(got);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/format-v1.json\n", argv[0]);
        return 2;
    }
    test_vectors_match_checked_in_file(argv[1]);
    fprintf(stderr, "%s test_vectors_match_checked_in_file\n", test_failures == 0 ? "ok  " : "FAIL");
    return TEST_RESULT();
}
