#!/usr/bin/env bash
# End-to-end test of s3seal with real S3 clients, each configured for single
# PUTs. Over HTTP and HTTPS: aws-cli 2.9 (/usr/bin/aws), aws-cli 1.45 (pyenv's,
# run as "python3 -m awscli") and boto3 1.43. Over HTTP only: the AWS SDK for
# JavaScript v3, minio-js, s3cmd, rclone, and presigned GET and PUT URLs used
# with curl. Every client uploads
# and downloads objects of 0 B, 1 B, 70 KiB and 6 MiB, compares SHA-256,
# lists and deletes them. The backend is read directly to check that each
# uploaded object is ciphertext of the documented size with envelope
# metadata, and that deleted objects are gone.
#
# Needs: s3cmd, rclone, node and npm (Debian packages), the pyenv python3
# with boto3 1.43 and awscli 1.45, openssl, curl, and the node packages of
# tests/integration/node installed with "npm ci --prefix tests/integration/node".
# Backend and binary as in roundtrip.sh (lib.sh lists the variables).
#
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Plaintext sizes: empty, one byte, 70 KiB (one full 64 KiB chunk and a
# partial one) and 6 MiB (above the 5 MiB part size clients often default to).
SIZES=(0 1 71680 6291456)

# The pyenv Python with boto3 1.43 and awscli 1.45, not /usr/bin/python3.
PY_CLIENTS=python3
NODE_DIR=$TESTLIB_DIR/node

BUCKET=""
DATA_DIR=""

testlib_install_traps

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# Checks on the backend that each KEY=SIZE in "$@" is stored as ciphertext.
backend_stored() {
    local label=$1
    shift
    run_helper "$label: backend check" "$PY_CLIENTS" "$TESTLIB_DIR/clients_py.py" stored "$label" "$BUCKET" "$@"
}

backend_absent() {
    local label=$1
    shift
    run_helper "$label: backend absence check" "$PY_CLIENTS" "$TESTLIB_DIR/clients_py.py" absent "$label" "$BUCKET" "$@"
}

# Prints KEY=SIZE for every test file under prefix $1.
stored_list() {
    local prefix=$1 size
    for size in "${SIZES[@]}"; do
        printf '%s\n' "$prefix/size-$size.bin=$size"
    done
}

setup() {
    local size
    testlib_init clients
    s3seal_check_bin
    command -v s3cmd >/dev/null || fail "s3cmd not found; install the Debian package s3cmd"
    command -v rclone >/dev/null || fail "rclone not found; install the Debian package rclone"
    command -v node >/dev/null || fail "node not found; install the Debian packages nodejs and npm"
    [[ -d $NODE_DIR/node_modules/@aws-sdk/client-s3 && -d $NODE_DIR/node_modules/minio ]] ||
        fail "node packages missing in $NODE_DIR; run: npm ci --prefix $NODE_DIR"
    "$PY_CLIENTS" -c 'import boto3' 2>/dev/null || fail "'$PY_CLIENTS' has no boto3; put the pyenv Python 3.11 with boto3 1.43 on PATH"
    "$PY_CLIENTS" -m awscli --version >/dev/null 2>&1 || fail "'$PY_CLIENTS -m awscli' does not run; install awscli 1.x into that Python"

    backend_start
    make_test_ca
    s3seal_start

    DATA_DIR=$WORK_DIR/data
    mkdir -p "$DATA_DIR"
    for size in "${SIZES[@]}"; do
        head -c "$size" /dev/urandom >"$DATA_DIR/size-$size.bin"
    done

    export PROXY_ENDPOINT BACKEND_ENDPOINT BACKEND_ACCESS_KEY BACKEND_SECRET_KEY REGION TEST_CA_FILE
    export CLIENT_ACCESS_KEY CLIENT_SECRET_KEY

    BUCKET=$(unique_bucket_name s3seal-clients)
    if create_bucket aws_proxy "$BUCKET" >"$WORK_DIR/create-bucket.out" 2>&1; then
        pass "create-bucket $BUCKET through s3seal"
    else
        flunk "create-bucket $BUCKET through s3seal" "$(one_line "$WORK_DIR/create-bucket.out")"
        fail "cannot go on without a bucket"
    fi
}

# Restarts s3seal, over HTTPS with the test CA when $1 is 1. The key file
# stays, so objects stored before remain readable.
restart_s3seal() {
    s3seal_stop
    S3SEAL_START_TLS=$1
    s3seal_start
}

# Runs one aws-cli flavour against s3seal. AWSCLI_FLAVOUR is "v2" for
# /usr/bin/aws or "v1" for pyenv's awscli 1.45. Over HTTPS it trusts only the
# test CA.
awscli_run() {
    local cmd
    if [[ $AWSCLI_FLAVOUR == v2 ]]; then
        cmd=("$AWS_BIN")
    else
        cmd=("$PY_CLIENTS" -m awscli)
    fi
    if [[ $PROXY_ENDPOINT == https://* ]]; then
        cmd+=(--ca-bundle "$TEST_CA_FILE")
    fi
    AWS_ACCESS_KEY_ID=$CLIENT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CLIENT_SECRET_KEY \
        AWS_DEFAULT_REGION=$REGION "${cmd[@]}" --endpoint-url "$PROXY_ENDPOINT" "$@"
}

# Upload, download, list and delete with aws-cli flavour $1 under label $2.
check_awscli() {
    AWSCLI_FLAVOUR=$1
    local label=$2 prefix=$2 size key out=$WORK_DIR/awscli.out err=$WORK_DIR/awscli.err
    local listed delete_json keys=()
    prefix=${prefix// /-}

    for size in "${SIZES[@]}"; do
        key=$prefix/size-$size.bin
        if awscli_run s3 cp --only-show-errors "$DATA_DIR/size-$size.bin" "s3://$BUCKET/$key" 2>"$err"; then
            pass "$label: $key: s3 cp upload"
            keys+=("$key")
        else
            flunk "$label: $key: s3 cp upload" "$(one_line "$err")"
            continue
        fi
        rm -f "$out"
        if awscli_run s3 cp --only-show-errors "s3://$BUCKET/$key" "$out" 2>"$err"; then
            check_equal "$label: $key: s3 cp download matches SHA-256" "$(file_sha256 "$DATA_DIR/size-$size.bin")" "$(file_sha256 "$out")"
        else
            flunk "$label: $key: s3 cp download" "$(one_line "$err")"
        fi
        rm -f "$out"
        if awscli_run s3api get-object --checksum-mode ENABLED --bucket "$BUCKET" --key "$key" "$out" >/dev/null 2>"$err"; then
            check_equal "$label: $key: get-object --checksum-mode ENABLED matches SHA-256" "$(file_sha256 "$DATA_DIR/size-$size.bin")" "$(file_sha256 "$out")"
        else
            flunk "$label: $key: get-object --checksum-mode ENABLED" "$(one_line "$err")"
        fi
        rm -f "$out"
    done
    # shellcheck disable=SC2046
    backend_stored "$label" $(stored_list "$prefix")

    if awscli_run s3 ls "s3://$BUCKET/$prefix/" >"$out" 2>"$err"; then
        listed=$(awk '{print $4 "=" $3}' "$out" | sort | tr '\n' ' ')
        check_equal "$label: s3 ls shows every key with its plaintext size" \
            "$(for size in "${SIZES[@]}"; do printf 'size-%s.bin=%s\n' "$size" "$size"; done | sort | tr '\n' ' ')" "$listed"
    else
        flunk "$label: s3 ls" "$(one_line "$err")"
    fi

    # One key with "s3 rm" (DeleteObject), the rest with "s3api
    # delete-objects": aws-cli 2.9 sends Content-MD5, aws-cli 1.45 a CRC32.
    if ((${#keys[@]} > 0)); then
        if awscli_run s3 rm --only-show-errors "s3://$BUCKET/${keys[0]}" 2>"$err"; then
            pass "$label: ${keys[0]}: s3 rm"
        else
            flunk "$label: ${keys[0]}: s3 rm" "$(one_line "$err")"
        fi
    fi
    if ((${#keys[@]} > 1)); then
        delete_json=$("$PY_CLIENTS" -c 'import json, sys
print(json.dumps({"Objects": [{"Key": k} for k in sys.argv[1:]]}))' "${keys[@]:1}")
        if awscli_run s3api delete-objects --bucket "$BUCKET" --delete "$delete_json" >"$out" 2>"$err"; then
            if grep -q '"Errors"' "$out"; then
                flunk "$label: s3api delete-objects" "$(one_line "$out")"
            else
                pass "$label: s3api delete-objects"
            fi
        else
            flunk "$label: s3api delete-objects" "$(one_line "$err")"
        fi
    fi
    backend_absent "$label" "${keys[@]}"
}

check_boto3() {
    local label=$1
    run_helper "$label: boto3 helper" "$PY_CLIENTS" "$TESTLIB_DIR/clients_py.py" boto3 "$label" "$BUCKET" "$DATA_DIR"
}

check_sdkv3() {
    local label="sdk-js-v3 http" size keys=()
    run_helper "$label: upload" node "$NODE_DIR/sdkv3.mjs" upload "$label" "$BUCKET" "$DATA_DIR"
    for size in "${SIZES[@]}"; do
        keys+=("sdkv3/buffer-size-$size.bin=$size" "sdkv3/stream-size-$size.bin=$size")
    done
    backend_stored "$label" "${keys[@]}"
    run_helper "$label: delete" node "$NODE_DIR/sdkv3.mjs" delete "$label" "$BUCKET" "$DATA_DIR"
    backend_absent "$label" "${keys[@]%=*}"
}

check_minio() {
    local label="minio-js http" keys
    run_helper "$label: upload" node "$NODE_DIR/minio.mjs" upload "$label" "$BUCKET" "$DATA_DIR"
    mapfile -t keys < <(stored_list minio)
    backend_stored "$label" "${keys[@]}"
    run_helper "$label: delete" node "$NODE_DIR/minio.mjs" delete "$label" "$BUCKET" "$DATA_DIR"
    backend_absent "$label" "${keys[@]%=*}"
}

check_s3cmd() {
    local label="s3cmd http" cfg=$WORK_DIR/s3cfg size key out=$WORK_DIR/s3cmd.out log=$WORK_DIR/s3cmd.log
    local port=${PROXY_ENDPOINT##*:} keys=() listed
    cat >"$cfg" <<CFG
[default]
access_key = $CLIENT_ACCESS_KEY
secret_key = $CLIENT_SECRET_KEY
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
bucket_location = $REGION
use_https = False
signature_v2 = False
check_ssl_certificate = True
proxy_host =
CFG
    local s3cmd=(s3cmd -c "$cfg" --no-progress)

    for size in "${SIZES[@]}"; do
        key=s3cmd/size-$size.bin
        if "${s3cmd[@]}" put --disable-multipart "$DATA_DIR/size-$size.bin" "s3://$BUCKET/$key" >"$log" 2>&1; then
            pass "$label: $key: put --disable-multipart"
        else
            flunk "$label: $key: put --disable-multipart" "exit status $?: $(one_line "$log")"
        fi
        keys+=("$key")
        rm -f "$out"
        if "${s3cmd[@]}" get --force "s3://$BUCKET/$key" "$out" >"$log" 2>&1; then
            check_equal "$label: $key: get matches SHA-256" "$(file_sha256 "$DATA_DIR/size-$size.bin")" "$(file_sha256 "$out")"
            if grep -q -i 'WARNING' "$log"; then
                flunk "$label: $key: get prints no warning" "$(one_line "$log")"
            else
                pass "$label: $key: get prints no warning"
            fi
        else
            flunk "$label: $key: get" "$(one_line "$log")"
        fi
        rm -f "$out"
    done
    # shellcheck disable=SC2046
    backend_stored "$label" $(stored_list s3cmd)

    if "${s3cmd[@]}" ls "s3://$BUCKET/s3cmd/" >"$out" 2>"$log"; then
        listed=$(awk '{n = $4; sub(".*/", "", n); print n "=" $3}' "$out" | sort | tr '\n' ' ')
        check_equal "$label: ls shows every key with its plaintext size" \
            "$(for size in "${SIZES[@]}"; do printf 'size-%s.bin=%s\n' "$size" "$size"; done | sort | tr '\n' ' ')" "$listed"
    else
        flunk "$label: ls" "$(one_line "$log")"
    fi
    if "${s3cmd[@]}" del "${keys[@]/#/s3://$BUCKET/}" >"$log" 2>&1; then
        pass "$label: del"
    else
        flunk "$label: del" "$(one_line "$log")"
    fi
    backend_absent "$label" "${keys[@]}"
}

check_rclone() {
    local label="rclone http" size key log=$WORK_DIR/rclone.log out=$WORK_DIR/rclone.out keys=()
    # rclone 1.60 fails every call when AWS_CA_BUNDLE is set; testlib_init
    # unsets it. The remote "seal" is defined only in the environment.
    local rclone=(env RCLONE_CONFIG=/dev/null RCLONE_CONFIG_SEAL_TYPE=s3 RCLONE_CONFIG_SEAL_PROVIDER=Other
        RCLONE_CONFIG_SEAL_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" RCLONE_CONFIG_SEAL_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY"
        RCLONE_CONFIG_SEAL_ENDPOINT="$PROXY_ENDPOINT" RCLONE_CONFIG_SEAL_REGION="$REGION"
        RCLONE_CONFIG_SEAL_FORCE_PATH_STYLE=true
        rclone --s3-upload-cutoff 5G --retries 1 --low-level-retries 1)

    if "${rclone[@]}" copy "$DATA_DIR" "seal:$BUCKET/rclone" >"$log" 2>&1; then
        pass "$label: copy"
    else
        flunk "$label: copy" "$(grep -m 3 -E 'ERROR|Failed' "$log" | tr '\n' ' ' | cut -c1-600)"
    fi
    # shellcheck disable=SC2046
    backend_stored "$label" $(stored_list rclone)
    if "${rclone[@]}" check "$DATA_DIR" "seal:$BUCKET/rclone" >"$log" 2>&1; then
        pass "$label: check"
    else
        flunk "$label: check" "$(grep -m 3 -E 'ERROR|differ|Failed' "$log" | tr '\n' ' ' | cut -c1-600)"
    fi
    for size in "${SIZES[@]}"; do
        key=rclone/size-$size.bin
        keys+=("$key")
        if "${rclone[@]}" cat "seal:$BUCKET/$key" >"$out" 2>"$log"; then
            check_equal "$label: $key: cat matches SHA-256" "$(file_sha256 "$DATA_DIR/size-$size.bin")" "$(file_sha256 "$out")"
        else
            flunk "$label: $key: cat" "$(one_line "$log")"
        fi
        rm -f "$out"
    done
    if "${rclone[@]}" delete "seal:$BUCKET/rclone" >"$log" 2>&1; then
        pass "$label: delete"
    else
        flunk "$label: delete" "$(one_line "$log")"
    fi
    backend_absent "$label" "${keys[@]}"
}

# Presigned GET URLs from "aws s3 presign" (aws-cli 2.9) and boto3, and a
# presigned PUT URL from boto3, all used with curl.
check_presigned() {
    local label="presigned http" key=presign/size-71680.bin src=$DATA_DIR/size-71680.bin
    local out=$WORK_DIR/presign.out err=$WORK_DIR/presign.err url status

    url=$("$PY_CLIENTS" "$TESTLIB_DIR/clients_py.py" presign PUT "$BUCKET" "$key" 2>"$err") ||
        fail "boto3 generate_presigned_url failed: $(one_line "$err")"
    status=$(curl -sS -o "$out" -w '%{http_code}' -T "$src" "$url" 2>"$err") || status="curl failed: $(one_line "$err")"
    check_equal "$label: boto3 presigned PUT with curl returns 200" 200 "$status"
    backend_stored "$label" "$key=71680"

    rm -f "$out"
    url=$("$PY_CLIENTS" "$TESTLIB_DIR/clients_py.py" presign GET "$BUCKET" "$key" 2>"$err") ||
        fail "boto3 generate_presigned_url failed: $(one_line "$err")"
    status=$(curl -sS -o "$out" -w '%{http_code}' "$url" 2>"$err") || status="curl failed: $(one_line "$err")"
    check_equal "$label: boto3 presigned GET with curl returns 200" 200 "$status"
    check_equal "$label: boto3 presigned GET matches SHA-256" "$(file_sha256 "$src")" "$(file_sha256 "$out")"

    rm -f "$out"
    AWSCLI_FLAVOUR=v2
    if url=$(awscli_run s3 presign "s3://$BUCKET/$key" --expires-in 300 2>"$err"); then
        status=$(curl -sS -o "$out" -w '%{http_code}' "$url" 2>"$err") || status="curl failed: $(one_line "$err")"
        check_equal "$label: aws-cli 2 s3 presign GET with curl returns 200" 200 "$status"
        check_equal "$label: aws-cli 2 s3 presign GET matches SHA-256" "$(file_sha256 "$src")" "$(file_sha256 "$out")"
    else
        flunk "$label: aws-cli 2 s3 presign" "$(one_line "$err")"
    fi
    rm -f "$out"
}

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
    local t_start
    t_start=$(now_us)
    setup

    timed check_awscli v2 "aws-cli-2 http"
    timed check_awscli v1 "aws-cli-1 http"
    timed check_boto3 "boto3 http"
    timed check_sdkv3
    timed check_minio
    timed check_s3cmd
    timed check_rclone
    timed check_presigned

    restart_s3seal 1
    export PROXY_ENDPOINT
    timed check_awscli v2 "aws-cli-2 https"
    timed check_awscli v1 "aws-cli-1 https"
    timed check_boto3 "boto3 https"
    check_s3seal_shutdown

    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    if ((failures > 0)); then
        exit 1
    fi
}

main "$@"
