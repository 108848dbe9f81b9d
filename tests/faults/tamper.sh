#!/usr/bin/env bash
# Tamper test: tamper_check.py stores objects of 0 B, 1 B, 64 KiB, 64 KiB + 1,
# 1 MiB and a two-part multipart object through s3seal, then flips random
# bits in their stored ciphertext and envelope metadata directly on Ceph RGW
# and reads each altered version through s3seal with GET and ranged GET.
# Every read must fail closed, and every byte the client receives is
# compared with the original plaintext. Each read that fails verification
# (500, or a body cut short) must move s3seal_integrity_failures_total on the
# admin listener's /metrics. Last, s3seal's log must hold no sanitizer
# report.
#
# Usage: bash tests/faults/tamper.sh   (settings of tests/integration/lib.sh)
#   TAMPER_SAMPLES=N   altered versions to read (300; the long mode is 3000)
#   TAMPER_SEED=N      repeat a run with the seed it printed
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUCKET=""
ADMIN_PORT=""

testlib_install_traps

setup() {
    testlib_init tamper
    s3seal_check_bin
    backend_start
    ADMIN_PORT=$(free_port)
    S3SEAL_START_ENV=("S3SEAL_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT")
    s3seal_start
    BUCKET=$(unique_bucket_name s3seal-tamper)
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
    t_start=$(now_us)
    setup
    # The per-sample lines go to a file; only failures and the summary are printed.
    run_helper "tamper_check.py" env PROXY_ENDPOINT="$PROXY_ENDPOINT" CLIENT_ACCESS_KEY="$CLIENT_ACCESS_KEY" \
        CLIENT_SECRET_KEY="$CLIENT_SECRET_KEY" BACKEND_ENDPOINT="$BACKEND_ENDPOINT" \
        BACKEND_ACCESS_KEY="$BACKEND_ACCESS_KEY" BACKEND_SECRET_KEY="$BACKEND_SECRET_KEY" REGION="$REGION" \
        BUCKET="$BUCKET" ADMIN_ENDPOINT="http://127.0.0.1:$ADMIN_PORT" TAMPER_SAMPLES="${TAMPER_SAMPLES:-300}" TAMPER_SEED="${TAMPER_SEED:-}" \
        "$PYTHON_BIN" "$FAULTS_DIR/tamper_check.py" >"$WORK_DIR/tamper-checks.txt"
    grep -v '^ok - ' "$WORK_DIR/tamper-checks.txt" || true
    grep '^tamper' "$WORK_DIR/helper.err" >&2 || true
    check_shutdown

    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    ((failures == 0))
}

main "$@"
