#!/usr/bin/env bash
# End-to-end test of the KMIP key provider: s3seal in front of Ceph RGW
# wraps data keys with KMIP Encrypt and Decrypt on a PyKMIP server that this
# script starts on 127.0.0.1, with certificates it makes with openssl.
#
# Checks, with aws-cli v2 (/usr/bin/aws):
# - PUT and GET round trips of 0 bytes, 70 KiB and 20 MiB (multipart);
# - the backend stores ciphertext, with s3seal-kms "kmip:<unique identifier>";
# - an envelope copied from one object onto another makes GET fail, and the
#   KMIP server itself rejects the Decrypt under the wrong context;
# - s3seal decrypt of an object downloaded straight from RGW matches;
# - a KMIP server slower than S3SEAL_KMIP_TIMEOUT_MS (a delaying relay in
#   front of it) makes PUT and GET end with 503 after about the timeout;
# - with the KMIP server stopped, PUT gets 503 and stores nothing, GET 503;
# - wrong settings stop start-up with a message naming the setting.
# It also measures wrap and unwrap latency with tests/unit/kms/test_kms_kmip
# when that program is built next to S3SEAL_BIN.
#
# Needs the Debian package python3-pykmip (pykmip-server and the client used
# to create the key) and openssl, plus what lib.sh needs.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/kms_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kms_lib.sh"

PYKMIP_SERVER=/usr/bin/pykmip-server
TIMEOUT_MS=1500

BUCKET=""
KMIP_DIR=""
KMIP_PORT=""
KMIP_PGID=""
KMIP_KEY_ID=""
RELAY_PORT=""
RELAY_PID=""

# Stops the KMIP server and the relay, then what lib.sh started.
on_exit() {
    local rc=$?
    set +e
    testlib_restore_output
    if ((rc != 0 || failures > 0)) && [[ -n $KMIP_DIR && -f $KMIP_DIR/server.log ]]; then
        printf -- '----- PyKMIP log (last 40 lines) -----\n' >&2
        tail -n 40 "$KMIP_DIR/server.log" >&2
    fi
    relay_stop
    kmip_stop
    (exit "$rc")
    testlib_on_exit
}

