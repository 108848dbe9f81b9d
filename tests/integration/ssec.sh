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
# Last, with S3SEAL_TLS_CLIENT_CA_FILE the HTTPS listener serves a client
# with a certificate from that CA and refuses one without a certificate or
# with one from another CA.
#
# Backend and binary settings are those of lib.sh. Prints one "ok - ..." or
# "not ok - ..." line per check and exits 1 if any check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY_CLIENTS=python3
BUCKET=""

testlib_install_traps

# Makes a client certificate signed by the test CA ($1.pem, $1.key), or by a
# CA of its own when $2 is "other".
make_client_cert() {
    local base=$WORK_DIR/tls/$1 ca=$WORK_DIR/tls/ca.pem ca_key=$WORK_DIR/tls/ca.key
    if [[ ${2:-} == other ]]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout "$base-ca.key" \
            -out "$base-ca.pem" >/dev/null 2>&1
        ca=$base-ca.pem
        ca_key=$base-ca.key
    fi
    openssl req -newkey rsa:2048 -nodes -subj "/CN=s3seal test client" -keyout "$base.key" -out "$base.csr" \
        >/dev/null 2>&1
    printf 'extendedKeyUsage=clientAuth\n' >"$base.ext"
    openssl x509 -req -in "$base.csr" -CA "$ca" -CAkey "$ca_key" -CAcreateserial -days 2 -extfile "$base.ext" \
        -out "$base.pem" >/dev/null 2>&1 || fail "openssl could not make the client certificate $base.pem"
}

# Lists the bucket with curl over HTTPS, with the client certificate $1 when given; prints curl's
# exit status and the HTTP status.
list_with_cert() {
    local cert=() rc=0 code
    if [[ -n ${1:-} ]]; then
        cert=(--cert "$WORK_DIR/tls/$1.pem" --key "$WORK_DIR/tls/$1.key")
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TEST_CA_FILE" "${cert[@]}" \
        --aws-sigv4 "aws:amz:$REGION:s3" --user "$CLIENT_ACCESS_KEY:$CLIENT_SECRET_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$PROXY_ENDPOINT/$BUCKET?list-type=2") || rc=$?
    printf '%s %s' "$rc" "$code"
}

check_client_certificates() {
    make_client_cert client
    make_client_cert stranger other
    S3SEAL_START_TLS=1
    S3SEAL_START_ENV=("S3SEAL_TLS_CLIENT_CA_FILE=$TEST_CA_FILE")
    s3seal_start
    check_equal "client certificate from the client CA: listing served" "0 200" "$(list_with_cert client)"
    if [[ $(list_with_cert) == "0 "* ]]; then
        flunk "no client certificate: handshake refused" "curl got an HTTP answer"
    else
        pass "no client certificate: handshake refused"
    fi
    if [[ $(list_with_cert stranger) == "0 "* ]]; then
        flunk "client certificate from another CA: handshake refused" "curl got an HTTP answer"
    else
        pass "client certificate from another CA: handshake refused"
    fi
    s3seal_stop
    S3SEAL_START_ENV=()
}

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

    check_client_certificates

    printf '%d checks, %d failed\n' "$checks" "$failures"
    ((failures == 0))
}

main "$@"
