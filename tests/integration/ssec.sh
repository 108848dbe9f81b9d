#!/usr/bin/env bash
# End-to-end test of SSE-C (customer-provided keys) through s3seal in front
# of Ceph RGW, with boto3 1.43 (pyenv Python 3.11) over HTTPS:
# - PUT, GET, ranged GET and HEAD with the key; without it (400) and with
#   another key (403); the key MD5 and algorithm are echoed;
# - the backend stores ciphertext with the envelope s3seal-kms
#   "ssec:customer-key" and never the key, nor SSE-C of its own;
# - a multipart upload with the key; a part under another key or without
#   one is refused;
# - copies from an SSE-C source to a KMS-wrapped copy and to another
#   customer key;
# - a copy source without its key, or with another one, is refused;
# - a key MD5 that does not match, a key for an object without one, and
#   SSE-C over plain HTTP are refused, the last with nothing stored.
#
# Backend and binary settings are those of lib.sh. Prints one "ok - ..." or
# "not ok - ..." line per check and exits 1 if any check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY_CLIENTS=python3
BUCKET=""

testlib_install_traps

main() {
    testlib_init ssec
    s3seal_check_bin
    "$PY_CLIENTS" -c 'import boto3' 2>/dev/null || fail "'$PY_CLIENTS' has no boto3; put the pyenv Python 3.11 with boto3 1.43 on PATH"
    backend_start
    make_test_ca
    export BACKEND_ENDPOINT BACKEND_ACCESS_KEY BACKEND_SECRET_KEY REGION TEST_CA_FILE CLIENT_ACCESS_KEY CLIENT_SECRET_KEY

    S3SEAL_START_TLS=1
    s3seal_start
    export PROXY_ENDPOINT
    BUCKET=$(unique_bucket_name s3seal-ssec)
    create_bucket aws_backend "$BUCKET" >/dev/null
    run_helper "ssec_check.py over HTTPS" "$PY_CLIENTS" "$TESTLIB_DIR/ssec_check.py" https "$BUCKET" "$WORK_DIR"
    s3seal_stop

    S3SEAL_START_TLS=0
    s3seal_start
    export PROXY_ENDPOINT
    run_helper "ssec_check.py over HTTP" "$PY_CLIENTS" "$TESTLIB_DIR/ssec_check.py" http "$BUCKET" "$WORK_DIR"
    s3seal_stop

    printf '%d checks, %d failed\n' "$checks" "$failures"
    ((failures == 0))
}

main "$@"
