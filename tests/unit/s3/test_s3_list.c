/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of Size rewriting in listing bodies. */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_list.h"
#include "test_check.h"

#define NS "http://s3.amazonaws.com/doc/2006-03-01/"

/* Subtracts a 64-byte overhead from sizes above 64; leaves others, as for unencrypted objects. */
static bool subtract_overhead(void *arg, uint64_t stored, uint64_t *client)
{
    int *calls = arg;

    (*calls)++;
    if (stored < 64) {
        return false;
    }
    *client = stored - 64;
    return true;
}

static bool never_map(void *arg, uint64_t stored, uint64_t *client)
{
    (void)arg;
    (void)stored;
    (void)client;
    return false;
}

static const char list_v2[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"" NS "\"><Name>bkt</Name><Prefix></Prefix><KeyCount>2</KeyCount>"
    "<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>"
    "<Contents><Key>a &amp; b.txt</Key><LastModified>2013-05-24T00:00:00.000Z</LastModified>"
    "<ETag>&quot;abc&quot;</ETag><Size>1088</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>small</Key><Size>10</Size></Contents>"
    "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>"
    "<Size>5000</Size>"
    "</ListBucketResult>";

static void test_list_rewrites_v2_sizes(void)
{
    char *out = NULL;
    size_t out_len = 0;
    int calls = 0;

    CHECK(s3_list_rewrite_sizes(list_v2, strlen(list_v2), subtract_overhead, &calls, &out, &out_len) ==
          CORE_OK);
    CHECK(calls == 2);
    CHECK(out != NULL);
    CHECK(out == NULL || out_len == strlen(out));
    CHECK_PREFIX(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    CHECK_CONTAINS(out, "<ListBucketResult xmlns=\"" NS "\">");
    CHECK_CONTAINS(out, "<Size>1024</Size>");
    CHECK_LACKS(out, "<Size>1088</Size>");
    /* the mapping declined this one */
    CHECK_CONTAINS(out, "<Key>small</Key><Size>10</Size>");
    /* a Size outside Contents is not an object size */
    CHECK_CONTAINS(out, "<Size>5000</Size>");
    CHECK_CONTAINS(out, "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>");
    CHECK_CONTAINS(out, "<Key>a &amp; b.txt</Key>");
    /* libxml2 writes the quotes of text content unescaped, which is the same XML */
    CHECK_CONTAINS(out, "<ETag>\"abc\"</ETag>");
    free(out);
}

static void test_list_rewrites_version_sizes(void)
{
    static const char versions[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<ListVersionsResult xmlns=\"" NS "\"><Name>bkt</Name>"
        "<Version><Key>k</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest><Size>164</Size></Version>"
        "<DeleteMarker><Key>gone</Key><VersionId>v9</VersionId></DeleteMarker>"
        "<Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><Size>65</Size></Version>"
        "<Contents><Size>999</Size></Contents>"
        "</ListVersionsResult>";
    char *out = NULL;
    size_t out_len = 0;
    int calls = 0;

    CHECK(s3_list_rewrite_sizes(versions, strlen(versions), subtract_overhead, &calls, &out, &out_len) ==
          CORE_OK);
    CHECK(calls == 2);
    CHECK_CONTAINS(out, "<VersionId>v2</VersionId><IsLatest>true</IsLatest><Size>100</Size>");
    CHECK_CONTAINS(out, "<VersionId>v1</VersionId><IsLatest>false</IsLatest><Size>1</Size>");
    CHECK_CONTAINS(out, "<DeleteMarker><Key>gone</Key><VersionId>v9</VersionId></DeleteMarker>");
    /* Contents is not an entry of a versions listing */
    CHECK_CONTAINS(out, "<Contents><Size>999</Size></Contents>");
    free(out);
}

static void test_list_v1_without_namespace(void)
{
    static const char v1[] = "<ListBucketResult><Contents><Key>x</Key><Size>100</Size></Contents>"
                             "</ListBucketResult>";
    char *out = NULL;
    size_t out_len = 0;
    int calls = 0;

    CHECK(s3_list_rewrite_sizes(v1, strlen(v1), subtract_overhead, &calls, &out, &out_len) == CORE_OK);
    CHECK_PREFIX(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    CHECK_CONTAINS(out, "<Size>36</Size>");
    free(out);
}

static void test_list_declined_mapping_keeps_body(void)
{
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_list_rewrite_sizes(list_v2, strlen(list_v2), never_map, NULL, &out, &out_len) == CORE_OK);
    CHECK_CONTAINS(out, "<Size>1088</Size>");
    CHECK_CONTAINS(out, "<Size>10</Size>");
    free(out);
}

static void test_list_rejects_unparseable_input(void)
{
    static const char *const bad[] = {
        "",
        "not xml",
        "<ListBucketResult><Contents><Size>1</Size></Contents>",
        "<ListBucketResult><Contents><Size>12x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size></Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size>18446744073709551616</Size></Contents></ListBucketResult>",
        "<Error><Code>AccessDenied</Code></Error>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"x\">]><ListBucketResult>&e;</ListBucketResult>",
        "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"http://127.0.0.1:1/x.dtd\"><ListBucketResult/>",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        size_t out_len = 0;
        int calls = 0;
        enum core_err err =
            s3_list_rewrite_sizes(bad[i], strlen(bad[i]), subtract_overhead, &calls, &out, &out_len);

        if (err != CORE_UPSTREAM) {
            fprintf(stderr, "bad case %zu returned %d\n", i, (int)err);
        }
        CHECK(err == CORE_UPSTREAM);
        CHECK(out == NULL);
    }
}

static void test_list_accepts_max_uint64(void)
{
    static const char body[] =
        "<ListBucketResult><Contents><Size>18446744073709551615</Size></Contents></ListBucketResult>";
    char *out = NULL;
    size_t out_len = 0;
    int calls = 0;

    CHECK(s3_list_rewrite_sizes(body, strlen(body), subtract_overhead, &calls, &out, &out_len) == CORE_OK);
    CHECK_CONTAINS(out, "<Size>18446744073709551551</Size>");
    free(out);
}

static void test_list_rejects_oversized_input(void)
{
    char *out = NULL;
    size_t out_len = 0;

    /* the size is checked before the bytes are read */
    CHECK(s3_list_rewrite_sizes(list_v2, (size_t)S3_LIST_XML_MAX + 1, never_map, NULL, &out, &out_len) ==
          CORE_TOO_LARGE);
    CHECK(out == NULL);
}

static bool shrink_unless_open(void *arg, const char *key, uint64_t stored, uint64_t *client)
{
    (void)arg;
    if (key == NULL || strncmp(key, "open/", 5) == 0) {
        return false;
    }
    *client = stored - 1;
    return true;
}

static void test_list_keyed_map_sees_keys(void)
{
    static const char xml[] = "<ListBucketResult><Contents><Key>open/a</Key><Size>10</Size></Contents>"
                              "<Contents><Key>sealed/b</Key><Size>10</Size></Contents></ListBucketResult>";
    char *out = NULL;
    size_t out_len = 0;

    CHECK(s3_list_rewrite_sizes_keyed(xml, strlen(xml), shrink_unless_open, NULL, &out, &out_len) == CORE_OK);
    CHECK(out != NULL);
    if (out != NULL) {
        CHECK(strstr(out, "<Key>open/a</Key><Size>10</Size>") != NULL);
        CHECK(strstr(out, "<Key>sealed/b</Key><Size>9</Size>") != NULL);
    }
    free(out);
}

static const char page_truncated[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"" NS "\"><Name>bkt</Name><Prefix>data/</Prefix><KeyCount>2</KeyCount>"
    "<IsTruncated>true</IsTruncated><NextContinuationToken>tok/1+=</NextContinuationToken>"
    "<Contents><Key>data/a &amp; b.bin</Key><ETag>&quot;0123456789abcdef0123456789abcdef-3&quot;</ETag>"
    "<Size>20983040</Size></Contents>"
    "<Contents><Key>data/empty</Key><Size>0</Size></Contents>"
    "<CommonPrefixes><Prefix>data/dir/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";

static void test_list_page_reads_entries_and_token(void)
{
    struct s3_list_page page;

    CHECK(s3_list_parse_page(page_truncated, strlen(page_truncated), &page) == CORE_OK);
    CHECK(page.count == 2);
    CHECK(page.truncated);
    CHECK_STR(page.next_token, "tok/1+=");
    if (page.count == 2) {
        CHECK_STR(page.entries[0].key, "data/a & b.bin");
        CHECK(page.entries[0].size == 20983040);
        CHECK_STR(page.entries[0].etag, "\"0123456789abcdef0123456789abcdef-3\"");
        CHECK_STR(page.entries[1].key, "data/empty");
        CHECK(page.entries[1].size == 0);
        /* an entry without ETag gets an empty one */
        CHECK_STR(page.entries[1].etag, "");
    }
    s3_list_page_cleanup(&page);
    CHECK(page.entries == NULL);
    CHECK(page.count == 0);
    CHECK(page.next_token == NULL);
}

static void test_list_page_last_page_has_no_token(void)
{
    static const char body[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                               "<Contents><Key>k</Key><Size>37</Size></Contents></ListBucketResult>";
    static const char empty[] = "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>"
                                "</ListBucketResult>";
    struct s3_list_page page;

    CHECK(s3_list_parse_page(body, strlen(body), &page) == CORE_OK);
    CHECK(!page.truncated);
    CHECK(page.next_token == NULL);
    CHECK(page.count == 1);
    s3_list_page_cleanup(&page);

    CHECK(s3_list_parse_page(empty, strlen(empty), &page) == CORE_OK);
    CHECK(page.count == 0);
    CHECK(!page.truncated);
    s3_list_page_cleanup(&page);
}

static void test_list_page_rejects_invalid_bodies(void)
{
    static const char *const bodies[] = {
        /* truncated without a continuation token: the listing could not go on */
        "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>k</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken></NextContinuationToken>"
        "</ListBucketResult>",
        /* an entry without Key, without Size, or with a Size that is not a decimal uint64 */
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>",
        /* an ETag too long for the entry */
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size><ETag>"
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "</ETag></Contents></ListBucketResult>",
        /* another root, an error body, a DOCTYPE, and no XML at all */
        "<ListVersionsResult></ListVersionsResult>",
        "<Error><Code>NoSuchBucket</Code></Error>",
        "<!DOCTYPE x [<!ENTITY e \"k\">]><ListBucketResult></ListBucketResult>",
        "not xml",
        "",
    };
    struct s3_list_page page;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        enum core_err err = s3_list_parse_page(bodies[i], strlen(bodies[i]), &page);

        if (err != CORE_UPSTREAM) {
            fprintf(stderr, "case %zu: expected CORE_UPSTREAM, got %d\n", i, (int)err);
        }
        CHECK(err == CORE_UPSTREAM);
        s3_list_page_cleanup(&page);
    }
}

static void test_list_page_rejects_oversized_input(void)
{
    struct s3_list_page page;

    CHECK(s3_list_parse_page("<ListBucketResult/>", (size_t)S3_LIST_XML_MAX + 1, &page) == CORE_TOO_LARGE);
    s3_list_page_cleanup(&page);
}

int main(void)
{
    RUN_TEST(test_list_keyed_map_sees_keys);
    RUN_TEST(test_list_rewrites_v2_sizes);
    RUN_TEST(test_list_rewrites_version_sizes);
    RUN_TEST(test_list_v1_without_namespace);
    RUN_TEST(test_list_declined_mapping_keeps_body);
    RUN_TEST(test_list_rejects_unparseable_input);
    RUN_TEST(test_list_accepts_max_uint64);
    RUN_TEST(test_list_rejects_oversized_input);
    RUN_TEST(test_list_page_reads_entries_and_token);
    RUN_TEST(test_list_page_last_page_has_no_token);
    RUN_TEST(test_list_page_rejects_invalid_bodies);
    RUN_TEST(test_list_page_rejects_oversized_input);
    return test_finish();
}
