/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal checks for the crypto unit tests: a failed CHECK prints where and what, and main returns 1. */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdio.h>

static int test_failures;

#define CHECK(expr)                                                                                          \
    do {                                                                                                     \
        if (!(expr)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);                         \
            test_failures++;                                                                                 \
        }                                                                                                    \
    } while (0)

/* Runs one test function and prints its name when it added failures. */
#define RUN(test)                                                                                            \
    do {                                                                                                     \
        int before_ = test_failures;                                                                         \
        test();                                                                                              \
        fprintf(stderr, "%s %s\n", test_failures == before_ ? "ok  " : "FAIL", #test);                       \
    } while (0)

#define TEST_RESULT() (test_failures == 0 ? 0 : 1)

#endif
