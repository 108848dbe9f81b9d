/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AWS KMS provider: data keys are made, wrapped and unwrapped by AWS KMS (or a service that speaks its
 * JSON 1.1 API) under a KMS key that never leaves the service. kms_id values read "awskms:<key ARN>", and
 * the wrapped blob is the CiphertextBlob that KMS returned. docs/KEYS.md describes the settings.
 */
#ifndef KMS_AWSKMS_H
#define KMS_AWSKMS_H

#include <stddef.h>

#include "core/core_err.h"
#include "kms/kms.h"

/* Per-call limit when the settings give none, in milliseconds; it bounds connecting and the reply. */
#define KMS_AWSKMS_TIMEOUT_MS_DEFAULT 5000

/* Settings of kms_awskms_load; the strings are borrowed for the duration of the call. */
struct kms_awskms_settings {
    const char *endpoint;          /* base URL, such as https://kms.eu-west-1.amazonaws.com; no default */
    const char *region;            /* region the requests are signed for, such as eu-west-1 */
    const char *key_id;            /* key id, key ARN, alias name or alias ARN that wraps new data keys */
    const char *access_key_id;     /* AWS access key id */
    const char *secret_access_key; /* never logged */
    const char *session_token;     /* temporary credentials only, else NULL; never logged */
    const char *ca_file;           /* PEM CA bundle for an https endpoint, or NULL for the system store */
    long timeout_ms;               /* per-call limit in milliseconds; 0 for KMS_AWSKMS_TIMEOUT_MS_DEFAULT */
};

/*
 * Checks the settings, then makes one GenerateDataKey and Decrypt round trip with the configured key and
 * checks that Decrypt with another encryption context fails. Sets *out to a provider that the caller frees
 * with kms_provider_free. Its wrap is Encrypt, unwrap is Decrypt (naming the key of the kms_id, so a blob
 * made under another key is rejected), generate is GenerateDataKey and rewrap is ReEncrypt. Each call
 * blocks for at most the timeout, and several threads may call at once.
 *
 * On failure writes into err (which may be NULL) an English message that names the setting at fault and
 * the fix, never a secret. Returns CORE_CONFIG for invalid settings, CORE_KMS_UNAVAILABLE when the
 * endpoint does not reply in time, CORE_KMS_DENIED when KMS rejects the credentials, CORE_KMS when it
 * rejects the key, CORE_CRYPTO when the round trip returns a wrong key or ignores the context, or
 * CORE_NOMEM.
 */
enum core_err kms_awskms_load(const struct kms_awskms_settings *settings, struct kms_provider **out, char *err,
                              size_t err_cap) CORE_WARN_UNUSED;

#endif
