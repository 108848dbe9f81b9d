#!/usr/bin/env bash
# End-to-end test of s3seal's limits, timeouts and lifecycle against Ceph RGW.
# A slow client is cut off after the header timeout while other requests are
# served. Too many or too large headers and a too long URL get 400
# RequestHeaderSectionTooLarge, and a connection beyond the per-worker limit
# gets 503 SlowDown. SIGHUP adds a client credential, keeps the old
# configuration when the new one is invalid, and drops no request under load.
# SIGTERM lets a running upload finish, or cuts it at the drain deadline or
# at a second SIGTERM without leaving an object behind. A SIGHUP also changes
# the log level and the listener's certificate, for new connections only.
# A backend that never accepts the connection fails the request with 503
# after the backend connect timeout.
#
# Backend and binary as in roundtrip.sh (lib.sh). Prints one "ok - ..." or
# "not ok - ..." line per check and exits 1 if any check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HEADER_TIMEOUT=6
BODY_TIMEOUT=3
KEEPALIVE_TIMEOUT=3
MAX_CONNECTIONS=4
MAX_HEADER_COUNT=40
MAX_HEADER_SIZE=8192
MAX_URL_LENGTH=1024
NEW_ACCESS_KEY=S3SEALCLIENT00000002
NEW_SECRET_KEY=s3sealclientsecret000000000000000000002

# Runs the command after $1 and records check $1 by its exit status.
check() {
    local name=$1
    shift
    if "$@"; then
        pass "$name"
    else
        flunk "$name" "the command failed: $*"
    fi
}

BLACKHOLE_PID=""

stop_blackhole() {
    if [[ -n $BLACKHOLE_PID ]]; then
        kill -TERM "$BLACKHOLE_PID" 2>/dev/null || true
        wait "$BLACKHOLE_PID" 2>/dev/null || true
        BLACKHOLE_PID=""
    fi
}

on_exit() {
    local rc=$?
    set +e
    stop_blackhole
    (exit "$rc")
    testlib_on_exit
}

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

proxy_port() {
    printf '%s' "${PROXY_ENDPOINT##*:}"
}

# Writes the configuration file that SIGHUP reloads; $1 is extra INI text for [server].
write_config() {
    cat >"$CONFIG_FILE" <<INI
[server]
workers = 1
header_timeout = $HEADER_TIMEOUT
body_timeout = $BODY_TIMEOUT
keepalive_timeout = $KEEPALIVE_TIMEOUT
max_connections = $MAX_CONNECTIONS
max_header_count = $MAX_HEADER_COUNT
max_header_size = $MAX_HEADER_SIZE
max_url_length = $MAX_URL_LENGTH
$1
[clients]
credentials_file = $CREDENTIALS_FILE
INI
}

# Starts s3seal with the configuration file and the extra settings given as arguments.
start_with() {
    S3SEAL_START_ENV=("S3SEAL_CONFIG=$CONFIG_FILE" "$@")
    s3seal_start
}

lists_as() {
    aws_proxy_as "$1" "$2" s3api list-objects-v2 --bucket "$BUCKET" --max-items 1 >/dev/null 2>"$WORK_DIR/list.err"
}

log_has() {
    grep -q -- "$1" "$S3SEAL_LOG"
}

# Sends SIGHUP and waits until the log shows one more reload line (accepted or rejected).
hup_and_wait() {
    local before waited=0
    before=$(grep -c 'configuration reload' "$S3SEAL_LOG" || true)
    kill -HUP "$S3SEAL_PID"
    while (($(grep -c 'configuration reload' "$S3SEAL_LOG" || true) == before)) && ((waited < 50)); do
        sleep 0.1
        waited=$((waited + 1))
    done
}

test_slow_client() {
    local loris_pid listed=1
    "$PYTHON_BIN" "$TESTLIB_DIR/lifecycle_check.py" "$(proxy_port)" loris "$HEADER_TIMEOUT" >"$WORK_DIR/loris.out" 2>&1 &
    loris_pid=$!
    sleep 1
    lists_as "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY" && listed=0
    check "another client's request succeeds while the slow client sends its headers" test "$listed" -eq 0
    check "that request did not wait for the slow client to be cut off" kill -0 "$loris_pid"
    wait "$loris_pid" || true
    run_helper "slow client check" cat "$WORK_DIR/loris.out"
    check "the header timeout is logged" log_has "RequestTimeout: the request headers did not arrive"
}

