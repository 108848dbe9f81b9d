/* SPDX-License-Identifier: Apache-2.0 */
/* Builds the key provider registry that the server wraps and unwraps data keys with. */
#ifndef PROXY_KMS_H
#define PROXY_KMS_H

#include <stddef.h>

#include "core/core_err.h"
#include "kms/kms.h"
#include "proxy/proxy_config.h"

/*
 * Loads the providers the configuration names into a registry (kms/kms_registry.h) and sets *out to it.
 * The provider of cfg->kms_provider wraps new data keys. With pkcs11 or vault and a key file both set, the
 * key file provider is loaded too, so objects written under it stay readable. Every key the key policy
 * (S3SEAL_KEY_POLICY) names must wrap a test key, or loading fails. On failure writes an English message
 * that names the setting and the fix into err and returns the provider's error code.
 */
enum core_err proxy_kms_load(const struct proxy_config *cfg, struct kms_provider **out, char *err, size_t err_cap)
    CORE_WARN_UNUSED;

/*
 * Wraps a test key under every key cfg's key policy names, with the providers of kms. Returns CORE_CONFIG
 * with a message naming the entry in err when one fails. A configuration reload calls this before it
 * takes a new key policy.
 */
enum core_err proxy_kms_check_policy(const struct proxy_config *cfg, struct kms_provider *kms, char *err,
                                     size_t err_cap) CORE_WARN_UNUSED;

#endif
