#!/usr/bin/env bash
# End-to-end test of the AWS KMS key provider against moto's KMS (moto 5.2.1
# in the pyenv Python on PATH), which this script starts on 127.0.0.1. These
# are contract tests against a stand-in, not tests against AWS: moto accepts
# any signature, so tests/unit/kms/test_kms_awskms.c checks the signing.
#
# Checks, with aws-cli v2 (/usr/bin/aws) through s3seal in front of Ceph RGW:
# - PUT and GET round trips of 0 bytes, 70 KiB and 20 MiB (multipart);
# - the backend stores ciphertext, with s3seal-kms "awskms:<key ARN>";
# - an envelope copied from one object onto another makes GET fail, and KMS
#   itself rejects the Decrypt (InvalidCiphertextException in the log);
# - after the setting moves to a second key, new objects use it and objects
#   written under the first key stay readable;
# - KMS slower than S3SEAL_AWSKMS_TIMEOUT_MS: the request ends with 503
#   after about the timeout (a delaying relay sits in front of moto);
# - "s3seal decrypt --kms-env" of an object copied straight from RGW;
# - KMS stopped: PUT gets 503 and nothing is stored, GET gets 503;
# - invalid settings stop start-up with a message naming the setting.
#
# Needs python3 with moto on PATH (MOTO_PYTHON overrides it) plus what lib.sh
# needs. Prints one "ok - ..." or "not ok - ..." line per check and exits 1
# if any check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/kms_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kms_lib.sh"

MOTO_PYTHON=${MOTO_PYTHON:-python3}
KMS_TIMEOUT_MS=1000
# far longer than the timeout, so a clean timeout stands apart from a wait for KMS on a loaded machine
RELAY_DELAY_S=30

BUCKET=""
MOTO_PID=""
MOTO_PORT=""
RELAY_PID=""
RELAY_PORT=""
RELAY_FLAG=""
KEY1_ARN=""
KEY2_ARN=""

# Stops moto and the relay (both started with setsid, so each is its own
# process group), then runs lib.sh's cleanup with the script's exit status.
awskms_on_exit() {
    local rc=$?
    set +e
    if [[ -n $RELAY_PID ]]; then
        kill -- "-$RELAY_PID" 2>/dev/null
    fi
    if [[ -n $MOTO_PID ]]; then
        kill -- "-$MOTO_PID" 2>/dev/null
    fi
    # testlib_on_exit reads the exit status from $?
    (exit "$rc")
    testlib_on_exit
}

testlib_install_traps
trap awskms_on_exit EXIT

