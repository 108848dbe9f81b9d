#!/usr/bin/env bash
# Backend and client faults: puts tests/faults/relay.py between s3seal and
# Ceph RGW, arms one fault at a time (refused connects, resets and stalls in
# the middle of uploads and downloads, 500 and 503 SlowDown responses) and
# checks with faults_check.py that the client gets the right S3 error or a
# cut-short response, that s3seal serves the next request, and that RGW
# holds no partial object and no open multipart upload. Clients that
# disconnect in the middle of an upload and of a download, or stop sending
# in the middle of an upload, are checked the same way. Last, s3seal is stopped and its log must hold no AddressSanitizer,
# LeakSanitizer or UndefinedBehaviorSanitizer report.
#
# Usage: bash tests/faults/faults.sh   (settings of tests/integration/lib.sh)
#   FAULT_TABLE=FILE   also write the results table (Markdown) to FILE
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RELAY_PID=""
RELAY_PORT=""
RELAY_CONTROL_PORT=""
RGW_ENDPOINT=""
BUCKET=""
CLIENT_TIMEOUT_S=5

stop_relay() {
    if [[ -n $RELAY_PID ]]; then
        kill -TERM "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
        RELAY_PID=""
    fi
}

on_exit() {
    local rc=$?
    set +e
    stop_relay
    (exit "$rc")
    testlib_on_exit
}

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_relay() {
    local log=$WORK_DIR/relay.log deadline backend_port
    backend_port=${RGW_ENDPOINT##*:}
    RELAY_PORT=$(free_port)
    RELAY_CONTROL_PORT=$(free_port)
    "$PYTHON_BIN" "$FAULTS_DIR/relay.py" "$RELAY_PORT" "$backend_port" "$RELAY_CONTROL_PORT" >"$log" 2>&1 &
    RELAY_PID=$!
    deadline=$(($(now_us) + 10000000))
    until grep -q 'relay listening' "$log"; do
        kill -0 "$RELAY_PID" 2>/dev/null || fail "relay.py exited: $(one_line "$log")"
        (($(now_us) < deadline)) || fail "relay.py did not start within 10 s"
        sleep 0.05
    done
    note "fault relay PID $RELAY_PID on 127.0.0.1:$RELAY_PORT (control port $RELAY_CONTROL_PORT)"
}

setup() {
    testlib_init faults
    s3seal_check_bin
    backend_start
    [[ $BACKEND_ENDPOINT == http://127.0.0.1:* ]] || fail "faults.sh needs a backend at http://127.0.0.1:PORT, got $BACKEND_ENDPOINT"
    RGW_ENDPOINT=$BACKEND_ENDPOINT
    start_relay

    # s3seal talks to the relay; the checks read the backend directly. Short
    # timeouts keep the stall cases at a few seconds each. The client timeout
    # is the longer one, so that a stalled backend is not taken for a
    # client that stopped sending.
    BACKEND_ENDPOINT=http://127.0.0.1:$RELAY_PORT
    S3SEAL_START_ENV=(S3SEAL_BACKEND_TIMEOUT=3 "S3SEAL_CLIENT_TIMEOUT=$CLIENT_TIMEOUT_S")
    s3seal_start
    BACKEND_ENDPOINT=$RGW_ENDPOINT

    BUCKET=$(unique_bucket_name s3seal-faults)
    create_bucket aws_backend "$BUCKET" >/dev/null 2>"$WORK_DIR/create-bucket.err" ||
        fail "create-bucket $BUCKET on the backend: $(one_line "$WORK_DIR/create-bucket.err")"
}

check_shutdown() {
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
    local t_start table
    t_start=$(now_us)
    setup
    table=${FAULT_TABLE:-$WORK_DIR/faults-table.md}
    run_helper "faults_check.py" env PROXY_ENDPOINT="$PROXY_ENDPOINT" CLIENT_ACCESS_KEY="$CLIENT_ACCESS_KEY" \
        CLIENT_SECRET_KEY="$CLIENT_SECRET_KEY" BACKEND_ENDPOINT="$RGW_ENDPOINT" \
        BACKEND_ACCESS_KEY="$BACKEND_ACCESS_KEY" BACKEND_SECRET_KEY="$BACKEND_SECRET_KEY" REGION="$REGION" \
        RELAY_CONTROL_PORT="$RELAY_CONTROL_PORT" S3SEAL_PID="$S3SEAL_PID" S3SEAL_CLIENT_TIMEOUT="$CLIENT_TIMEOUT_S" BUCKET="$BUCKET" FAULT_TABLE="$table" \
        "$PYTHON_BIN" "$FAULTS_DIR/faults_check.py"
    [[ -s $table ]] && cat "$table" >&2
    check_shutdown

    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    ((failures == 0))
}

main "$@"
