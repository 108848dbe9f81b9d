/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 provider: the master key is an AES-256 secret key object on a token (a hardware security
 * module, or SoftHSM2 in the tests) that never leaves it. kms_id values read "p11:<key label>".
 * docs/KEYS.md describes the settings, the checks made at load and the wrapped blob format.
 */
#ifndef KMS_PKCS11_H
#define KMS_PKCS11_H

#include <stddef.h>

#include "core/core_err.h"
#include "kms/kms.h"

/* Maximum length of a key label, without the terminating NUL. */
#define KMS_PKCS11_KEY_LABEL_MAX 128
/* A token label is a blank-padded 32-byte field in CK_TOKEN_INFO. */
#define KMS_PKCS11_TOKEN_LABEL_MAX 32

/* Settings of kms_pkcs11_load; the strings are borrowed for the duration of the call. */
struct kms_pkcs11_settings {
    const char *module_path; /* the PKCS#11 module (shared library) to dlopen */
    const char *token_label; /* the token to use, found by label in every slot with a token */
    /* Exactly one of pin_file and pin is set. The PIN is never logged. */
    const char *pin_file; /* file with the user PIN; mode 0600 or stricter */
    const char *pin;      /* the user PIN itself */
    const char *key_label;   /* CKA_LABEL of the AES key */
    const char *mechanism;   /* "aes-gcm" (NULL means it) or "aes-key-wrap-pad" */
};

/*
 * Loads the module, finds the token by label, logs in as the user, finds the key by label and checks that
 * it is an AES-256 secret key that is sensitive, not extractable and allowed to encrypt and decrypt (wrap
 * and unwrap for aes-key-wrap-pad). Then it wraps and unwraps a random test key and checks that a changed
 * blob fails, and for aes-gcm that a wrong context fails, which proves that the token applies the
 * mechanism and its associated data. For aes-key-wrap-pad it first compares the token's output for a
 * known session key with RFC 5649 as OpenSSL computes it. Sets *out to a provider that the caller frees with
 * kms_provider_free. Several threads may call kms_wrap and kms_unwrap on it at once: a mutex serializes
 * the calls on its one session.
 *
 * On failure writes into err (which may be NULL) an English message that names the setting or the token
 * object at fault and the fix, and never contains the PIN. Then returns CORE_CONFIG (invalid settings,
 * wrong PIN, token or key not found, key attributes rejected), CORE_KMS (the module failed or the self-test
 * failed), CORE_IO or CORE_NOMEM.
 */
enum core_err kms_pkcs11_load(const struct kms_pkcs11_settings *settings, struct kms_provider **out, char *err,
                              size_t err_cap) CORE_WARN_UNUSED;

#endif
