/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "s3seal rewrap": wraps the data key of every encrypted object under a
 * bucket and prefix again under the current master key (or a named one),
 * and writes the new envelope with a server-side copy of each object onto
 * itself. Object bodies are never read or encrypted again.
 */
#ifndef PROXY_REWRAP_H
#define PROXY_REWRAP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core_err.h"

/* Exit statuses. */
#define PROXY_REWRAP_EXIT_OK 0
/* some objects failed, the run was interrupted, or the listing failed */
#define PROXY_REWRAP_EXIT_FAILED 1
#define PROXY_REWRAP_EXIT_USAGE 2

/* Largest object that one CopyObject request may copy: 5 GiB, the S3 limit. */
#define PROXY_REWRAP_COPY_OBJECT_MAX 5368709120ULL

/* Runs "s3seal rewrap"; argv[0] is "rewrap". Returns the exit status. */
int proxy_rewrap_main(int argc, char **argv);

/*
 * Progress of a run: the run it belongs to and the last object key up to
 * which every object is finished (rewrapped or skipped).
 */
struct proxy_rewrap_state {
    char *bucket;   /* owned */
    char *prefix;   /* owned; "" for the whole bucket */
    char *target;   /* owned; kms_id the objects are wrapped under, such as "file:k2" */
    char *last_key; /* owned; NULL when no object is finished yet */
};

/*
 * Reads the state file at path into state. Sets *found to false and leaves
 * state zeroed when the file does not exist. Returns CORE_CONFIG with a
 * message naming the file and the line for a file that is not a state file
 * or is malformed, CORE_IO when it cannot be read, CORE_NOMEM. The caller
 * frees state with proxy_rewrap_state_cleanup, also after a failure.
 */
enum core_err proxy_rewrap_state_load(const char *path, struct proxy_rewrap_state *state, bool *found,
                                      char *err, size_t err_cap) CORE_WARN_UNUSED;

/*
 * Writes state to a temporary file next to path and renames it over path,
 * so that a crash leaves the old or the new state, never a mix. Returns
 * CORE_IO with a message when writing fails, CORE_NOMEM.
 */
enum core_err proxy_rewrap_state_save(const char *path, const struct proxy_rewrap_state *state, char *err,
                                      size_t err_cap) CORE_WARN_UNUSED;

void proxy_rewrap_state_cleanup(struct proxy_rewrap_state *state);

/*
 * Returns true when etag (with or without quotes) has the form S3 gives an
 * object completed from a multipart upload: 32 hex digits, '-' and a part
 * count of 1 to 10000.
 */
bool proxy_rewrap_etag_is_multipart(const char *etag);

#endif
