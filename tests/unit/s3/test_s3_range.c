/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for the Range header parser and its resolution against an object size. */
#include "s3/s3_range.h"

#include "test_check.h"

static void parse(const char *value, struct s3_range *out)
{
    s3_range_parse(value, strlen(value), out);
}

static void test_range_parse_forms(void)
{
    struct s3_range r;

    parse("bytes=0-99", &r);
    CHECK(r.kind == S3_RANGE_FROM_TO);
    CHECK(r.first == 0);
    CHECK(r.last == 99);

    parse("bytes=100-", &r);
    CHECK(r.kind == S3_RANGE_FROM);
    CHECK(r.first == 100);

    parse("bytes=-5", &r);
    CHECK(r.kind == S3_RANGE_SUFFIX);
    CHECK(r.suffix == 5);

    parse("Bytes=7-7", &r);
    CHECK(r.kind == S3_RANGE_FROM_TO);
}

static void test_range_parse_ignores_what_s3_ignores(void)
{
    static const char *const ignored[] = {
        "", "bytes=", "bytes=-", "bytes=5-4", "bytes=0-1,3-4", "items=0-1", "bytes=a-b", "bytes= 0-1",
        "bytes=0-1 ", "bytes=--1", "bytes=1-2-3",
    };

    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        struct s3_range r;

        parse(ignored[i], &r);
        CHECK(r.kind == S3_RANGE_NONE);
    }
}

static void test_range_resolve_clamps_and_rejects(void)
{
    struct s3_range r;
    uint64_t first = 0;
    uint64_t last = 0;

    parse("bytes=0-99", &r);
    CHECK(s3_range_resolve(&r, 50, &first, &last));
    CHECK(first == 0);
    CHECK(last == 49);
    CHECK(!s3_range_resolve(&r, 0, &first, &last));

    parse("bytes=50-", &r);
    CHECK(!s3_range_resolve(&r, 50, &first, &last));
    CHECK(s3_range_resolve(&r, 51, &first, &last));
    CHECK(first == 50);
    CHECK(last == 50);

    parse("bytes=-10", &r);
    CHECK(s3_range_resolve(&r, 4, &first, &last));
    CHECK(first == 0);
    CHECK(last == 3);
    CHECK(s3_range_resolve(&r, 100, &first, &last));
    CHECK(first == 90);
    CHECK(last == 99);
    CHECK(!s3_range_resolve(&r, 0, &first, &last));

    parse("bytes=-0", &r);
    CHECK(!s3_range_resolve(&r, 100, &first, &last));
}

static void test_range_parse_saturates_huge_positions(void)
{
    struct s3_range r;
    uint64_t first = 0;
    uint64_t last = 0;

    parse("bytes=99999999999999999999-", &r);
    CHECK(r.kind == S3_RANGE_FROM);
    CHECK(r.first == UINT64_MAX);
    CHECK(!s3_range_resolve(&r, 100, &first, &last));

    parse("bytes=50-99999999999999999999", &r);
    CHECK(r.kind == S3_RANGE_FROM_TO);
    CHECK(s3_range_resolve(&r, 100, &first, &last));
    CHECK(first == 50);
    CHECK(last == 99);
}

int main(void)
{
    test_range_parse_forms();
    test_range_parse_ignores_what_s3_ignores();
    test_range_resolve_clamps_and_rejects();
    test_range_parse_saturates_huge_positions();
    return test_finish();
}
