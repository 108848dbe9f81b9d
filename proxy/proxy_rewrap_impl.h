/* SPDX-License-Identifier: Apache-2.0 */
/* Declarations shared by the two files of "s3seal rewrap": the run, and the rewrap of one object. */
#ifndef PROXY_REWRAP_IMPL_H
#define PROXY_REWRAP_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "kms/kms.h"
#include "proxy/proxy_backend.h"
#include "proxy/proxy_config.h"

struct rewrap_run {
    const struct proxy_config *cfg; /* borrowed */
    struct kms_provider *kms;       /* borrowed */
    struct proxy_backend *backend;  /* borrowed */
    const char *bucket;
    const char *key_ref;         /* --key-ref, or NULL for the configured key */
    char target[KMS_KEY_ID_MAX]; /* the kms_id that key_ref resolves to, such as "file:k2" */
    bool dry_run;
    /*
     * Write envelopes with CreateMultipartUpload and UploadPartCopy instead
     * of one CopyObject: set by --multipart-copy, or once the backend gave a
     * copy an ETag without the multipart form.
     */
    bool multipart_copy;
};

enum rewrap_outcome {
    REWRAP_OUTCOME_REWRAPPED = 1, /* or, with --dry-run, would be */
    REWRAP_OUTCOME_PLAINTEXT,     /* no envelope: s3seal did not encrypt the object */
    REWRAP_OUTCOME_CURRENT,       /* already wrapped under the target key */
    REWRAP_OUTCOME_GONE,          /* deleted since the listing */
    REWRAP_OUTCOME_CUSTOMER_KEY,  /* wrapped under an SSE-C customer key, which only its client has */
    REWRAP_OUTCOME_FAILED,
};

struct rewrap_result {
    enum rewrap_outcome outcome;
    char old_kms[KMS_KEY_ID_MAX]; /* kms_id of the envelope read, "" when there is none */
    uint64_t stored_size;         /* Content-Length of the HEAD */
    char reason[512];             /* why the object failed */
};

/* Examines one object and rewraps it unless it is plaintext, current or gone (or run->dry_run). */
void proxy_rewrap_object(struct rewrap_run *run, const char *key, struct rewrap_result *result);

#endif
