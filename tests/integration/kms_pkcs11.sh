#!/usr/bin/env bash
# End-to-end test of the PKCS#11 key provider: s3seal in front of Ceph RGW
# wraps data keys with an AES-256 key on a SoftHSM2 token that this script
# creates in its work folder.
#
# Checks, with aws-cli v2 (/usr/bin/aws):
# - PUT and GET round trips of 0 bytes, 70 KiB and 20 MiB (multipart);
# - the backend stores ciphertext, with s3seal-kms "p11:<key label>";
# - an envelope copied from one object onto another makes GET fail;
# - objects written with the key file provider stay readable after the move
#   to pkcs11 while S3SEAL_KEY_FILE stays set, and not once it is removed;
# - S3SEAL_PKCS11_MECHANISM=aes-key-wrap-pad round trips with RFC 5649 blobs
#   and GCM objects stay readable;
# - S3SEAL_KEY_POLICY sends one prefix to the key file's key, the rest to
#   the token, and refuses at start-up a policy entry without a usable key;
# - invalid PKCS#11 settings stop start-up with a message naming the setting.
#
# Needs the Debian packages softhsm2 (module and softhsm2-util) and opensc
# (pkcs11-tool), plus what lib.sh needs. Backend and binary settings are
# those of lib.sh (S3SEAL_BIN, S3SEAL_TEST_ENDPOINT, S3SEAL_TEST_KEEP).
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/kms_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kms_lib.sh"

