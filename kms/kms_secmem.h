/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Page-backed memory for key material: locked in RAM where the system allows it, left out of core dumps,
 * and wiped before it is returned to the system.
 */
#ifndef KMS_SECMEM_H
#define KMS_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core_err.h"

/*
 * Allocates len bytes (len > 0) of zeroed memory in private anonymous pages and sets *locked to whether
 * mlock succeeded; it often fails under a low RLIMIT_MEMLOCK, and the memory is usable either way.
 * Returns CORE_NOMEM when the pages cannot be mapped. Free with kms_secmem_free and the same len.
 */
enum core_err kms_secmem_alloc(size_t len, void **out, bool *locked) CORE_WARN_UNUSED;

/* Wipes, unlocks and unmaps memory from kms_secmem_alloc. ptr may be NULL. */
void kms_secmem_free(void *ptr, size_t len);

#endif