test_header_limits() {
    run_helper "header limit checks" "$PYTHON_BIN" "$TESTLIB_DIR/lifecycle_check.py" "$(proxy_port)" limits \
        "$MAX_HEADER_COUNT" "$MAX_HEADER_SIZE" "$MAX_URL_LENGTH"
}

test_connection_limit() {
    run_helper "connection limit checks" "$PYTHON_BIN" "$TESTLIB_DIR/lifecycle_check.py" "$(proxy_port)" busy \
        "$MAX_CONNECTIONS"
}

test_idle_and_stalled_body() {
    run_helper "keep-alive timeout check" "$PYTHON_BIN" "$TESTLIB_DIR/lifecycle_check.py" "$(proxy_port)" idle \
        "$KEEPALIVE_TIMEOUT"
    run_helper "body timeout checks" env CLIENT_ACCESS_KEY="$CLIENT_ACCESS_KEY" CLIENT_SECRET_KEY="$CLIENT_SECRET_KEY" \
        REGION="$REGION" "$PYTHON_BIN" "$TESTLIB_DIR/lifecycle_check.py" "$(proxy_port)" stall "$BODY_TIMEOUT" \
        "$BUCKET" stall/object.bin
    check "the backend holds no object for the stalled upload" no_backend_object stall/object.bin
    check "the body timeout is logged" log_has "RequestTimeout: the request body stalled for $BODY_TIMEOUT seconds"
}

test_reload_log_level() {
    write_config "log_level = debug"
    hup_and_wait
    lists_as "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY"
    check "SIGHUP changes the log level" log_has " debug proxy GET op=ListObjectsV2 bucket=$BUCKET"
    write_config ""
    hup_and_wait
}

test_reload_credentials() {
    printf '%s %s\n' "$NEW_ACCESS_KEY" "$NEW_SECRET_KEY" >>"$CREDENTIALS_FILE"
    ! lists_as "$NEW_ACCESS_KEY" "$NEW_SECRET_KEY"
    check "the new key is refused before SIGHUP" grep -q InvalidAccessKeyId "$WORK_DIR/list.err"
    hup_and_wait
    check "SIGHUP logs the reload" log_has "configuration reloaded: generation [0-9]* from $CONFIG_FILE"
    check "the key added by SIGHUP works" lists_as "$NEW_ACCESS_KEY" "$NEW_SECRET_KEY"
    check "the old key still works after SIGHUP" lists_as "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY"

    write_config "max_header_count = many"
    hup_and_wait
    check "an invalid configuration on SIGHUP is rejected" log_has "configuration reload rejected, generation [0-9]* stays in use"
    check "the rejection names the setting" log_has "max_header_count in $CONFIG_FILE: invalid value 'many'"
    check "the new key still works after a rejected reload" lists_as "$NEW_ACCESS_KEY" "$NEW_SECRET_KEY"
    check "the old key still works after a rejected reload" lists_as "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY"

    # a second value of the same key replaces the first
    write_config "workers = 2"
    hup_and_wait
    check "a setting that needs a restart is reported as ignored" log_has "ignored until restart: S3SEAL_WORKERS"
    check "s3seal still serves on its address after that reload" lists_as "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY"
    write_config ""
}

# PUT and GET in a loop; writes one line per failed request to $1.
request_loop() {
    local failed=$1 i
    : >"$failed"
    for i in $(seq 1 12); do
        aws_proxy s3 cp "$WORK_DIR/small.bin" "s3://$BUCKET/load/$i.bin" --only-show-errors 2>>"$failed.err" ||
            echo "put $i" >>"$failed"
        aws_proxy s3 cp "s3://$BUCKET/load/$i.bin" "$WORK_DIR/load.out" --only-show-errors 2>>"$failed.err" ||
            echo "get $i" >>"$failed"
        cmp -s "$WORK_DIR/small.bin" "$WORK_DIR/load.out" || echo "content $i" >>"$failed"
    done
}

test_reload_under_load() {
    local loop_pid hups=0
    head -c 300000 /dev/urandom >"$WORK_DIR/small.bin"
    request_loop "$WORK_DIR/load.failed" &
    loop_pid=$!
    while kill -0 "$loop_pid" 2>/dev/null && ((hups < 40)); do
        kill -HUP "$S3SEAL_PID"
        hups=$((hups + 1))
        sleep 0.3
    done
    wait "$loop_pid" || true
    check "SIGHUP under load ($hups reloads) drops no request" test ! -s "$WORK_DIR/load.failed"
    [[ -s $WORK_DIR/load.failed ]] && note "failed requests: $(one_line "$WORK_DIR/load.failed") $(one_line "$WORK_DIR/load.failed.err")"
    return 0
}