wait_for_port() {
    local port=$1 pid=$2 what=$3 deadline
    deadline=$(($(now_us) + 20000000))
    until (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || fail "$what exited before listening on 127.0.0.1:$port"
        (($(now_us) < deadline)) || fail "$what did not listen on 127.0.0.1:$port within 20 s"
        sleep 0.1
    done
}

start_moto() {
    "$MOTO_PYTHON" -c 'import moto' 2>/dev/null || fail "$MOTO_PYTHON cannot import moto; pip install 'moto[server]'"
    MOTO_PORT=$(free_port)
    setsid "$MOTO_PYTHON" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK_DIR/moto.log" 2>&1 &
    MOTO_PID=$!
    wait_for_port "$MOTO_PORT" "$MOTO_PID" "moto"
    note "moto (PID $MOTO_PID) listening on 127.0.0.1:$MOTO_PORT"
}

stop_moto() {
    kill -- "-$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
}

start_relay() {
    RELAY_PORT=$(free_port)
    RELAY_FLAG=$WORK_DIR/relay-slow
    setsid "$PYTHON_BIN" "$TESTLIB_DIR/slow_relay.py" "$RELAY_PORT" "$MOTO_PORT" "$RELAY_FLAG" "$RELAY_DELAY_S" \
        >"$WORK_DIR/relay.log" 2>&1 &
    RELAY_PID=$!
    wait_for_port "$RELAY_PORT" "$RELAY_PID" "the delaying relay"
}

# Runs aws-cli's kms commands against moto with dummy credentials.
aws_kms() {
    env -u AWS_CA_BUNDLE AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
        "$AWS_BIN" --endpoint-url "http://127.0.0.1:$MOTO_PORT" kms "$@"
}

# Settings that select the AWS KMS provider with key $1 through port $2.
# The data key cache is off, so every GET reaches KMS and the outage checks
# see it, and without unwrap retries a GET fails after one timeout.
awskms_env() {
    printf '%s\n' "S3SEAL_KMS_PROVIDER=awskms" "S3SEAL_AWSKMS_ENDPOINT=http://127.0.0.1:$2" \
        "S3SEAL_AWSKMS_REGION=us-east-1" "S3SEAL_AWSKMS_KEY_ID=$1" "S3SEAL_AWSKMS_ACCESS_KEY_ID=testing" \
        "S3SEAL_AWSKMS_SECRET_ACCESS_KEY=testing-secret" "S3SEAL_AWSKMS_TIMEOUT_MS=$KMS_TIMEOUT_MS" "S3SEAL_KEY_FILE=" \
        "S3SEAL_KEY_CACHE_SIZE=0" "S3SEAL_KMS_RETRIES=0"
}

start_with_key() {
    local settings=()
    mapfile -t settings < <(awskms_env "$1" "$2")
    S3SEAL_START_ENV=("${settings[@]}")
    s3seal_start
}

# Prints the HTTP status of a request through s3seal, from aws-cli's debug output. The request is
# expected to fail, so neither its exit status nor aws-cli's retries stop the script.
http_status_of() {
    { AWS_MAX_ATTEMPTS=1 aws_proxy --debug "$@" 2>&1 >/dev/null || true; } |
        sed -n 's/.*"[A-Z]* [^ ]* HTTP\/1.1" \([0-9][0-9][0-9]\).*/\1/p' | tail -n 1
}

create_keys() {
    KEY1_ARN=$(aws_kms create-key --description "s3seal test key 1" --query KeyMetadata.Arn --output text)
    aws_kms create-alias --alias-name alias/s3seal-it --target-key-id "$KEY1_ARN"
    [[ $KEY1_ARN == arn:aws:kms:* ]] || fail "aws kms create-key returned '$KEY1_ARN'"
}

test_round_trips() {
    local size key file raw=$WORK_DIR/raw.bin multipart_config=$WORK_DIR/aws-multipart.config
    sed 's/multipart_threshold = .*/multipart_threshold = 8MB\n    multipart_chunksize = 8MB/' \
        "$AWS_CONFIG_FILE" >"$multipart_config"

    for size in 0 71680 20971520; do
        key=kms-$size
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
        check_equal "$key: backend s3seal-kms names the key ARN" "awskms:$KEY1_ARN" "$(backend_kms_id "$key")"
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
    local a=$WORK_DIR/swap-a b=$WORK_DIR/swap-b before
    make_file "$a" 71680
    make_file "$b" 71680
    put_object "$a" swap-a
    put_object "$b" swap-b
    check_get "swap-a: GET works before the swap" "$a" swap-a
    swap_envelope swap-a swap-b
    before=$(grep -c 'InvalidCiphertextException' "$S3SEAL_LOG" || true)
    check_get_fails "swap-a: GET fails with the envelope of another object" "$a" swap-a
    if (($(grep -c 'Decrypt failed.*type=InvalidCiphertextException' "$S3SEAL_LOG" || true) > before)); then
        pass "swap-a: KMS rejects the other object's context"
    else
        flunk "swap-a: KMS rejects the other object's context" "no InvalidCiphertextException in $S3SEAL_LOG"
    fi
    check_get "swap-b: GET of the source object still works" "$b" swap-b
}

test_rotation() {
    local file=$WORK_DIR/rotated
    KEY2_ARN=$(aws_kms create-key --description "s3seal test key 2" --query KeyMetadata.Arn --output text)
    s3seal_stop
    start_with_key "$KEY2_ARN" "$MOTO_PORT"
    make_file "$file" 71680
    put_object "$file" rotated
    check_equal "rotated: new object uses the second key" "awskms:$KEY2_ARN" "$(backend_kms_id rotated)"
    check_get "rotated: GET under the second key" "$file" rotated
    check_get "kms-71680: written under the first key, readable after rotation" "$WORK_DIR/plain-71680" kms-71680
    check_get "kms-20971520: multipart under the first key, readable after rotation" \
        "$WORK_DIR/plain-20971520" kms-20971520
}

test_slow_kms() {
    local status t0 elapsed_ms file=$WORK_DIR/slow
    start_relay
    s3seal_stop
    start_with_key "$KEY2_ARN" "$RELAY_PORT"
    make_file "$file" 1024
    touch "$RELAY_FLAG"
    t0=$(now_us)
    status=$(http_status_of s3api put-object --bucket "$BUCKET" --key slow --body "$file")
    elapsed_ms=$((($(now_us) - t0) / 1000))
    check_equal "slow KMS: PUT answers 503" 503 "$status"
    if ((elapsed_ms >= KMS_TIMEOUT_MS && elapsed_ms < RELAY_DELAY_S * 1000)); then
        pass "slow KMS: PUT ends after about the timeout (${elapsed_ms} ms)"
    else
        flunk "slow KMS: PUT ends after about the timeout" "took ${elapsed_ms} ms, timeout ${KMS_TIMEOUT_MS} ms"
    fi
    status=$(http_status_of s3api get-object --bucket "$BUCKET" --key rotated "$WORK_DIR/slow.out")
    check_equal "slow KMS: GET answers 503" 503 "$status"
    rm -f "$RELAY_FLAG"
    check_get "slow KMS: GET works again once KMS is fast" "$WORK_DIR/rotated" rotated
}

test_kms_stopped() {
    local status file=$WORK_DIR/stopped
    make_file "$file" 1024
    stop_moto
    status=$(http_status_of s3api put-object --bucket "$BUCKET" --key stopped --body "$file")
    check_equal "KMS stopped: PUT answers 503" 503 "$status"
    if aws_backend s3api head-object --bucket "$BUCKET" --key stopped >/dev/null 2>&1; then
        flunk "KMS stopped: nothing is stored" "the backend has key 'stopped'"
    else
        pass "KMS stopped: nothing is stored"
    fi
    status=$(http_status_of s3api get-object --bucket "$BUCKET" --key rotated "$WORK_DIR/stopped.out")
    check_equal "KMS stopped: GET answers 503" 503 "$status"
}

test_setting_messages() {
    local settings=()
    mapfile -t settings < <(awskms_env alias/s3seal-it "$MOTO_PORT")
    check_config_fails "awskms without an endpoint is rejected" S3SEAL_AWSKMS_ENDPOINT \
        "${settings[@]}" S3SEAL_AWSKMS_ENDPOINT=
    check_config_fails "an unknown alias names the key setting" "S3SEAL_AWSKMS_KEY_ID=alias/nope" \
        "${settings[@]}" S3SEAL_AWSKMS_KEY_ID=alias/nope
    check_config_fails "an endpoint with a path is rejected" "give the base URL only" \
        "${settings[@]}" "S3SEAL_AWSKMS_ENDPOINT=http://127.0.0.1:$MOTO_PORT/kms"
    check_config_fails "an unreachable endpoint names the setting" "S3SEAL_AWSKMS_ENDPOINT=http://127.0.0.1:1" \
        "${settings[@]}" "S3SEAL_AWSKMS_ENDPOINT=http://127.0.0.1:1"
    if grep -rq -- testing-secret "$WORK_DIR/check-config.out"; then
        flunk "messages carry no secret" "the secret access key is in check-config output"
    else
        pass "messages carry no secret"
    fi
}

# "s3seal decrypt --kms-env" of the multipart object copied straight from RGW.
test_decrypt_offline() {
    local key=kms-20971520 stored=$WORK_DIR/dec.stored out=$WORK_DIR/dec.plain rc=0
    local settings=()
    aws_backend s3api head-object --bucket "$BUCKET" --key "$key" >"$WORK_DIR/dec.head.json"
    aws_backend s3 cp --only-show-errors "s3://$BUCKET/$key" "$stored"
    mapfile -t settings < <(awskms_env "$KEY2_ARN" "$MOTO_PORT")
    env "${settings[@]}" "$(s3seal_bin_path)" decrypt --kms-env --bucket "$BUCKET" --key "$key" \
        --metadata "$WORK_DIR/dec.head.json" --in "$stored" --out "$out" 2>"$WORK_DIR/dec.err" || rc=$?
    if ((rc == 0)) && cmp -s "$WORK_DIR/plain-20971520" "$out"; then
        pass "s3seal decrypt --kms-env of a multipart object copied from RGW matches the original"
    else
        flunk "s3seal decrypt --kms-env matches the original" "exit $rc: $(one_line "$WORK_DIR/dec.err")"
    fi
}

main() {
    testlib_init kms_awskms
    s3seal_check_bin
    start_moto
    create_keys
    backend_start

    test_setting_messages
    start_with_key alias/s3seal-it "$MOTO_PORT"
    BUCKET=$(unique_bucket_name s3seal-awskms)
    create_bucket aws_proxy "$BUCKET" >/dev/null
    test_round_trips
    test_envelope_swap
    test_rotation
    test_slow_kms
    test_decrypt_offline
    test_kms_stopped
    s3seal_stop

    printf '%d checks, %d failed\n' "$checks" "$failures"
    ((failures == 0))
}

main "$@"
