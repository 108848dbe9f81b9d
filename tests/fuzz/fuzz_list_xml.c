/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the listing parsers of s3/s3_list.h: the Size
 * rewrite of ListObjects, ListObjectsV2, ListObjectVersions and ListParts
 * bodies (plain and keyed callback), and the ListObjectsV2 page parser of
 * the rewrap command. The whole input is the backend's XML body. A rewritten
 * body must itself be accepted again, because the client parses it next.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "s3/s3_list.h"

/* Halves even sizes and leaves odd ones, so both outcomes of a map are reached. */
static bool map_size(void *arg, uint64_t stored, uint64_t *client)
{
    unsigned *calls = arg;

    (*calls)++;
    if (stored % 2 != 0) {
        return false;
    }
    *client = stored / 2;
    return true;
}

static bool map_keyed(void *arg, const char *key, uint64_t stored, uint64_t *client)
{
    /* an entry without a Key keeps its size, as for an object s3seal cannot look up */
    if (key == NULL) {
        return false;
    }
    /* reading the whole key lets ASan check that it is a live, NUL-terminated string */
    if (strlen(key) % 2 == 1) {
        return false;
    }
    return map_size(arg, stored, client);
}

static bool map_identity(void *arg, uint64_t stored, uint64_t *client)
{
    (void)arg;
    *client = stored;
    return true;
}

static void check_output(const char *out, size_t out_len)
{
    char *again = NULL;
    size_t again_len = 0;

    if (out == NULL || strlen(out) != out_len) {
        abort();
    }
    if (s3_list_rewrite_sizes(out, out_len, map_identity, NULL, &again, &again_len) != CORE_OK) {
        abort();
    }
    free(again);
}

static void fuzz_rewrite(const char *xml, size_t len)
{
    unsigned calls = 0;
    char *out = NULL;
    size_t out_len = 0;

    if (s3_list_rewrite_sizes(xml, len, map_size, &calls, &out, &out_len) == CORE_OK) {
        check_output(out, out_len);
    }
    free(out);
    out = NULL;

    if (s3_list_rewrite_sizes_keyed(xml, len, map_keyed, &calls, &out, &out_len) == CORE_OK) {
        check_output(out, out_len);
    }
    free(out);
}

static void fuzz_page(const char *xml, size_t len)
{
    struct s3_list_page page = {0};

    if (s3_list_parse_page(xml, len, &page) == CORE_OK) {
        if (page.truncated && page.next_token == NULL) {
            abort();
        }
        for (size_t i = 0; i < page.count; i++) {
            if (page.entries[i].key == NULL || strlen(page.entries[i].etag) >= sizeof(page.entries[i].etag)) {
                abort();
            }
        }
    }
    s3_list_page_cleanup(&page);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_rewrite((const char *)data, size);
    fuzz_page((const char *)data, size);
    return 0;
}
