/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal checks for the s3 unit tests: a failed check prints file, line and
 * expression, and test_finish makes main return 1.
 */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(expr)                                                                                          \
    do {                                                                                                     \
        test_checks++;                                                                                       \
        if (!(expr)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);                         \
            test_failures++;                                                                                 \
        }                                                                                                    \
    } while (0)

/* Compares two NUL-terminated strings and prints both on a mismatch. */
#define CHECK_STR(actual, expected)                                                                          \
    do {                                                                                                     \
        const char *check_a_ = (actual);                                                                     \
        const char *check_e_ = (expected);                                                                   \
        test_checks++;                                                                                       \
        if (check_a_ == NULL || strcmp(check_a_, check_e_) != 0) {                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n  actual:   %s\n  expected: %s\n", __FILE__, __LINE__, \
                    #actual, check_a_ ? check_a_ : "(null)", check_e_);                                      \
            test_failures++;                                                                                 \
        }                                                                                                    \
    } while (0)

/* Checks that haystack is not NULL and contains (or lacks, or starts with) needle. */
#define CHECK_CONTAINS(haystack, needle) check_text(__FILE__, __LINE__, (haystack), (needle), TEXT_CONTAINS)
#define CHECK_LACKS(haystack, needle)    check_text(__FILE__, __LINE__, (haystack), (needle), TEXT_LACKS)
#define CHECK_PREFIX(haystack, needle)   check_text(__FILE__, __LINE__, (haystack), (needle), TEXT_PREFIX)

enum text_check { TEXT_CONTAINS, TEXT_LACKS, TEXT_PREFIX };

static inline void check_text(const char *file, int line, const char *haystack, const char *needle,
                              enum text_check kind)
{
    static const char *const verbs[] = {"contain", "lack", "start with"};
    bool ok = false;

    test_checks++;
    if (haystack != NULL) {
        const char *found = strstr(haystack, needle);

        ok = (kind == TEXT_CONTAINS && found != NULL) || (kind == TEXT_LACKS && found == NULL) ||
             (kind == TEXT_PREFIX && found == haystack);
    }
    if (!ok) {
        fprintf(stderr, "%s:%d: check failed: text does not %s\n  text:   %s\n  needle: %s\n", file, line,
                verbs[kind], haystack ? haystack : "(null)", needle);
        test_failures++;
    }
}

#define RUN_TEST(fn)                                                                                         \
    do {                                                                                                     \
        int before_ = test_failures;                                                                         \
        fn();                                                                                                \
        printf("%s %s\n", test_failures == before_ ? "ok  " : "FAIL", #fn);                                  \
    } while (0)

static int test_finish(void)
{
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures == 0 ? 0 : 1;
}

#endif
