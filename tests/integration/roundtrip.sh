#!/usr/bin/env bash
# End-to-end test of s3seal with aws-cli v2 (/usr/bin/aws): uploads files of
# several sizes through s3seal, downloads and compares them, and reads the
# stored objects straight from the backend to check that they are encrypted
# in the documented ciphertext size. Also checks signature rejection, user
# metadata, reserved metadata and delete.
#
# Backend: Ceph RGW started by tests/backend/start-rgw.sh, or an existing S3
# endpoint given by S3SEAL_TEST_ENDPOINT, S3SEAL_TEST_ACCESS_KEY,
# S3SEAL_TEST_SECRET_KEY and S3SEAL_TEST_REGION. The test then creates a
# bucket with a unique name and deletes it at the end.
# Binary: S3SEAL_BIN (default build/s3seal, relative to the repository root).
# S3SEAL_TEST_KEEP=1 keeps the work folder with its logs.
#
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Plaintext sizes in bytes: empty, one byte, exactly one 64 KiB chunk, one
# byte past a chunk boundary, 10 MiB and 100 MiB.
SIZES=(0 1 65536 65537 10485760 104857600)

# Stored object layout, from docs/FORMAT.md: each full 65536-byte plaintext
# chunk becomes 65572 bytes (36 bytes of per-chunk overhead), and a final
# partial chunk of n bytes becomes n + 36 bytes.
CHUNK_SIZE=65536
CHUNK_OVERHEAD=36

REQUIRED_BACKEND_METADATA=(s3seal s3seal-kms s3seal-dek s3seal-cm s3seal-len s3seal-mac)

BUCKET=""
CANARY=""

testlib_install_traps

# Prints the stored size of a P-byte plaintext.
ciphertext_size() {
    local plain_size=$1 full_chunks remainder size
    full_chunks=$((plain_size / CHUNK_SIZE))
    remainder=$((plain_size % CHUNK_SIZE))
    size=$((full_chunks * (CHUNK_SIZE + CHUNK_OVERHEAD)))
    if ((remainder > 0)); then
        size=$((size + remainder + CHUNK_OVERHEAD))
    fi
    printf '%s' "$size"
}

# Prints field $2 (a Python expression on "d", the parsed JSON) of JSON file $1.
json_field() {
    "$PYTHON_BIN" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print("" if v is None else v)' "$1" "$2"
}

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# Returns 0 if file $1 contains the byte string $2.
file_contains() {
    LC_ALL=C grep -q -a -F -- "$2" "$1"
}

