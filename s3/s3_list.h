/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rewriting of listing responses from the backend: the Size of each stored
 * (encrypted) object or part is replaced by the size returned to the client.
 */
#ifndef S3_LIST_H
#define S3_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_err.h"

#define S3_LIST_XML_MAX (16 * 1024 * 1024) /* largest listing body accepted, in bytes */

/*
 * Maps the stored size of one listed object to the size returned to the client.
 * Returns false to leave the value unchanged, e.g. for an object that
 * s3seal did not encrypt.
 */
typedef bool (*s3_size_map_fn)(void *arg, uint64_t stored_size, uint64_t *client_size);

/*
 * Parses a ListObjects or ListObjectsV2 body (root ListBucketResult), a
 * ListObjectVersions body (root ListVersionsResult) or a ListParts body
 * (root ListPartsResult) and passes the text of every Size element that is
 * a child of Contents, Version or Part through map.
 * Everything else, namespaces included, is kept; the output starts with an
 * XML declaration. Network access and external entities are disabled and a
 * DOCTYPE is rejected.
 *
 * On CORE_OK *out is a malloc'd NUL-terminated string that the caller frees
 * with free() (not xmlFree). Returns CORE_TOO_LARGE for input over
 * S3_LIST_XML_MAX, CORE_UPSTREAM for a body that is not well-formed, has
 * another root, has a DOCTYPE or a Size that is not a decimal uint64,
 * CORE_NOMEM. The program must call xmlInitParser() once before starting
 * threads that use this function.
 */
enum core_err s3_list_rewrite_sizes(const char *xml, size_t len, s3_size_map_fn map, void *arg, char **out,
                                    size_t *out_len) CORE_WARN_UNUSED;

/* Like s3_size_map_fn, and also gets the text of the entry's Key element (NULL when it has none). */
typedef bool (*s3_keyed_size_map_fn)(void *arg, const char *key, uint64_t stored_size, uint64_t *client_size);

/* Like s3_list_rewrite_sizes, with a callback that gets each entry's key. */
enum core_err s3_list_rewrite_sizes_keyed(const char *xml, size_t len, s3_keyed_size_map_fn map, void *arg,
                                          char **out, size_t *out_len) CORE_WARN_UNUSED;

/* One object of a ListObjectsV2 page. */
struct s3_list_entry {
    char *key;       /* owned, NUL-terminated, decoded from XML */
    uint64_t size;   /* stored size in bytes */
    char etag[80];   /* as listed, quotes included; "" when the entry has none */
};

/* One page of a ListObjectsV2 response. */
struct s3_list_page {
    struct s3_list_entry *entries; /* owned array of count entries */
    size_t count;
    bool truncated;
    char *next_token; /* owned NextContinuationToken; NULL unless truncated */
};

/*
 * Parses a ListObjectsV2 body (root ListBucketResult) into page: the Key,
 * Size and ETag of every Contents, IsTruncated and NextContinuationToken.
 * CommonPrefixes are ignored. Returns CORE_UPSTREAM for a body that is not
 * well-formed or has a DOCTYPE or another root. Also CORE_UPSTREAM for a
 * Contents without a Key, with a Size that is not a decimal uint64 or an
 * ETag of 80 bytes or more, and for IsTruncated true without a
 * NextContinuationToken. Returns CORE_TOO_LARGE over S3_LIST_XML_MAX and
 * CORE_NOMEM. The caller releases page with
 * s3_list_page_cleanup, also after a failure.
 */
enum core_err s3_list_parse_page(const char *xml, size_t len, struct s3_list_page *page) CORE_WARN_UNUSED;

/* Frees what page owns and zeroes it; accepts a zeroed page. */
void s3_list_page_cleanup(struct s3_list_page *page);

#endif
