/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A provider that passes every call to another provider with the wrap context replaced by its SHA-256
 * digest, for KMSs that log the context in clear (AWS CloudTrail logs the encryption context of every
 * call). Its name is the other provider's name with "+h" appended, so objects wrapped through it carry
 * kms_id values such as "awskms+h:<key>" and are always unwrapped the same way, whatever the setting is
 * when they are read.
 */
#ifndef KMS_HASHED_H
#define KMS_HASHED_H

#include "core/core_err.h"
#include "kms/kms.h"

/* Suffix of a hashed-context provider's name. */
#define KMS_HASHED_SUFFIX "+h"

/*
 * Sets *out to a provider that calls inner with hashed contexts. inner is borrowed and must outlive the
 * result; freeing the result leaves inner alone.
 */
enum core_err kms_hashed_new(struct kms_provider *inner, struct kms_provider **out) CORE_WARN_UNUSED;

#endif