PKCS11_MODULE=${S3SEAL_TEST_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
TOKEN_LABEL=s3seal-it
KEY_LABEL=s3seal-kek
WRAP_KEY_LABEL=s3seal-kek-wrap
USER_PIN=4321
SO_PIN=8765

BUCKET=""
PIN_FILE=""

testlib_install_traps

# Creates a SoftHSM2 token in the work folder, an AES-256 key on it that is
# sensitive and never extractable, and a PIN file with mode 0600.
make_token() {
    local dir=$WORK_DIR/softhsm
    [[ -e $PKCS11_MODULE ]] || fail "PKCS#11 module $PKCS11_MODULE not found; install the Debian package softhsm2"
    command -v softhsm2-util >/dev/null || fail "softhsm2-util not found; install the Debian package softhsm2"
    command -v pkcs11-tool >/dev/null || fail "pkcs11-tool not found; install the Debian package opensc"

    mkdir -p "$dir/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" >"$dir/softhsm2.conf"
    # s3seal inherits this, so its module opens the same token folder
    export SOFTHSM2_CONF=$dir/softhsm2.conf
    softhsm2-util --init-token --free --label "$TOKEN_LABEL" --so-pin "$SO_PIN" --pin "$USER_PIN" \
        >"$dir/init.log" 2>&1 || { cat "$dir/init.log" >&2; fail "softhsm2-util --init-token failed"; }
    # pkcs11-tool warns that it cannot read CKA_VALUE: that is the key being sensitive
    pkcs11-tool --module "$PKCS11_MODULE" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" \
        --keygen --key-type AES:32 --label "$KEY_LABEL" --sensitive --private --usage-decrypt \
        >"$dir/keygen.log" 2>&1 || { cat "$dir/keygen.log" >&2; fail "pkcs11-tool --keygen failed"; }
    grep -q 'never extractable' "$dir/keygen.log" || fail "the token key is extractable; see $dir/keygen.log"
    # a second key that may only wrap and unwrap, for CKM_AES_KEY_WRAP_PAD
    pkcs11-tool --module "$PKCS11_MODULE" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" \
        --keygen --key-type AES:32 --label "$WRAP_KEY_LABEL" --sensitive --private --usage-wrap \
        >"$dir/keygen-wrap.log" 2>&1 || { cat "$dir/keygen-wrap.log" >&2; fail "pkcs11-tool --keygen failed"; }

    PIN_FILE=$dir/pin
    (umask 077 && printf '%s\n' "$USER_PIN" >"$PIN_FILE")
}

# Settings that select the PKCS#11 provider, for S3SEAL_START_ENV.
pkcs11_env() {
    printf '%s\n' "S3SEAL_KMS_PROVIDER=pkcs11" "S3SEAL_PKCS11_MODULE=$PKCS11_MODULE" \
        "S3SEAL_PKCS11_TOKEN_LABEL=$TOKEN_LABEL" "S3SEAL_PKCS11_PIN_FILE=$PIN_FILE" \
        "S3SEAL_PKCS11_KEY_LABEL=$KEY_LABEL"
}

test_round_trips() {
    local size key file raw=$WORK_DIR/raw.bin kms_id
    local multipart_config=$WORK_DIR/aws-multipart.config

    # aws-cli splits the 20 MiB file into three parts of 8 MiB at most
    sed 's/multipart_threshold = .*/multipart_threshold = 8MB\n    multipart_chunksize = 8MB/' \
        "$AWS_CONFIG_FILE" >"$multipart_config"

    for size in 0 71680 20971520; do
        key=p11-$size
        file=$WORK_DIR/plain-$size
        make_file "$file" "$size"
        if ((size > 8388608)); then
            AWS_CONFIG_FILE=$multipart_config put_object "$file" "$key"
        else
            put_object "$file" "$key"
        fi
        check_get "$key: GET returns what PUT stored" "$file" "$key"
        if ((size > 8388608)); then
            aws_backend s3api head-object --bucket "$BUCKET" --key "$key" >"$WORK_DIR/mp-head.json"
            check_equal "$key: stored as a multipart upload of 3 parts" '-3"' \
                "$(json_field "$WORK_DIR/mp-head.json" "d.get('ETag')[-3:]")"
        fi

        kms_id=$(backend_kms_id "$key")
        check_equal "$key: backend s3seal-kms names the token key" "p11:$KEY_LABEL" "$kms_id"
        if ((size > 0)); then
            aws_backend s3 cp --only-show-errors "s3://$BUCKET/$key" "$raw"
            if cmp -s "$file" "$raw" || [[ $(stat -c %s "$raw") -le $size ]]; then
                flunk "$key: backend holds ciphertext" "backend object equals the plaintext or is not larger"
            else
                pass "$key: backend holds ciphertext"
            fi
        fi
    done
}

test_envelope_swap() {
    local a=$WORK_DIR/swap-a b=$WORK_DIR/swap-b
    make_file "$a" 71680
    make_file "$b" 71680
    put_object "$a" swap-a
    put_object "$b" swap-b
    check_get "swap-a: GET works before the swap" "$a" swap-a
    swap_envelope swap-a swap-b
    check_equal "swap-a: backend now has the envelope of swap-b" "p11:$KEY_LABEL" "$(backend_kms_id swap-a)"
    check_get_fails "swap-a: GET fails with the envelope of another object" "$a" swap-a
    check_get "swap-b: GET of the source object still works" "$b" swap-b
}

# With the key file and the token both loaded, S3SEAL_KEY_POLICY sends new
# objects under one prefix to the key file and the rest to the token; both
# stay readable, and a policy entry without a usable key stops start-up.
test_key_policy() {
    local file_kms_id=$1 file=$WORK_DIR/policy.bin
    make_file "$file" 70000
    put_object "$file" policy/by-file
    put_object "$file" elsewhere/by-token
    check_equal "key policy: policy/ is wrapped under the key file's key" "$file_kms_id" \
        "$(backend_kms_id policy/by-file)"
    check_equal "key policy: other keys use the active provider" "p11:$KEY_LABEL" \
        "$(backend_kms_id elsewhere/by-token)"
    check_get "key policy: object under the policy key reads back" "$file" policy/by-file
    check_get "key policy: object under the token key reads back" "$file" elsewhere/by-token
}

# With S3SEAL_PKCS11_MECHANISM=aes-key-wrap-pad (RFC 5649 on the token):
# round trip, a 41-byte blob of version 2, a swapped envelope that fails
# (the envelope MAC binds the object, as the mechanism takes no associated
# data), and GCM objects of the first key that stay readable.
test_key_wrap_pad() {
    local a=$WORK_DIR/kwp-a b=$WORK_DIR/kwp-b dek
    make_file "$a" 71680
    make_file "$b" 71680
    put_object "$a" kwp-a
    put_object "$b" kwp-b
    check_get "key wrap pad: GET returns what PUT stored" "$a" kwp-a
    check_equal "key wrap pad: backend s3seal-kms names the wrap key" "p11:$WRAP_KEY_LABEL" "$(backend_kms_id kwp-a)"
    aws_backend s3api head-object --bucket "$BUCKET" --key kwp-a >"$WORK_DIR/kwp-head.json"
    dek=$(json_field "$WORK_DIR/kwp-head.json" "(d.get('Metadata') or {}).get('s3seal-dek')")
    check_equal "key wrap pad: the wrapped key is version 2 and 41 bytes" "02 41" \
        "$("$PYTHON_BIN" -c 'import base64, sys; b = base64.b64decode(sys.argv[1]); print("%02x %d" % (b[0], len(b)))' "$dek")"
    swap_envelope kwp-a kwp-b
    check_get_fails "key wrap pad: GET fails with the envelope of another object" "$a" kwp-a
    check_get "key wrap pad: GCM object of the first key still readable" "$WORK_DIR/plain-71680" p11-71680
}

test_setting_messages() {
    local wrong_pin=$WORK_DIR/softhsm/wrong-pin
    (umask 077 && printf '0000\n' >"$wrong_pin")
    check_config_fails "pkcs11 without a module is rejected" S3SEAL_PKCS11_MODULE \
        S3SEAL_KMS_PROVIDER=pkcs11 S3SEAL_PKCS11_TOKEN_LABEL=$TOKEN_LABEL S3SEAL_PKCS11_KEY_LABEL=$KEY_LABEL \
        S3SEAL_PKCS11_PIN_FILE="$PIN_FILE"
    check_config_fails "an unknown provider is rejected" "expected file, pkcs11, vault, awskms or kmip" S3SEAL_KMS_PROVIDER=nope
    check_config_fails "a wrong PIN is reported" "the PIN is incorrect" $(pkcs11_env) \
        S3SEAL_PKCS11_PIN_FILE="$wrong_pin"
    check_config_fails "a missing key label is reported" "no AES secret key with label 'nope'" $(pkcs11_env) \
        S3SEAL_PKCS11_KEY_LABEL=nope
    check_config_fails "the file provider still needs a key file" S3SEAL_KEY_FILE
    check_config_fails "a key policy naming a missing key stops start-up" "S3SEAL_KEY_POLICY: b/=file:nope" \
        S3SEAL_KEY_FILE="$S3SEAL_KEY_FILE" S3SEAL_KEY_POLICY=b/=file:nope
    check_config_fails "a malformed key policy entry is rejected" "expected BUCKET/PREFIX=PROVIDER:KEY" \
        S3SEAL_KEY_FILE="$S3SEAL_KEY_FILE" S3SEAL_KEY_POLICY=b=file:k1
}

main() {
    local legacy=$WORK_DIR/legacy file_kms_id
    local pkcs11_settings=()

    testlib_init kms_pkcs11
    s3seal_check_bin
    make_token
    mapfile -t pkcs11_settings < <(pkcs11_env)
    legacy=$WORK_DIR/legacy
    backend_start

    # first with the key file provider, as before the move to PKCS#11
    s3seal_start
    BUCKET=$(unique_bucket_name s3seal-p11)
    create_bucket aws_proxy "$BUCKET" >/dev/null
    make_file "$legacy" 71680
    put_object "$legacy" legacy
    check_equal "legacy: written under the key file" file: "$(backend_kms_id legacy | cut -c1-5)"
    s3seal_stop

    S3SEAL_START_ENV=("${pkcs11_settings[@]}")
    s3seal_start
    test_round_trips
    test_envelope_swap
    check_get "legacy: key file object readable after the move to pkcs11" "$legacy" legacy
    s3seal_stop

    S3SEAL_START_ENV=("${pkcs11_settings[@]}" "S3SEAL_PKCS11_MECHANISM=aes-key-wrap-pad"
        "S3SEAL_PKCS11_KEY_LABEL=$WRAP_KEY_LABEL")
    s3seal_start
    test_key_wrap_pad
    s3seal_stop

    file_kms_id=$(backend_kms_id legacy)
    S3SEAL_START_ENV=("${pkcs11_settings[@]}" "S3SEAL_KEY_POLICY=$BUCKET/policy/=$file_kms_id")
    s3seal_start
    test_key_policy "$file_kms_id"
    s3seal_stop

    # without the key file only the token's objects stay readable
    S3SEAL_START_ENV=("${pkcs11_settings[@]}" "S3SEAL_KEY_FILE=")
    s3seal_start
    check_get "p11-71680: readable with the token alone" "$WORK_DIR/plain-71680" p11-71680
    check_get_fails "legacy: unreadable once S3SEAL_KEY_FILE is removed" "$legacy" legacy
    s3seal_stop

    test_setting_messages

    printf '%d checks, %d failed\n' "$checks" "$failures"
    ((failures == 0))
}

main "$@"