# Writes $2 random bytes to file $1 with the canary in the middle when it fits.
make_test_file() {
    local path=$1 size=$2 offset
    head -c "$size" /dev/urandom >"$path"
    if ((size >= ${#CANARY})); then
        offset=$(((size - ${#CANARY}) / 2))
        printf '%s' "$CANARY" | dd of="$path" bs=1 seek="$offset" conv=notrunc status=none
        file_contains "$path" "$CANARY" || fail "test file $path does not contain the canary after writing it"
    fi
    [[ $(stat -c %s "$path") == "$size" ]] || fail "test file $path does not have $size bytes"
}

# Returns 0 if HeadObject on the backend returns 404 for key $1. Otherwise
# prints why the key does not count as absent.
backend_key_absent() {
    local key=$1 err_file=$WORK_DIR/head-absent.err
    if aws_backend s3api head-object --bucket "$BUCKET" --key "$key" >/dev/null 2>"$err_file"; then
        printf 'the key exists'
        return 1
    fi
    if grep -q '(404)' "$err_file"; then
        return 0
    fi
    printf 'head-object failed without a 404: %s' "$(tr '\n' ' ' <"$err_file")"
    return 1
}

setup() {
    local key_mode
    testlib_init roundtrip
    s3seal_check_bin
    backend_start
    s3seal_start

    key_mode=$(stat -c %a "$S3SEAL_KEY_FILE")
    check_equal "keygen writes the key file with mode 0600" 600 "$key_mode"

    CANARY="S3SEAL-CANARY-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    BUCKET=$(unique_bucket_name s3seal-roundtrip)
    if create_bucket aws_proxy "$BUCKET" >"$WORK_DIR/create-bucket.out" 2>&1; then
        pass "create-bucket $BUCKET through s3seal"
    else
        flunk "create-bucket $BUCKET through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/create-bucket.out")"
        fail "cannot go on without a bucket"
    fi
}

# Uploads, downloads and inspects one object of $1 bytes.
check_object_roundtrip() {
    local size=$1
    local key="size-$size" plain=$WORK_DIR/plain.bin out=$WORK_DIR/out.bin
    local stored=$WORK_DIR/stored.bin head_json=$WORK_DIR/head.json get_json=$WORK_DIR/get.json
    local expected_sha stored_size expected_stored missing key_name etag_head etag_get

    make_test_file "$plain" "$size"
    expected_sha=$(file_sha256 "$plain")

    if ! aws_proxy s3 cp --only-show-errors "$plain" "s3://$BUCKET/$key" 2>"$WORK_DIR/cp-up.err"; then
        flunk "$key: upload through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/cp-up.err")"
        return 0
    fi
    pass "$key: upload through s3seal"

    rm -f "$out"
    if aws_proxy s3 cp --only-show-errors "s3://$BUCKET/$key" "$out" 2>"$WORK_DIR/cp-down.err"; then
        check_equal "$key: download through s3seal matches SHA-256" "$expected_sha" "$(file_sha256 "$out")"
    else
        flunk "$key: download through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/cp-down.err")"
    fi
    rm -f "$out"

    # The stored object, read with the backend's credentials.
    rm -f "$stored"
    if aws_backend s3api get-object --bucket "$BUCKET" --key "$key" "$stored" >/dev/null 2>"$WORK_DIR/raw.err"; then
        stored_size=$(stat -c %s "$stored")
        expected_stored=$(ciphertext_size "$size")
        check_equal "$key: stored size on backend is the ciphertext size" "$expected_stored" "$stored_size"
        if ((size >= ${#CANARY})); then
            if file_contains "$stored" "$CANARY"; then
                flunk "$key: canary absent from stored bytes" "the plaintext canary is in the stored object"
            else
                pass "$key: canary absent from stored bytes"
            fi
        fi
    else
        flunk "$key: read stored object from backend" "$(tr '\n' ' ' <"$WORK_DIR/raw.err")"
    fi
    rm -f "$stored"

    if aws_backend s3api head-object --bucket "$BUCKET" --key "$key" >"$head_json" 2>"$WORK_DIR/raw-head.err"; then
        missing=""
        for key_name in "${REQUIRED_BACKEND_METADATA[@]}"; do
            if [[ $(json_field "$head_json" "'$key_name' in (d.get('Metadata') or {})") != True ]]; then
                missing+=" $key_name"
            fi
        done
        if [[ -z $missing ]]; then
            pass "$key: backend metadata has all s3seal keys"
        else
            flunk "$key: backend metadata has all s3seal keys" "missing:$missing; found: $(json_field "$head_json" "sorted((d.get('Metadata') or {}).keys())")"
        fi
    else
        flunk "$key: head-object on backend" "$(tr '\n' ' ' <"$WORK_DIR/raw-head.err")"
    fi

    # What a client sees through s3seal.
    if aws_proxy s3api head-object --bucket "$BUCKET" --key "$key" >"$head_json" 2>"$WORK_DIR/head.err"; then
        check_equal "$key: head-object ContentLength is the plaintext size" "$size" "$(json_field "$head_json" "d.get('ContentLength')")"
        etag_head=$(json_field "$head_json" "d.get('ETag')")
        ETAGS_FROM_HEAD[$key]=$etag_head
    else
        flunk "$key: head-object through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/head.err")"
        etag_head=""
    fi

    rm -f "$out"
    if aws_proxy s3api get-object --bucket "$BUCKET" --key "$key" "$out" >"$get_json" 2>"$WORK_DIR/get.err"; then
        check_equal "$key: get-object body matches SHA-256" "$expected_sha" "$(file_sha256 "$out")"
        etag_get=$(json_field "$get_json" "d.get('ETag')")
        check_equal "$key: get-object ETag equals head-object ETag" "$etag_head" "$etag_get"
    else
        flunk "$key: get-object through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/get.err")"
    fi
    rm -f "$out" "$plain"
}

# Compares each key's Size and ETag in list-objects-v2 through s3seal with
# the plaintext size and the head-object ETag.
check_listing() {
    local list_json=$WORK_DIR/list.json size key listed_size listed_etag
    if ! aws_proxy s3api list-objects-v2 --bucket "$BUCKET" >"$list_json" 2>"$WORK_DIR/list.err"; then
        flunk "list-objects-v2 through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/list.err")"
        return 0
    fi
    for size in "${SIZES[@]}"; do
        key="size-$size"
        listed_size=$(json_field "$list_json" "next((o['Size'] for o in d.get('Contents', []) if o['Key'] == '$key'), 'missing')")
        check_equal "$key: list-objects-v2 Size is the plaintext size" "$size" "$listed_size"
        listed_etag=$(json_field "$list_json" "next((o['ETag'] for o in d.get('Contents', []) if o['Key'] == '$key'), 'missing')")
        check_equal "$key: list-objects-v2 ETag equals head-object ETag" "${ETAGS_FROM_HEAD[$key]:-none}" "$listed_etag"
    done
}

# Runs aws-cli with --debug against s3seal as access key $1 / secret $2 and
# checks for HTTP status $3 and S3 error code $4. aws-cli 2.9 may hide the
# error code in its message (it fails with "argument of type 'NoneType' is not
# iterable" when the error has no Message), so the debug log of the response is
# read instead.
check_rejected() {
    local name=$1 access_key=$2 secret_key=$3 status=$4 code=$5
    shift 5
    local debug_log=$WORK_DIR/rejected.log rc=0
    aws_proxy_as "$access_key" "$secret_key" --debug "$@" >/dev/null 2>"$debug_log" || rc=$?
    if ((rc == 0)); then
        flunk "$name: aws-cli exit code" "expected non-zero, got 0"
    else
        pass "$name: aws-cli exit code is non-zero ($rc)"
    fi
    if grep -q "HTTP/1.1\" $status " "$debug_log"; then
        pass "$name: HTTP status $status"
    else
        flunk "$name: HTTP status $status" "got: $(grep -o 'HTTP/1.1" [0-9]*' "$debug_log" | tail -n 1)"
    fi
    if grep -q "$code" "$debug_log"; then
        pass "$name: error code $code"
    else
        flunk "$name: error code $code" "got: $(grep -o '<Code>[^<]*</Code>' "$debug_log" | tail -n 1)"
    fi
}

check_auth_rejections() {
    local body=$WORK_DIR/small.bin reason
    printf 'small object for rejected requests\n' >"$body"

    check_rejected "put-object with wrong secret" "$CLIENT_ACCESS_KEY" "wrong-$CLIENT_SECRET_KEY" 403 SignatureDoesNotMatch \
        s3api put-object --bucket "$BUCKET" --key neg-wrong-secret --body "$body"
    if reason=$(backend_key_absent neg-wrong-secret); then
        pass "put-object with wrong secret: key absent on backend"
    else
        flunk "put-object with wrong secret: key absent on backend" "$reason"
    fi

    check_rejected "put-object with unknown access key" S3SEALUNKNOWN0000001 "$CLIENT_SECRET_KEY" 403 InvalidAccessKeyId \
        s3api put-object --bucket "$BUCKET" --key neg-unknown-key --body "$body"
    if reason=$(backend_key_absent neg-unknown-key); then
        pass "put-object with unknown access key: key absent on backend"
    else
        flunk "put-object with unknown access key: key absent on backend" "$reason"
    fi

    # Clients must not set the metadata that s3seal uses for its own envelope.
    check_rejected "put-object with reserved metadata s3seal-dek" "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY" 400 InvalidArgument \
        s3api put-object --bucket "$BUCKET" --key neg-reserved-meta --body "$body" --metadata s3seal-dek=AAAA
    if reason=$(backend_key_absent neg-reserved-meta); then
        pass "put-object with reserved metadata: key absent on backend"
    else
        flunk "put-object with reserved metadata: key absent on backend" "$reason"
    fi
    rm -f "$body"
}

check_metadata_and_delete() {
    local body=$WORK_DIR/meta.bin key=meta-object head_json=$WORK_DIR/meta-head.json reason
    local content_type=text/x-s3seal-test
    printf 'object with user metadata\n' >"$body"

    if aws_proxy s3api put-object --bucket "$BUCKET" --key "$key" --body "$body" \
        --metadata color=blue --content-type "$content_type" >/dev/null 2>"$WORK_DIR/meta-put.err"; then
        pass "put-object with metadata through s3seal"
    else
        flunk "put-object with metadata through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/meta-put.err")"
    fi
    if aws_proxy s3api head-object --bucket "$BUCKET" --key "$key" >"$head_json" 2>"$WORK_DIR/meta-head.err"; then
        check_equal "head-object returns user metadata color=blue" blue "$(json_field "$head_json" "(d.get('Metadata') or {}).get('color')")"
        check_equal "head-object returns Content-Type" "$content_type" "$(json_field "$head_json" "d.get('ContentType')")"
    else
        flunk "head-object of metadata object through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/meta-head.err")"
    fi

    if aws_proxy s3api delete-object --bucket "$BUCKET" --key "$key" >/dev/null 2>"$WORK_DIR/delete.err"; then
        pass "delete-object through s3seal"
    else
        flunk "delete-object through s3seal" "$(tr '\n' ' ' <"$WORK_DIR/delete.err")"
    fi
    if reason=$(backend_key_absent "$key"); then
        pass "delete-object: key absent on backend"
    else
        flunk "delete-object: key absent on backend" "$reason"
    fi
    rm -f "$body"
}

# Stops s3seal and checks that it stopped cleanly and that its log has no
# AddressSanitizer or UndefinedBehaviorSanitizer report.
check_s3seal_shutdown() {
    s3seal_stop
    case $S3SEAL_EXIT_STATUS in
        0 | 143) pass "s3seal exits after SIGTERM (status $S3SEAL_EXIT_STATUS)" ;;
        *) flunk "s3seal exits after SIGTERM" "exit status $S3SEAL_EXIT_STATUS" ;;
    esac
    if grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$S3SEAL_LOG"; then
        flunk "s3seal log has no sanitizer report" "see the s3seal log below"
    else
        pass "s3seal log has no sanitizer report"
    fi
}

main() {
    local t_start t_step size
    declare -g -A ETAGS_FROM_HEAD=()
    t_start=$(now_us)
    setup

    for size in "${SIZES[@]}"; do
        t_step=$(now_us)
        check_object_roundtrip "$size"
        note "size $size done in $(elapsed_s "$t_step") s"
    done
    check_listing
    check_auth_rejections
    check_metadata_and_delete
    check_s3seal_shutdown

    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    if ((failures > 0)); then
        exit 1
    fi
}

main "$@"