# Waits for the s3seal this script started to exit by itself, and stores its exit status.
wait_s3seal_exit() {
    wait "$S3SEAL_PID" && S3SEAL_EXIT_STATUS=0 || S3SEAL_EXIT_STATUS=$?
    S3SEAL_PID=""
}

# Writes a second server certificate from the test CA over the files s3seal was started with.
replace_test_certificate() {
    local dir=$WORK_DIR/tls
    {
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/next.key" -out "$dir/next.csr" &&
            openssl x509 -req -in "$dir/next.csr" -CA "$TEST_CA_FILE" -CAkey "$dir/ca.key" -CAcreateserial \
                -days 2 -extfile "$dir/server.ext" -out "$dir/next.pem"
    } >"$dir/next.log" 2>&1 || fail "openssl could not create the second certificate: $(one_line "$dir/next.log")"
    chmod 600 "$dir/next.key"
    cp "$dir/next.pem" "$TEST_CERT_FILE"
    cp "$dir/next.key" "$TEST_CERT_KEY_FILE"
}

test_reload_certificate() {
    make_test_ca
    S3SEAL_START_TLS=1
    start_with
    S3SEAL_START_TLS=0
    replace_test_certificate
    run_helper "certificate reload checks" "$PYTHON_BIN" "$TESTLIB_DIR/lifecycle_check.py" "$(proxy_port)" tls \
        "$TEST_CA_FILE" "$S3SEAL_PID"
    s3seal_stop
}

# Writes an AWS config that limits aws s3 cp to $2 per second, to file $1.
slow_aws_config() {
    sed "s|^s3 =\$|s3 =\n    max_bandwidth = $2|" "$AWS_CONFIG_FILE" >"$1"
}

