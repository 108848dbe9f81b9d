#!/usr/bin/env bash
# End-to-end test of the admin listener and the access log: s3seal runs in
# front of Ceph RGW with S3SEAL_ADMIN_LISTEN set. The script makes a known
# set of requests (PUT, GET, HEAD, LIST, a presigned GET, a GET with a wrong
# secret, and a GET of an object changed by one byte directly on RGW), then
# checks that each /metrics counter moved by exactly the expected amount,
# that the access log has one line per request with the right fields and
# no secret or signature, and that /healthz and /readyz return 200 while
# the backend runs, and /readyz 503 once the backend is stopped.
#
# Backend and binary as in roundtrip.sh (lib.sh). Prints one "ok - ..." or
# "not ok - ..." line per check and exits 1 if any check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

testlib_install_traps

ADMIN_URL=""
OBJECT_SIZE=300000
TAMPER_SIZE=1000

# Prints the HTTP status of GET $1 on the admin listener and stores the body in $WORK_DIR/admin.body.
admin_status() {
    curl --noproxy '*' -s -o "$WORK_DIR/admin.body" -w '%{http_code}' --max-time 10 "$ADMIN_URL$1" || true
}

# Saves /metrics to file $1.
scrape() {
    curl --noproxy '*' -sf --max-time 10 "$ADMIN_URL/metrics" >"$1"
}

