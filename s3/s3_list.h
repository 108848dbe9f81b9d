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

#endif