listener_closed() {
    ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

test_drain_finishes_upload() {
    local upload_pid upload_rc=0 port
    start_with "S3SEAL_DRAIN_TIMEOUT=120"
    port=$(proxy_port)
    slow_aws_config "$WORK_DIR/slow.config" 8MB/s
    AWS_CONFIG_FILE=$WORK_DIR/slow.config aws_proxy s3 cp "$WORK_DIR/large.bin" "s3://$BUCKET/drain/complete.bin" \
        --only-show-errors 2>"$WORK_DIR/upload1.err" &
    upload_pid=$!
    sleep 3
    kill -TERM "$S3SEAL_PID"
    sleep 0.5
    check "s3seal stops accepting at once after SIGTERM" listener_closed "$port"
    wait "$upload_pid" || upload_rc=$?
    check "the upload running at SIGTERM finishes" test "$upload_rc" -eq 0
    wait_s3seal_exit
    check_equal "s3seal exits 0 after draining" 0 "$S3SEAL_EXIT_STATUS"

    start_with
    aws_proxy s3 cp "s3://$BUCKET/drain/complete.bin" "$WORK_DIR/complete.out" --only-show-errors
    check "the object uploaded during the drain is complete" cmp -s "$WORK_DIR/large.bin" "$WORK_DIR/complete.out"
    s3seal_stop
}

test_drain_cuts_upload() {
    local upload_pid upload_rc=0 t_term waited_us
    start_with "S3SEAL_DRAIN_TIMEOUT=2"
    slow_aws_config "$WORK_DIR/slower.config" 4MB/s
    AWS_CONFIG_FILE=$WORK_DIR/slower.config aws_proxy s3 cp "$WORK_DIR/large.bin" "s3://$BUCKET/drain/cut.bin" \
        --only-show-errors 2>"$WORK_DIR/upload2.err" &
    upload_pid=$!
    sleep 3
    t_term=$(now_us)
    kill -TERM "$S3SEAL_PID"
    wait_s3seal_exit
    waited_us=$(($(now_us) - t_term))
    check_equal "s3seal exits 0 after the drain deadline" 0 "$S3SEAL_EXIT_STATUS"
    check "s3seal exits soon after the drain deadline" test "$waited_us" -lt 6000000
    check "the cut request is logged" log_has "drain deadline passed; cutting the request PUT $BUCKET"
    wait "$upload_pid" || upload_rc=$?
    check "the cut upload fails for the client" test "$upload_rc" -ne 0
    check "the backend holds no object for the cut upload" no_backend_object drain/cut.bin
}

test_second_signal_cuts() {
    local upload_pid upload_rc=0 t_term waited_us
    start_with "S3SEAL_DRAIN_TIMEOUT=120"
    AWS_CONFIG_FILE=$WORK_DIR/slower.config aws_proxy s3 cp "$WORK_DIR/large.bin" "s3://$BUCKET/drain/second.bin" \
        --only-show-errors 2>"$WORK_DIR/upload3.err" &
    upload_pid=$!
    sleep 3
    kill -TERM "$S3SEAL_PID"
    sleep 1
    t_term=$(now_us)
    kill -TERM "$S3SEAL_PID"
    wait_s3seal_exit
    waited_us=$(($(now_us) - t_term))
    check_equal "s3seal exits 0 after a second SIGTERM" 0 "$S3SEAL_EXIT_STATUS"
    check "a second SIGTERM cuts the requests at once" test "$waited_us" -lt 3000000
    check "the second signal is logged" log_has "received signal 15 again; cutting the requests in flight"
    wait "$upload_pid" || upload_rc=$?
    check "the upload cut by the second SIGTERM fails for the client" test "$upload_rc" -ne 0
    check "the backend holds no object for that upload" no_backend_object drain/second.bin
}

# A backend whose accept queue is full: s3seal's connection hangs until S3SEAL_BACKEND_CONNECT_TIMEOUT.
test_backend_connect_timeout() {
    local port waited=0 started rc=0 elapsed_us
    "$PYTHON_BIN" "$TESTLIB_DIR/lifecycle_check.py" 0 blackhole >"$WORK_DIR/blackhole.port" 2>"$WORK_DIR/blackhole.err" &
    BLACKHOLE_PID=$!
    until [[ -s $WORK_DIR/blackhole.port ]] || ((waited > 50)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    port=$(head -n 1 "$WORK_DIR/blackhole.port")
    [[ -n $port ]] || fail "the blackhole listener did not start: $(one_line "$WORK_DIR/blackhole.err")"

    start_with "S3SEAL_BACKEND_URL=http://127.0.0.1:$port" "S3SEAL_BACKEND_CONNECT_TIMEOUT=2"
    started=$(now_us)
    lists_as "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY" || rc=$?
    elapsed_us=$(($(now_us) - started))
    check "a backend that does not accept the connection fails the request" test "$rc" -ne 0
    check "the client gets 503 ServiceUnavailable" grep -q "ServiceUnavailable" "$WORK_DIR/list.err"
    check "the request ends after the connect timeout" test "$elapsed_us" -ge 2000000 -a "$elapsed_us" -lt 15000000
    check "the connect timeout is logged" log_has "backend connection timed out"
    s3seal_stop
    stop_blackhole
}

no_backend_object() {
    local count
    ! aws_backend s3api head-object --bucket "$BUCKET" --key "$1" >/dev/null 2>&1 || return 1
    count=$(aws_backend s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" --query 'length(Contents || `[]`)' \
        --output text)
    [[ $count == 0 ]]
}

main() {
    local start
    start=$(now_us)
    testlib_init lifecycle
    s3seal_check_bin
    backend_start

    CONFIG_FILE=$WORK_DIR/s3seal.ini
    CREDENTIALS_FILE=$WORK_DIR/credentials
    : >"$CREDENTIALS_FILE"
    chmod 600 "$CREDENTIALS_FILE"
    write_config ""
    head -c $((100 * 1024 * 1024)) /dev/urandom >"$WORK_DIR/large.bin"

    start_with
    BUCKET=$(unique_bucket_name lifecycle)
    create_bucket aws_proxy "$BUCKET"

    timed test_slow_client
    timed test_header_limits
    timed test_connection_limit
    timed test_idle_and_stalled_body
    timed test_reload_log_level
    timed test_reload_credentials
    timed test_reload_under_load
    s3seal_stop
    timed test_drain_finishes_upload
    timed test_drain_cuts_upload
    timed test_second_signal_cuts
    timed test_reload_certificate
    timed test_backend_connect_timeout

    printf 'lifecycle.sh: %d checks, %d failed, %s s\n' "$checks" "$failures" "$(elapsed_s "$start")"
    ((failures == 0))
}

main "$@"