# Prints the value of series $2 (name with labels, exactly as written) in scrape $1, or 0 when absent.
metric() {
    awk -v series="$2" '$1 == series { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}

# Checks that series $1 grew by exactly $2 between the scrapes before and after.
check_delta() {
    local series=$1 expected=$2 before after
    before=$(metric "$WORK_DIR/before.prom" "$series")
    after=$(metric "$WORK_DIR/after.prom" "$series")
    check_equal "$series grew by $expected" "$expected" "$((after - before))"
}

# Waits up to 5 s for the admin port to accept connections.
wait_for_admin() {
    local i
    for ((i = 0; i < 100; i++)); do
        (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    fail "the admin listener did not accept connections on 127.0.0.1:$1 within 5 s"
}

# Replaces stored object $1 on the backend by a copy with one byte flipped in its middle, keeping its
# metadata (the envelope), so only the chunk's authentication tag can tell.
tamper_on_backend() {
    local key=$1 stored=$WORK_DIR/stored.bin
    aws_backend s3api head-object --bucket "$BUCKET" --key "$key" --query Metadata --output json >"$WORK_DIR/meta.json"
    aws_backend s3api get-object --bucket "$BUCKET" --key "$key" "$stored" >/dev/null
    "$PYTHON_BIN" -c 'import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0x01
open(path, "wb").write(data)' "$stored"
    aws_backend s3api put-object --bucket "$BUCKET" --key "$key" --body "$stored" \
        --metadata "file://$WORK_DIR/meta.json" >/dev/null
}

# Makes the requests whose counts the checks expect; each aws-cli call is one HTTP request.
make_requests() {
    local url
    aws_proxy s3api put-object --bucket "$BUCKET" --key "dir/object one.bin" --body "$WORK_DIR/object.bin" >/dev/null
    aws_proxy s3api get-object --bucket "$BUCKET" --key "dir/object one.bin" "$WORK_DIR/get.out" >/dev/null
    aws_proxy s3api head-object --bucket "$BUCKET" --key "dir/object one.bin" >/dev/null
    aws_proxy s3api list-objects-v2 --bucket "$BUCKET" >/dev/null

    url=$(aws_proxy s3 presign "s3://$BUCKET/dir/object one.bin" --expires-in 300)
    PRESIGNED_SIGNATURE=$(sed -n 's/.*X-Amz-Signature=\([0-9a-f]*\).*/\1/p' <<<"$url")
    curl --noproxy '*' -sf --max-time 30 -o "$WORK_DIR/presigned.out" "$url"

    if aws_proxy_as "$CLIENT_ACCESS_KEY" "wrong$CLIENT_SECRET_KEY" s3api get-object --bucket "$BUCKET" \
        --key "dir/object one.bin" "$WORK_DIR/denied.out" >/dev/null 2>"$WORK_DIR/denied.err"; then
        flunk "GET with a wrong secret is rejected" "it succeeded"
    else
        pass "GET with a wrong secret is rejected"
    fi

    aws_proxy s3api put-object --bucket "$BUCKET" --key tampered.bin --body "$WORK_DIR/tamper.bin" >/dev/null
    tamper_on_backend tampered.bin
    if aws_proxy s3api get-object --bucket "$BUCKET" --key tampered.bin "$WORK_DIR/tampered.out" \
        >/dev/null 2>"$WORK_DIR/tampered.err"; then
        flunk "GET of an object changed on the backend fails" "it succeeded"
    else
        pass "GET of an object changed on the backend fails"
    fi
}

check_metrics() {
    local object_key='op="GetObject",code="200"'
    check_delta "s3seal_requests_total{op=\"PutObject\",code=\"200\"}" 2
    check_delta "s3seal_requests_total{$object_key}" 2
    check_delta "s3seal_requests_total{op=\"HeadObject\",code=\"200\"}" 1
    check_delta "s3seal_requests_total{op=\"ListObjectsV2\",code=\"200\"}" 1
    check_delta "s3seal_requests_total{op=\"GetObject\",code=\"403\"}" 1
    check_delta "s3seal_requests_total{op=\"GetObject\",code=\"500\"}" 1
    check_delta "s3seal_request_duration_seconds_count{op=\"GetObject\"}" 4
    check_delta "s3seal_auth_failures_total" 1
    check_delta "s3seal_integrity_failures_total" 1
    check_delta "s3seal_encrypted_bytes_total" $((OBJECT_SIZE + TAMPER_SIZE))
    check_delta "s3seal_decrypted_bytes_total" $((2 * OBJECT_SIZE))
    check_delta "s3seal_kms_calls_total" 2
    check_delta "s3seal_kms_failures_total" 0
    check_delta "s3seal_key_cache_misses_total" 0
    check_delta "s3seal_key_cache_hits_total" 3
    check_delta "s3seal_kms_call_duration_seconds_count{provider=\"file\",op=\"generate\"}" 2
    check_delta "s3seal_upstream_errors_total{reason=\"connect\"}" 0
    check_delta "s3seal_upstream_errors_total{reason=\"protocol\"}" 0
    check_delta "s3seal_connections_total" 8

    local sent received
    sent=$(($(metric "$WORK_DIR/after.prom" s3seal_client_sent_bytes_total) -
        $(metric "$WORK_DIR/before.prom" s3seal_client_sent_bytes_total)))
    received=$(($(metric "$WORK_DIR/after.prom" s3seal_client_received_bytes_total) -
        $(metric "$WORK_DIR/before.prom" s3seal_client_received_bytes_total)))
    # the two full GETs carry the object, every response has a head of its own
    if ((sent > 2 * OBJECT_SIZE && sent < 2 * OBJECT_SIZE + 40000)); then
        pass "s3seal_client_sent_bytes_total grew by the responses ($sent bytes)"
    else
        flunk "s3seal_client_sent_bytes_total grew by the responses" "grew by $sent bytes"
    fi
    if ((received > OBJECT_SIZE + TAMPER_SIZE && received < OBJECT_SIZE + TAMPER_SIZE + 40000)); then
        pass "s3seal_client_received_bytes_total grew by the requests ($received bytes)"
    else
        flunk "s3seal_client_received_bytes_total grew by the requests" "grew by $received bytes"
    fi
    check_equal "s3seal_open_connections is 0 once the clients exited" 0 \
        "$(metric "$WORK_DIR/after.prom" s3seal_open_connections)"
}

# Checks access log line $1 (1-based, among the lines of this run) for its fields.
check_line() {
    local n=$1 op=$2 key=$3 status=$4 upstream=$5 end=$6 line key_pattern
    key_pattern=${key//./\\.}
    line=$(sed -n "${n}p" "$WORK_DIR/access.log")
    if [[ $line =~ \ notice\ access\ time=[0-9T:.-]+Z\ r=[0-9A-F]{16}\ client=127\.0\.0\.1:[0-9]+\ op=$op\ bucket=$BUCKET\ key=$key_pattern\ status=$status\ bytes_in=[0-9]+\ bytes_out=[0-9]+\ duration_ms=[0-9]+\.[0-9]{3}\ upstream_status=$upstream\ end=$end$ ]]; then
        pass "access log line $n: $op $key $status end=$end"
    else
        flunk "access log line $n: $op $key $status end=$end" "got: $line"
    fi
}

check_access_log() {
    local key='dir/object%20one.bin'
    sed -n "$((LOG_LINES_BEFORE + 1)),\$p" "$S3SEAL_LOG" | grep ' notice access ' >"$WORK_DIR/access.log" || true
    check_equal "one access log line per request" 8 "$(wc -l <"$WORK_DIR/access.log")"
    check_line 1 PutObject "$key" 200 200 done
    check_line 2 GetObject "$key" 200 200 done
    check_line 3 HeadObject "$key" 200 200 done
    check_line 4 ListObjectsV2 - 200 200 done
    check_line 5 GetObject "$key" 200 200 done
    check_line 6 GetObject "$key" 403 - s3seal
    check_line 7 PutObject tampered.bin 200 200 done
    check_line 8 GetObject tampered.bin 500 200 s3seal

    local secret
    for secret in "$CLIENT_SECRET_KEY" "$BACKEND_SECRET_KEY" "$PRESIGNED_SIGNATURE" X-Amz-Signature \
        X-Amz-Credential Authorization; do
        if [[ -z $secret ]]; then
            flunk "the log holds no secret" "an expected value is empty"
        elif grep -qiF -- "$secret" "$S3SEAL_LOG"; then
            flunk "the log does not contain ${secret:0:12}..." "found in $S3SEAL_LOG"
        else
            pass "the log does not contain ${secret:0:12}..."
        fi
    done
}

# Stops s3seal, which also stops the admin thread, and checks the exit and the sanitizer output.
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
    local start admin_port
    start=$(now_us)
    testlib_init observability
    s3seal_check_bin
    backend_start
    BUCKET=$(unique_bucket_name s3seal-obs)
    admin_port=$(free_port)
    ADMIN_URL=http://127.0.0.1:$admin_port
    S3SEAL_START_ENV=("S3SEAL_ADMIN_LISTEN=127.0.0.1:$admin_port" "S3SEAL_WORKERS=2")
    s3seal_start
    wait_for_admin "$admin_port"

    check_equal "/healthz answers 200" 200 "$(admin_status /healthz)"
    check_equal "/readyz answers 200 while the backend runs" 200 "$(admin_status /readyz)"
    check_equal "/readyz body says ready" ready "$(cat "$WORK_DIR/admin.body")"
    check_equal "an unknown admin path answers 404" 404 "$(admin_status /other)"

    create_bucket aws_proxy "$BUCKET" >/dev/null
    head -c "$OBJECT_SIZE" /dev/urandom >"$WORK_DIR/object.bin"
    head -c "$TAMPER_SIZE" /dev/urandom >"$WORK_DIR/tamper.bin"

    scrape "$WORK_DIR/before.prom"
    LOG_LINES_BEFORE=$(wc -l <"$S3SEAL_LOG")
    make_requests
    check_equal "GET returns the object" "$(md5sum <"$WORK_DIR/object.bin")" "$(md5sum <"$WORK_DIR/get.out")"
    check_equal "presigned GET returns the object" "$(md5sum <"$WORK_DIR/object.bin")" \
        "$(md5sum <"$WORK_DIR/presigned.out")"
    scrape "$WORK_DIR/after.prom"

    check_metrics
    check_access_log

    backend_stop
    # a result younger than 2 s is reused, so wait past it
    sleep 2.2
    check_equal "/readyz answers 503 once the backend is stopped" 503 "$(admin_status /readyz)"
    if grep -q 'backend' "$WORK_DIR/admin.body"; then
        pass "/readyz names the backend ($(cat "$WORK_DIR/admin.body"))"
    else
        flunk "/readyz names the backend" "body: $(cat "$WORK_DIR/admin.body")"
    fi
    check_equal "/healthz still answers 200" 200 "$(admin_status /healthz)"
    check_s3seal_shutdown

    printf 'observability.sh: %d checks, %d failed, %s s\n' "$checks" "$failures" "$(elapsed_s "$start")"
    ((failures == 0))
}

main "$@"