install_traps() {
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Makes a CA, a server certificate for IP 127.0.0.1 and client certificates
# with the clientAuth extended key usage: one signed by the CA and one by a
# second CA that the server does not trust.
make_certs() {
    local dir=$KMIP_DIR/certs ca
    mkdir -p "$dir"
    {
        for ca in ca other-ca; do
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=s3seal KMIP test $ca" \
                -keyout "$dir/$ca.key" -out "$dir/$ca.pem" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        done
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$dir/client.ext"
        make_leaf server ca "/CN=127.0.0.1" server.ext
        make_leaf client ca "/CN=s3seal" client.ext
        make_leaf stranger other-ca "/CN=s3seal" client.ext
    } >"$dir/openssl.log" 2>&1 || {
        cat "$dir/openssl.log" >&2
        fail "openssl could not create the KMIP test certificates; its output is above"
    }
    chmod 600 "$dir"/*.key
}

# Makes key and certificate $1 signed by CA $2 with subject $3 and extensions file $4.
make_leaf() {
    local dir=$KMIP_DIR/certs name=$1 ca=$2 subject=$3 ext=$4
    openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$dir/$name.key" -out "$dir/$name.csr" &&
        openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" -CAcreateserial \
            -days 2 -extfile "$dir/$ext" -out "$dir/$name.pem"
}

# Starts pykmip-server in a session of its own, so that its process group
# (the server and its multiprocessing children) can be killed as a whole.
kmip_start() {
    local conf=$KMIP_DIR/server.conf deadline
    mkdir -p "$KMIP_DIR/policies"
    cat >"$conf" <<CONF
[server]
hostname=127.0.0.1
port=$KMIP_PORT
certificate_path=$KMIP_DIR/certs/server.pem
key_path=$KMIP_DIR/certs/server.key
ca_path=$KMIP_DIR/certs/ca.pem
auth_suite=TLS1.2
enable_tls_client_auth=True
policy_path=$KMIP_DIR/policies
database_path=$KMIP_DIR/pykmip.db
logging_level=INFO
CONF
    # the copies of stdout and stderr that lib.sh keeps would otherwise stay open in the server
    setsid "$PYKMIP_SERVER" -f "$conf" -l "$KMIP_DIR/server.log" >>"$KMIP_DIR/server.out" 2>&1 \
        {TESTLIB_STDOUT_FD}>&- {TESTLIB_STDERR_FD}>&- &
    KMIP_PGID=$!
    deadline=$(($(now_us) + 20000000))
    until grep -q 'Starting connection service' "$KMIP_DIR/server.log" 2>/dev/null; do
        kill -0 "$KMIP_PGID" 2>/dev/null || fail "pykmip-server exited; see $KMIP_DIR/server.out"
        (($(now_us) < deadline)) || fail "pykmip-server did not start within 20 s; see $KMIP_DIR/server.log"
        sleep 0.1
    done
    ! grep -q 'Address already in use' "$KMIP_DIR/server.log" || fail "pykmip-server could not bind port $KMIP_PORT"
    [[ $(ps -o pgid= -p "$KMIP_PGID" | tr -d ' ') == "$KMIP_PGID" ]] ||
        fail "pykmip-server (PID $KMIP_PGID) does not lead its own process group"
    note "PyKMIP server (process group $KMIP_PGID) on 127.0.0.1:$KMIP_PORT"
}

# SIGTERM makes PyKMIP wait about 12 s for its threads, and SIGKILL of the
# main process alone leaves its children running, so the group gets SIGKILL.
kmip_stop() {
    [[ -n $KMIP_PGID ]] || return 0
    kill -KILL -- "-$KMIP_PGID" 2>/dev/null || true
    wait "$KMIP_PGID" 2>/dev/null || true
    KMIP_PGID=""
}

create_key() {
    local c=$KMIP_DIR/certs
    KMIP_KEY_ID=$("$PYTHON_BIN" "$TESTLIB_DIR/kmip_create_key.py" 127.0.0.1 "$KMIP_PORT" "$c/ca.pem" \
        "$c/client.pem" "$c/client.key" s3seal-kek 2>"$KMIP_DIR/create-key.err") ||
        fail "creating the KMIP key failed: $(one_line "$KMIP_DIR/create-key.err")"
    [[ -n $KMIP_KEY_ID ]] || fail "kmip_create_key.py printed no Unique Identifier"
    note "KMIP key $KMIP_KEY_ID created and activated"
}

# Starts the relay that s3seal talks through; "relay_slow on" makes it hold
# every request for 30 s, far longer than the timeout.
relay_start() {
    RELAY_PORT=$(free_port)
    "$PYTHON_BIN" "$TESTLIB_DIR/kmip_slow_relay.py" "$RELAY_PORT" "$KMIP_PORT" 30000 \
        "$KMIP_DIR/relay-slow" >"$KMIP_DIR/relay.out" 2>&1 {TESTLIB_STDOUT_FD}>&- {TESTLIB_STDERR_FD}>&- &
    RELAY_PID=$!
    for _ in $(seq 100); do
        grep -q ready "$KMIP_DIR/relay.out" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "the KMIP relay did not start; see $KMIP_DIR/relay.out"
}

relay_slow() {
    if [[ $1 == on ]]; then
        touch "$KMIP_DIR/relay-slow"
    else
        rm -f "$KMIP_DIR/relay-slow"
    fi
}

relay_stop() {
    [[ -n $RELAY_PID ]] || return 0
    kill -KILL "$RELAY_PID" 2>/dev/null || true
    wait "$RELAY_PID" 2>/dev/null || true
    RELAY_PID=""
}

# Settings that select the KMIP provider through the relay, for S3SEAL_START_ENV.
kmip_env() {
    local c=$KMIP_DIR/certs
    printf '%s\n' "S3SEAL_KMS_PROVIDER=kmip" "S3SEAL_KMIP_HOST=127.0.0.1" "S3SEAL_KMIP_PORT=$RELAY_PORT" \
        "S3SEAL_KMIP_CA_FILE=$c/ca.pem" "S3SEAL_KMIP_CERT_FILE=$c/client.pem" \
        "S3SEAL_KMIP_KEY_FILE=$c/client.key" "S3SEAL_KMIP_KEY_ID=$KMIP_KEY_ID" \
        "S3SEAL_KMIP_TIMEOUT_MS=$TIMEOUT_MS" "S3SEAL_LOG_LEVEL=info"
}

test_round_trips() {
    local size key file raw=$WORK_DIR/raw.bin multipart_config=$WORK_DIR/aws-multipart.config

    # aws-cli splits the 20 MiB file into three parts of 8 MiB at most
    sed 's/multipart_threshold = .*/multipart_threshold = 8MB\n    multipart_chunksize = 8MB/' \
        "$AWS_CONFIG_FILE" >"$multipart_config"

    for size in 0 71680 20971520; do
        key=kmip-$size
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
        check_equal "$key: backend s3seal-kms names the KMIP key" "kmip:$KMIP_KEY_ID" "$(backend_kms_id "$key")"
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

# Counts the Decrypt failures in the PyKMIP log.
kmip_decrypt_failures() {
    grep -c '^cryptography.exceptions.InvalidTag' "$KMIP_DIR/server.log" || true
}

test_envelope_swap() {
    local a=$WORK_DIR/swap-a b=$WORK_DIR/swap-b before
    make_file "$a" 71680
    make_file "$b" 71680
    put_object "$a" swap-a
    put_object "$b" swap-b
    check_get "swap-a: GET works before the swap" "$a" swap-a
    swap_envelope swap-a swap-b
    before=$(kmip_decrypt_failures)
    check_get_fails "swap-a: GET fails with the envelope of another object" "$a" swap-a
    if (($(kmip_decrypt_failures) > before)); then
        pass "swap-a: the KMIP server rejected the Decrypt under the wrong context"
    else
        flunk "swap-a: the KMIP server rejected the Decrypt under the wrong context" \
            "no new Decrypt failure in $KMIP_DIR/server.log"
    fi
    check_get "swap-b: GET of the source object still works" "$b" swap-b
}

# Runs s3seal decrypt on kmip-71680 as downloaded straight from RGW, with the
# KMIP settings in the environment in place of a key file.
test_offline_decrypt() {
    local key=kmip-71680 stored=$WORK_DIR/stored.bin out=$WORK_DIR/decrypted.bin settings=()
    mapfile -t settings < <(kmip_env)
    aws_backend s3 cp --only-show-errors "s3://$BUCKET/$key" "$stored"
    aws_backend s3api head-object --bucket "$BUCKET" --key "$key" >"$WORK_DIR/$key.head.json"
    if env "${settings[@]}" "$(s3seal_bin_path)" decrypt --kms-env --bucket "$BUCKET" --key "$key" \
        --metadata "$WORK_DIR/$key.head.json" --in "$stored" --out "$out" 2>"$WORK_DIR/decrypt.err" &&
        cmp -s "$WORK_DIR/plain-71680" "$out"; then
        pass "s3seal decrypt with the KMIP key returns the original"
    else
        flunk "s3seal decrypt with the KMIP key returns the original" "$(one_line "$WORK_DIR/decrypt.err")"
    fi
}

# Runs a PUT of $2 to key $3 through s3seal and checks that it fails with
# HTTP status 503; stores the seconds taken in LAST_SECONDS.
check_put_503() {
    local name=$1 file=$2 key=$3 t_start
    t_start=$(now_us)
    if aws_proxy s3api put-object --bucket "$BUCKET" --key "$key" --body "$file" >/dev/null 2>"$WORK_DIR/put.err"; then
        flunk "$name" "PUT succeeded"
    elif grep -q '(503)\|ServiceUnavailable' "$WORK_DIR/put.err"; then
        pass "$name"
    else
        flunk "$name" "expected 503: $(one_line "$WORK_DIR/put.err")"
    fi
    LAST_SECONDS=$(elapsed_s "$t_start")
}

check_get_503() {
    local name=$1 key=$2 t_start
    t_start=$(now_us)
    if aws_proxy s3api get-object --bucket "$BUCKET" --key "$key" "$WORK_DIR/get503.out" >/dev/null 2>"$WORK_DIR/get.err"; then
        flunk "$name" "GET succeeded"
    elif grep -q '(503)\|ServiceUnavailable' "$WORK_DIR/get.err"; then
        pass "$name"
    else
        flunk "$name" "expected 503: $(one_line "$WORK_DIR/get.err")"
    fi
    LAST_SECONDS=$(elapsed_s "$t_start")
}

# Checks that seconds $2 lie between the timeout and the timeout plus 3 s.
check_duration() {
    local name=$1 seconds=$2 ms
    note "$name: $seconds s"
    ms=$((10#${seconds/./}0))
    # the relay waits 30 s, so anything well below that is the timeout, however loaded the machine
    if ((ms >= TIMEOUT_MS - 100 && ms <= 20000)); then
        pass "$name"
    else
        flunk "$name" "took $seconds s with S3SEAL_KMIP_TIMEOUT_MS=$TIMEOUT_MS"
    fi
}

check_not_stored() {
    if aws_backend s3api head-object --bucket "$BUCKET" --key "$2" >/dev/null 2>&1; then
        flunk "$1" "the backend has $2"
    else
        pass "$1"
    fi
}

test_slow_kms() {
    local file=$WORK_DIR/plain-71680
    relay_slow on
    check_put_503 "slow KMS: PUT gets 503" "$file" slow-put
    check_duration "slow KMS: PUT ends after about the timeout" "$LAST_SECONDS"
    check_not_stored "slow KMS: nothing stored" slow-put
    check_get_503 "slow KMS: GET gets 503" kmip-71680
    check_duration "slow KMS: GET ends after about the timeout" "$LAST_SECONDS"
    relay_slow off
    check_get "KMS fast again: GET works" "$file" kmip-71680
}

test_kms_stopped() {
    local file=$WORK_DIR/plain-71680
    kmip_stop
    check_put_503 "KMS stopped: PUT gets 503" "$file" stopped-put
    check_not_stored "KMS stopped: nothing stored" stopped-put
    check_get_503 "KMS stopped: GET gets 503" kmip-71680
}

test_setting_messages() {
    local settings=() c=$KMIP_DIR/certs closed_port
    mapfile -t settings < <(kmip_env)
    closed_port=$(free_port)
    check_config_fails "kmip without a host is rejected" S3SEAL_KMIP_HOST "${settings[@]}" S3SEAL_KMIP_HOST=
    check_config_fails "an unknown key id is reported" "check S3SEAL_KMIP_KEY_ID" "${settings[@]}" \
        S3SEAL_KMIP_KEY_ID=no-such-key
    check_config_fails "a server that is not running is reported" "check S3SEAL_KMIP_HOST and S3SEAL_KMIP_PORT" \
        "${settings[@]}" S3SEAL_KMIP_PORT="$closed_port"
    check_config_fails "a wrong CA file is reported" S3SEAL_KMIP_CA_FILE "${settings[@]}" \
        S3SEAL_KMIP_CA_FILE="$c/other-ca.pem"
    check_config_fails "a client certificate the server rejects is reported" S3SEAL_KMIP_CERT_FILE \
        "${settings[@]}" S3SEAL_KMIP_CERT_FILE="$c/stranger.pem" S3SEAL_KMIP_KEY_FILE="$c/stranger.key"
    check_config_fails "a key that does not match the certificate is reported" \
        "is not the key of S3SEAL_KMIP_CERT_FILE" "${settings[@]}" S3SEAL_KMIP_KEY_FILE="$c/stranger.key"
    cp "$c/client.key" "$c/readable.key"
    chmod 644 "$c/readable.key"
    check_config_fails "a key file readable by others is rejected" "run chmod 600" "${settings[@]}" \
        S3SEAL_KMIP_KEY_FILE="$c/readable.key"
}

# Measures wrap and unwrap latency against the server with the unit test
# program, when it is built next to the s3seal binary.
measure_latency() {
    local bin c=$KMIP_DIR/certs
    bin=$(dirname "$(s3seal_bin_path)")/tests/unit/kms/test_kms_kmip
    if [[ ! -x $bin ]]; then
        note "latency not measured: $bin is not built"
        return 0
    fi
    run_helper "test_kms_kmip against PyKMIP" env S3SEAL_TEST_KMIP_HOST=127.0.0.1 \
        S3SEAL_TEST_KMIP_PORT="$KMIP_PORT" S3SEAL_TEST_KMIP_CA_FILE="$c/ca.pem" \
        S3SEAL_TEST_KMIP_CERT_FILE="$c/client.pem" S3SEAL_TEST_KMIP_KEY_FILE="$c/client.key" \
        S3SEAL_TEST_KMIP_KEY_ID="$KMIP_KEY_ID" "$bin"
    grep '^# ' "$WORK_DIR/helper.err" >&2 || true
}

main() {
    local settings=()

    testlib_init kms_kmip
    install_traps
    s3seal_check_bin
    [[ -x $PYKMIP_SERVER ]] || fail "$PYKMIP_SERVER not found; install the Debian package python3-pykmip"
    command -v openssl >/dev/null || fail "openssl not found; install the Debian package openssl"

    KMIP_DIR=$WORK_DIR/kmip
    mkdir -p "$KMIP_DIR"
    make_certs
    KMIP_PORT=$(free_port)
    kmip_start
    create_key
    relay_start
    measure_latency
    backend_start

    # Without the data key cache every GET unwraps on the KMIP server, and
    # without retries a GET under a slow server takes one timeout.
    mapfile -t settings < <(kmip_env)
    S3SEAL_START_ENV=("${settings[@]}" "S3SEAL_KEY_FILE=" "S3SEAL_KEY_CACHE_SIZE=0" "S3SEAL_KMS_RETRIES=0")
    s3seal_start
    BUCKET=$(unique_bucket_name s3seal-kmip)
    create_bucket aws_proxy "$BUCKET" >/dev/null
    test_round_trips
    test_envelope_swap
    test_offline_decrypt
    test_slow_kms
    test_setting_messages
    test_kms_stopped
    s3seal_stop

    printf '%d checks, %d failed\n' "$checks" "$failures"
    ((failures == 0))
}

main "$@"
