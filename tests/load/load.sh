#!/usr/bin/env bash
# Load test: load_check.py runs concurrent clients doing mixed
# PUT/GET/HEAD/LIST requests through s3seal (bounded count, every response
# checked), then holds many idle keep-alive connections, and reports
# s3seal's RSS (VmRSS, sampled every second): start, max, end and growth.
# Passes when no request fails; there are no timing thresholds. Last,
# s3seal's log must hold no sanitizer report.
#
# Usage: bash tests/load/load.sh [--full]   (settings of tests/integration/lib.sh)
#   default (CI): 20 clients x 25 requests, 1,000 idle connections
#   --full:       200 clients x 50 requests, 10,000 idle connections
#   LOAD_CLIENTS, LOAD_REQUESTS, LOAD_IDLE override either mode.
# tests/faults/README.md describes this test with the fault and tamper tests.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

LOAD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUCKET=""
CLIENTS=20
REQUESTS=25
IDLE=1000

testlib_install_traps

# Each idle connection is a descriptor in s3seal and one in the Python
# client; both inherit this limit.
raise_fd_limit() {
    local want=$((IDLE + 1024)) hard
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((hard < want)); then
        fail "the hard limit of open files is $hard; $IDLE idle connections need $want (raise it with ulimit -Hn as root)"
    fi
    if (($(ulimit -Sn) < want)); then
        ulimit -Sn "$want"
    fi
    note "open files limit $(ulimit -Sn)"
}

setup() {
    testlib_init load
    s3seal_check_bin
    raise_fd_limit
    backend_start
    s3seal_start
    BUCKET=$(unique_bucket_name s3seal-load)
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
    local t_start
    case ${1:-} in
        --full) CLIENTS=200 REQUESTS=50 IDLE=10000 ;;
        "") ;;
        *) fail "unknown argument '$1'; usage: load.sh [--full]" ;;
    esac
    CLIENTS=${LOAD_CLIENTS:-$CLIENTS}
    REQUESTS=${LOAD_REQUESTS:-$REQUESTS}
    IDLE=${LOAD_IDLE:-$IDLE}
    t_start=$(now_us)
    setup
    run_helper "load_check.py" env PROXY_ENDPOINT="$PROXY_ENDPOINT" CLIENT_ACCESS_KEY="$CLIENT_ACCESS_KEY" \
        CLIENT_SECRET_KEY="$CLIENT_SECRET_KEY" REGION="$REGION" BUCKET="$BUCKET" S3SEAL_PID="$S3SEAL_PID" \
        "$PYTHON_BIN" "$LOAD_DIR/load_check.py" "$CLIENTS" "$REQUESTS" "$IDLE"
    grep '^load' "$WORK_DIR/helper.err" >&2 || true
    check_shutdown

    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    ((failures == 0))
}

main "$@"
