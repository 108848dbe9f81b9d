/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the key file provider shared by the file parser (kms_keyfile.c) and the wrap and unwrap
 * operations (kms_keyfile_provider.c). Not for use outside kms/.
 */
#ifndef KMS_KEYFILE_IMPL_H
#define KMS_KEYFILE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "kms/kms_keyfile.h"
#include "kms/kms_provider.h"

#define KMS_KEYFILE_KEY_LEN 32

/* One master key and where it came from. */
struct kms_keyfile_key {
    char id[KMS_KEYFILE_ID_MAX + 1];
    uint8_t key[KMS_KEYFILE_KEY_LEN];
    size_t line; /* line number in the key file, for duplicate-id messages */
};

/* The key file provider; base comes first so that a struct kms_provider pointer converts back. */
struct kms_keyfile {
    struct kms_provider base;
    struct kms_keyfile_key *keys; /* owned, from kms_secmem_alloc; keys[key_count - 1] is the current key */
    size_t key_count;
    size_t key_cap;
    bool keys_locked; /* whether mlock succeeded on keys */
    EVP_CIPHER *aes_gcm; /* owned; fetched once instead of on every wrap */
    EVP_MAC *hmac;       /* owned */
};

/*
 * Allocates a key file provider with room for key_cap keys (key_cap > 0) and no keys yet. Returns
 * CORE_NOMEM, or CORE_CRYPTO when OpenSSL does not provide AES-256-GCM or HMAC. Free with
 * kms_provider_free(&kf->base).
 */
enum core_err kms_keyfile_new(size_t key_cap, struct kms_keyfile **out) CORE_WARN_UNUSED;

#endif
