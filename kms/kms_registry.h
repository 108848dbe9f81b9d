/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A provider that contains several providers. kms_wrap goes to the active one. kms_unwrap goes to the
 * provider named by the prefix of kms_id, so objects wrapped under a provider that is no longer active
 * stay readable, such as those of the key file after a move to PKCS#11.
 */
#ifndef KMS_REGISTRY_H
#define KMS_REGISTRY_H

#include <stdbool.h>

#include "core/core_err.h"
#include "kms/kms.h"

/* Maximum number of providers in one registry. */
#define KMS_REGISTRY_MAX 8

/*
 * Creates an empty registry. It is itself a struct kms_provider: pass it to kms_wrap and kms_unwrap, and
 * free it, with the providers added to it, with kms_provider_free. kms_wrap fails with CORE_KMS until a
 * provider has been added as the active one.
 */
enum core_err kms_registry_new(struct kms_provider **out) CORE_WARN_UNUSED;

/*
 * Adds provider to registry, which owns it from this call on, even when the call fails (then it is freed).
 * active makes it the provider that wraps. Returns CORE_CONFIG when a provider with the same kms_id prefix
 * is already in the registry or when a second provider is added as active, and CORE_TOO_LARGE beyond
 * KMS_REGISTRY_MAX providers. Add every provider before the first kms_wrap or kms_unwrap call: a filled
 * registry is read-only, so several threads may then use it at once.
 */
enum core_err kms_registry_add(struct kms_provider *registry, struct kms_provider *provider, bool active)
    CORE_WARN_UNUSED;

/*
 * Adds, for every provider already in the registry, a hashed-context twin (kms/kms_hashed.h) named
 * "<name>+h", so objects wrapped with hashed contexts stay readable whatever the setting. With
 * hashed_active the twin of the active provider wraps new data keys in its place. Call once, after the
 * last kms_registry_add. Returns CORE_TOO_LARGE beyond KMS_REGISTRY_MAX providers.
 */
enum core_err kms_registry_add_hashed(struct kms_provider *registry, bool hashed_active) CORE_WARN_UNUSED;

#endif
