#!/usr/bin/env bash
# Protocol and negative tests of s3seal with hand-built requests
# (signing_checks.py). They cover aws-chunked uploads with signed chunks and
# signed or unsigned checksum trailers, and wrong signatures, checksums,
# digests and decoded lengths. They also cover presigned URL expiry and
# tampering, clock skew, Expect: 100-continue, unusual keys and
# virtual-hosted-style requests. Last come the requests s3seal rejects:
# Signature Version 2, browser POST uploads, HTTP chunked bodies without a
# length. Every failed upload is also checked to
# have left nothing on the backend.
#
# s3seal runs with S3SEAL_BASE_DOMAINS=s3.test. Virtual-hosted requests
# connect to 127.0.0.1 and only carry "Host: BUCKET.s3.test:PORT"; no name
# is ever resolved.
#
# Needs the pyenv python3 with boto3 1.43 and awscli 1.45 (for a SigV2
# presigned URL). Backend and binary as in roundtrip.sh (lib.sh lists the
# variables).
#
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY_CLIENTS=python3
BASE_DOMAIN=s3.test


testlib_install_traps

setup() {
    local bucket
    testlib_init signing
    s3seal_check_bin
    "$PY_CLIENTS" -c 'import boto3' 2>/dev/null || fail "'$PY_CLIENTS' has no boto3; put the pyenv Python 3.11 with boto3 1.43 on PATH"
    "$PY_CLIENTS" -m awscli --version >/dev/null 2>&1 || fail "'$PY_CLIENTS -m awscli' does not run; install awscli 1.x into that Python"
    backend_start
    S3SEAL_START_ENV=("S3SEAL_BASE_DOMAINS=example.invalid,$BASE_DOMAIN")
    s3seal_start

    BUCKET=$(unique_bucket_name s3seal-signing)
    # A bucket name with dots, so its virtual-hosted Host has extra labels.
    DOTTED_BUCKET=$(unique_bucket_name s3seal.signing.dotted)
    for bucket in "$BUCKET" "$DOTTED_BUCKET"; do
        if create_bucket aws_proxy "$bucket" >"$WORK_DIR/create-bucket.out" 2>&1; then
            pass "create-bucket $bucket through s3seal"
        else
            flunk "create-bucket $bucket through s3seal" "$(one_line "$WORK_DIR/create-bucket.out")"
            fail "cannot go on without the bucket $bucket"
        fi
    done
    export PROXY_ENDPOINT BACKEND_ENDPOINT BACKEND_ACCESS_KEY BACKEND_SECRET_KEY REGION
    export CLIENT_ACCESS_KEY CLIENT_SECRET_KEY BUCKET DOTTED_BUCKET BASE_DOMAIN
}

run_checks() {
    local out=$WORK_DIR/signing.out err=$WORK_DIR/signing.err rc=0 n_ok n_bad
    "$PY_CLIENTS" "$TESTLIB_DIR/signing_checks.py" >"$out" 2>"$err" || rc=$?
    cat "$out"
    n_ok=$(grep -c '^ok - ' "$out" || true)
    n_bad=$(grep -c '^not ok - ' "$out" || true)
    checks=$((checks + n_ok + n_bad))
    failures=$((failures + n_bad))
    if ((rc != 0 && n_bad == 0)); then
        flunk "signing_checks.py" "exit status $rc: $(one_line "$err")"
    fi
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
    run_checks
    check_s3seal_shutdown
    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    if ((failures > 0)); then
        exit 1
    fi
}

main "$@"
