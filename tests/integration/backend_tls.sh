#!/usr/bin/env bash
# End-to-end test of TLS from s3seal to the backend. Ceph RGW runs as in the
# other scripts. nginx (Debian package nginx) terminates TLS in front of it
# on loopback, with one listener for each certificate that openssl makes here:
#   good       from the test CA, for 127.0.0.1, ::1 and localhost
#   other CA   for the same names, from a second CA that s3seal does not trust
#   wrong name from the test CA, for wrong-name.invalid only
# Checks, with aws-cli v2 (/usr/bin/aws) against s3seal:
#   - round trips through an https:// backend with S3SEAL_BACKEND_CA_FILE:
#     a small object, a 20 MiB multipart upload, a ranged GET, a copy and a
#     listing, and the stored object is encrypted;
#   - 20 sequential requests reuse pooled TLS connections (nginx logs the
#     connection serial number of each request; s3seal logs each handshake);
#   - the certificate from the other CA, and the system CA store without
#     S3SEAL_BACKEND_CA_FILE, give 503 ServiceUnavailable and a log line that
#     names the backend and the verification error, unless
#     S3SEAL_BACKEND_TLS_INSECURE=true;
#   - the certificate for another name is rejected for an IP address URL and
#     for a host name URL.
#
# The backend is always a local Ceph RGW: S3SEAL_TEST_ENDPOINT is ignored,
# because the test needs to put its own TLS terminator in front of it.
# Binary: S3SEAL_BIN (default build/s3seal). S3SEAL_TEST_KEEP=1 keeps the
# work folder with the logs of s3seal and nginx.
#
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
NGINX_PID=""
NGINX_DIR=""
RGW_ENDPOINT=""
PORT_GOOD=""
PORT_OTHER_CA=""
PORT_WRONG_NAME=""
BUCKET=""
SEQUENTIAL_REQUESTS=20

nginx_stop() {
    [[ -n $NGINX_PID ]] || return 0
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}

on_exit() {
    local rc=$?
    set +e
    testlib_restore_output
    if ((rc != 0 || failures > 0)) && [[ -n $NGINX_DIR && -f $NGINX_DIR/error.log ]]; then
        printf -- '----- nginx error log (last 40 lines) -----\n' >&2
        tail -n 40 "$NGINX_DIR/error.log" >&2
    fi
    nginx_stop
    return "$rc"
}

# on_exit returns the script's exit status, which testlib_on_exit then reads as $?. It runs first, so
# that nginx stops before the backend behind it.
install_traps() {
    testlib_install_traps
    trap 'on_exit; testlib_on_exit' EXIT
}

# Makes a certificate signed by CA $1 (PEM, with key $1 minus .pem plus .key)
# for subjectAltName $3, written to $2.pem and $2.key.
make_server_cert() {
    local ca=$1 out=$2 san=$3
    openssl req -newkey rsa:2048 -nodes -subj "/CN=s3seal backend test" \
        -keyout "$out.key" -out "$out.csr" &&
        printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" >"$out.ext" &&
        openssl x509 -req -in "$out.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days 2 \
            -extfile "$out.ext" -out "$out.pem"
}

# Makes the test CA (lib.sh), a second CA, and the certificates of the other two listeners.
make_certificates() {
    local dir=$WORK_DIR/tls
    make_test_ca
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=s3seal untrusted test CA" \
            -keyout "$dir/other-ca.key" -out "$dir/other-ca.pem" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
            make_server_cert "$dir/other-ca" "$dir/other-ca-server" "IP:127.0.0.1,IP:::1,DNS:localhost" &&
            make_server_cert "$dir/ca" "$dir/wrong-name" "DNS:wrong-name.invalid"
    } >"$dir/openssl-more.log" 2>&1 || {
        cat "$dir/openssl-more.log" >&2
        fail "openssl could not create the second CA and the extra certificates; its output is above"
    }
}

# Prints the listen lines of port $1: 127.0.0.1, and ::1 when the host has IPv6 on loopback.
listen_lines() {
    printf '        listen 127.0.0.1:%s ssl;\n' "$1"
    if grep -q ' lo$' /proc/net/if_inet6 2>/dev/null; then
        printf '        listen [::1]:%s ssl;\n' "$1"
    fi
}

# Prints one server block: port $1 with certificate $2.pem and key $2.key, proxied to RGW.
server_block() {
    local port=$1 cert=$2
    printf '    server {\n'
    listen_lines "$port"
    cat <<CONF
        ssl_certificate $cert.pem;
        ssl_certificate_key $cert.key;
        location / {
            proxy_pass http://rgw;
        }
    }
CONF
}

# Starts nginx in the foreground (no daemon, no master process), so that its PID is the one to stop.
nginx_start() {
    local tls=$WORK_DIR/tls rgw_port=${RGW_ENDPOINT##*:} waited=0
    NGINX_DIR=$WORK_DIR/nginx
    mkdir -p "$NGINX_DIR/tmp"
    PORT_GOOD=$(free_port)
    PORT_OTHER_CA=$(free_port)
    PORT_WRONG_NAME=$(free_port)
    {
        cat <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log info;
events {
    worker_connections 256;
}
http {
    log_format tls '\$server_port \$connection \$connection_requests \$ssl_protocol \$request_method \$status '
                   '\$ssl_server_name';
    access_log $NGINX_DIR/access.log tls;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    client_max_body_size 0;
    keepalive_timeout 120s;
    keepalive_requests 10000;
    ssl_protocols TLSv1.2 TLSv1.3;
    # RGW checks the signature s3seal made over the Host it connected to
    proxy_set_header Host \$http_host;
    proxy_set_header Connection "";
    proxy_http_version 1.1;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_read_timeout 120s;
    upstream rgw {
        server 127.0.0.1:$rgw_port;
        keepalive 16;
    }
CONF
        server_block "$PORT_GOOD" "$tls/server"
        server_block "$PORT_OTHER_CA" "$tls/other-ca-server"
        server_block "$PORT_WRONG_NAME" "$tls/wrong-name"
        printf '}\n'
    } >"$NGINX_DIR/nginx.conf"
    "$NGINX_BIN" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" >"$NGINX_DIR/stdout.log" 2>&1 &
    NGINX_PID=$!
    until (: <"/dev/tcp/127.0.0.1/$PORT_WRONG_NAME") 2>/dev/null; do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            cat "$NGINX_DIR/stdout.log" "$NGINX_DIR/error.log" >&2 2>/dev/null
            NGINX_PID=""
            fail "nginx exited before listening; its output is above"
        fi
        ((waited++ < 200)) || fail "nginx (PID $NGINX_PID) did not listen on 127.0.0.1:$PORT_WRONG_NAME within 10 s"
        sleep 0.05
    done
    note "nginx (PID $NGINX_PID) terminates TLS on ports $PORT_GOOD (good), $PORT_OTHER_CA (other CA), $PORT_WRONG_NAME (wrong name)"
}

# Restarts s3seal with backend URL $1 and the extra settings after it. BACKEND_CA_FILE stays empty, so
# that s3seal_start adds no S3SEAL_BACKEND_CA_FILE of its own.
restart_s3seal() {
    local url=$1
    shift
    if [[ -n $S3SEAL_PID ]]; then
        s3seal_stop
        # a sanitizer report makes this non-zero in the ASan build
        check_equal "s3seal for $BACKEND_ENDPOINT exits with status 0" 0 "$S3SEAL_EXIT_STATUS"
    fi
    BACKEND_ENDPOINT=$url
    BACKEND_CA_FILE=""
    S3SEAL_START_ENV=(S3SEAL_WORKERS=1 S3SEAL_LOG_LEVEL=debug "$@")
    s3seal_start
}

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# Lines of the s3seal log written since line $1.
log_since() {
    tail -n +"$(($1 + 1))" "$S3SEAL_LOG"
}

check_terminator() {
    local out=$WORK_DIR/terminator.out
    if AWS_ACCESS_KEY_ID=$BACKEND_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BACKEND_SECRET_KEY AWS_DEFAULT_REGION=$REGION \
        "$AWS_BIN" --endpoint-url "https://127.0.0.1:$PORT_GOOD" --ca-bundle "$TEST_CA_FILE" s3api list-buckets \
        >"$out" 2>&1; then
        pass "nginx serves RGW over TLS with the test CA (list-buckets)"
    else
        flunk "nginx serves RGW over TLS with the test CA (list-buckets)" "$(one_line "$out")"
        fail "the TLS terminator does not work; the remaining checks would only repeat that"
    fi
}

check_round_trips() {
    local dir=$WORK_DIR/data out=$WORK_DIR/rt.out stored
    mkdir -p "$dir"
    head -c 1000 /dev/urandom >"$dir/small"
    head -c $((20 * 1024 * 1024)) /dev/urandom >"$dir/big"

    if create_bucket aws_proxy "$BUCKET" >"$out" 2>&1; then
        pass "create-bucket through an https backend"
    else
        flunk "create-bucket through an https backend" "$(one_line "$out")"
        return
    fi

    if aws_proxy s3 cp "$dir/small" "s3://$BUCKET/small" >"$out" 2>&1 &&
        aws_proxy s3 cp "s3://$BUCKET/small" "$dir/small.back" >>"$out" 2>&1; then
        check_equal "small object round trip" "$(file_sha256 "$dir/small")" "$(file_sha256 "$dir/small.back")"
    else
        flunk "small object round trip" "$(one_line "$out")"
    fi

    # 8 MiB parts: three parts, the last one 4 MiB
    if aws_proxy s3 cp "$dir/big" "s3://$BUCKET/big" >"$out" 2>&1 &&
        aws_proxy s3 cp "s3://$BUCKET/big" "$dir/big.back" >>"$out" 2>&1; then
        check_equal "20 MiB multipart round trip" "$(file_sha256 "$dir/big")" "$(file_sha256 "$dir/big.back")"
    else
        flunk "20 MiB multipart round trip" "$(one_line "$out")"
    fi
    stored=$(aws_backend_plain s3api head-object --bucket "$BUCKET" --key big --query 'Metadata."s3seal"' --output text 2>&1 || true)
    if [[ -n $stored && $stored != None ]]; then
        pass "20 MiB object is stored encrypted (s3seal metadata on the backend)"
    else
        flunk "20 MiB object is stored encrypted (s3seal metadata on the backend)" "metadata s3seal: '$stored'"
    fi

    if aws_proxy s3api get-object --bucket "$BUCKET" --key big --range bytes=9000000-9999999 "$dir/range" >"$out" 2>&1; then
        check_equal "ranged GET bytes=9000000-9999999" \
            "$(tail -c +9000001 "$dir/big" | head -c 1000000 | sha256sum | cut -d' ' -f1)" "$(file_sha256 "$dir/range")"
    else
        flunk "ranged GET bytes=9000000-9999999" "$(one_line "$out")"
    fi

    if aws_proxy s3 cp "s3://$BUCKET/big" "s3://$BUCKET/big-copy" >"$out" 2>&1 &&
        aws_proxy s3 cp "s3://$BUCKET/big-copy" "$dir/copy.back" >>"$out" 2>&1; then
        check_equal "copy of the 20 MiB object" "$(file_sha256 "$dir/big")" "$(file_sha256 "$dir/copy.back")"
    else
        flunk "copy of the 20 MiB object" "$(one_line "$out")"
    fi

    if aws_proxy s3api list-objects-v2 --bucket "$BUCKET" --query 'Contents[].[Key,Size]' --output text >"$out" 2>&1; then
        check_equal "listing shows the plaintext sizes" \
            "$(printf 'big\t20971520\nbig-copy\t20971520\nsmall\t1000')" "$(cat "$out")"
    else
        flunk "listing shows the plaintext sizes" "$(one_line "$out")"
    fi
}

# Runs aws-cli against RGW's own plain-HTTP port, around the TLS terminator.
aws_backend_plain() {
    AWS_ACCESS_KEY_ID=$BACKEND_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BACKEND_SECRET_KEY \
        AWS_DEFAULT_REGION=$REGION "$AWS_BIN" --endpoint-url "$RGW_ENDPOINT" "$@"
}

check_connection_reuse() {
    local name="$SEQUENTIAL_REQUESTS sequential requests reuse pooled TLS connections"
    local log_mark access_mark connections requests handshakes i failed=0
    log_mark=$(wc -l <"$S3SEAL_LOG")
    access_mark=$(wc -l <"$NGINX_DIR/access.log")

    for ((i = 0; i < SEQUENTIAL_REQUESTS; i++)); do
        aws_proxy s3api head-object --bucket "$BUCKET" --key small >/dev/null 2>&1 || failed=$((failed + 1))
    done
    check_equal "$SEQUENTIAL_REQUESTS sequential HEAD requests succeed" 0 "$failed"

    # fields: port, connection serial number, request number on it, protocol, method, status, SNI name
    requests=$(tail -n +"$((access_mark + 1))" "$NGINX_DIR/access.log" | awk -v p="$PORT_GOOD" '$1 == p' | wc -l)
    connections=$(tail -n +"$((access_mark + 1))" "$NGINX_DIR/access.log" | awk -v p="$PORT_GOOD" '$1 == p {print $2}' |
        sort -u | wc -l)
    handshakes=$(log_since "$log_mark" | grep -c 'TLS handshake with the backend done' || true)
    note "$requests backend requests on $connections TLS connections, $handshakes new handshakes logged by s3seal"
    # a fresh s3seal with one worker, one request at a time: one handshake, then the pooled connection
    if ((requests == SEQUENTIAL_REQUESTS && connections == 1 && handshakes == 1)); then
        pass "$name"
    else
        flunk "$name" "expected $SEQUENTIAL_REQUESTS requests on 1 connection after 1 handshake, got $requests requests, $connections connections, $handshakes handshakes"
    fi
    check_equal "SNI carries the host name of the backend URL" localhost \
        "$(tail -n +"$((access_mark + 1))" "$NGINX_DIR/access.log" | awk -v p="$PORT_GOOD" '$1 == p {print $7}' | sort -u)"
}

# Expects that listing the bucket through s3seal fails with 503 ServiceUnavailable, and that the log
# lines written meanwhile name the backend $2 and contain the verification error $3.
expect_rejected() {
    local name=$1 backend=$2 error=$3 out=$WORK_DIR/rejected.out log_mark
    log_mark=$(wc -l <"$S3SEAL_LOG")
    if aws_proxy s3api list-objects-v2 --bucket "$BUCKET" >"$out" 2>&1; then
        flunk "$name: request fails" "the listing succeeded"
    elif grep -q '(ServiceUnavailable)' "$out"; then
        pass "$name: client gets 503 ServiceUnavailable"
    else
        flunk "$name: client gets 503 ServiceUnavailable" "$(one_line "$out")"
    fi
    if log_since "$log_mark" | grep 'TLS handshake failed' | grep -F "$backend" | grep -q -F "$error"; then
        pass "$name: log names $backend and '$error'"
    else
        log_since "$log_mark" >"$WORK_DIR/rejected.log"
        flunk "$name: log names $backend and '$error'" "$(one_line "$WORK_DIR/rejected.log")"
    fi
}

expect_accepted() {
    local name=$1 out=$WORK_DIR/accepted.out
    if aws_proxy s3api list-objects-v2 --bucket "$BUCKET" --query 'length(Contents)' >"$out" 2>&1; then
        check_equal "$name" 3 "$(cat "$out")"
    else
        flunk "$name" "$(one_line "$out")"
    fi
}

check_verification() {
    local access_mark
    restart_s3seal "https://127.0.0.1:$PORT_OTHER_CA" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE"
    expect_rejected "certificate from another CA" "127.0.0.1:$PORT_OTHER_CA" "unable to get local issuer certificate"

    restart_s3seal "https://localhost:$PORT_GOOD"
    expect_rejected "test CA missing from the system CA store" "localhost:$PORT_GOOD" \
        "unable to get local issuer certificate"

    restart_s3seal "https://127.0.0.1:$PORT_WRONG_NAME" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE"
    expect_rejected "certificate for another name, IP address URL" "127.0.0.1:$PORT_WRONG_NAME" "IP address mismatch"

    restart_s3seal "https://localhost:$PORT_WRONG_NAME" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE"
    expect_rejected "certificate for another name, host name URL" "localhost:$PORT_WRONG_NAME" "hostname mismatch"

    restart_s3seal "https://127.0.0.1:$PORT_OTHER_CA" "S3SEAL_BACKEND_TLS_INSECURE=true"
    access_mark=$(wc -l <"$NGINX_DIR/access.log")
    expect_accepted "S3SEAL_BACKEND_TLS_INSECURE=true accepts the other CA's certificate"
    # RFC 6066 section 3: no server name for an IP address URL; nginx logs an empty one as "-"
    check_equal "no SNI for an IP address URL" - \
        "$(tail -n +"$((access_mark + 1))" "$NGINX_DIR/access.log" | awk -v p="$PORT_OTHER_CA" '$1 == p {print $7}' | sort -u)"
    if grep -q 'S3SEAL_BACKEND_TLS_INSECURE=true: the certificate of the backend 127.0.0.1 is NOT verified' "$S3SEAL_LOG"; then
        pass "S3SEAL_BACKEND_TLS_INSECURE=true is logged as a warning at start-up"
    else
        flunk "S3SEAL_BACKEND_TLS_INSECURE=true is logged as a warning at start-up" "no such line in $S3SEAL_LOG"
    fi
}

# /readyz of the admin listener checks the backend over TLS with the same certificate checks: 200 for
# the good terminator, 503 naming the TLS failure for the one with another CA.
check_readiness() {
    local admin_port out=$WORK_DIR/readyz.out code
    admin_port=$(free_port)
    restart_s3seal "https://localhost:$PORT_GOOD" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE" \
        "S3SEAL_ADMIN_LISTEN=127.0.0.1:$admin_port"
    code=$(curl -s -o "$out" -w '%{http_code}' "http://127.0.0.1:$admin_port/readyz" || true)
    check_equal "/readyz through the https backend: 200" 200 "$code"

    admin_port=$(free_port)
    restart_s3seal "https://127.0.0.1:$PORT_OTHER_CA" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE" \
        "S3SEAL_ADMIN_LISTEN=127.0.0.1:$admin_port"
    code=$(curl -s -o "$out" -w '%{http_code}' "http://127.0.0.1:$admin_port/readyz" || true)
    check_equal "/readyz with a backend certificate from another CA: 503" 503 "$code"
    if grep -q 'TLS handshake with the backend 127.0.0.1' "$out"; then
        pass "/readyz names the failed TLS handshake"
    else
        flunk "/readyz names the failed TLS handshake" "$(one_line "$out")"
    fi
}

# Runs "s3seal rewrap --dry-run" on the bucket through backend URL $1 with the extra settings after it.
run_rewrap_dry() {
    local url=$1
    shift
    env S3SEAL_LISTEN="127.0.0.1:1" \
        S3SEAL_BACKEND_URL="$url" \
        S3SEAL_BACKEND_REGION="$REGION" \
        S3SEAL_BACKEND_ACCESS_KEY_ID="$BACKEND_ACCESS_KEY" \
        S3SEAL_BACKEND_SECRET_ACCESS_KEY="$BACKEND_SECRET_KEY" \
        S3SEAL_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" \
        S3SEAL_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY" \
        S3SEAL_KEY_FILE="$S3SEAL_KEY_FILE" \
        "$@" "$(s3seal_bin_path)" rewrap --bucket "$BUCKET" --dry-run
}

# "s3seal rewrap" reads the backend with libcurl, not the event loop, and must apply the same TLS settings.
check_rewrap() {
    local out=$WORK_DIR/rewrap.out status=0
    run_rewrap_dry "https://localhost:$PORT_GOOD" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE" >"$out" 2>&1 || status=$?
    check_equal "rewrap --dry-run through the https backend: exit status" 0 "$status"
    if grep -q '; 3 objects,' "$out"; then
        pass "rewrap --dry-run through the https backend lists the 3 objects"
    else
        flunk "rewrap --dry-run through the https backend lists the 3 objects" "$(one_line "$out")"
    fi

    status=0
    run_rewrap_dry "https://127.0.0.1:$PORT_OTHER_CA" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE" >"$out" 2>&1 || status=$?
    if ((status != 0)) && grep -q 'unable to get local issuer certificate' "$out"; then
        pass "rewrap rejects the certificate from another CA"
    else
        flunk "rewrap rejects the certificate from another CA" "exit status $status: $(one_line "$out")"
    fi
}

main() {
    install_traps
    testlib_init backend-tls
    [[ -x $NGINX_BIN ]] || fail "$NGINX_BIN not found; install the Debian package nginx or set NGINX_BIN"
    command -v openssl >/dev/null || fail "openssl not found; install the Debian package openssl"
    s3seal_check_bin
    # this test needs its own TLS terminator in front of a local RGW
    unset S3SEAL_TEST_ENDPOINT
    backend_start
    RGW_ENDPOINT=$BACKEND_ENDPOINT
    make_certificates
    nginx_start
    check_terminator

    # 8 MiB parts for the 20 MiB upload
    cat >>"$AWS_CONFIG_FILE" <<CONF
    multipart_threshold = 8MB
    multipart_chunksize = 8MB
CONF
    sed -i '/multipart_threshold = 2GB/d' "$AWS_CONFIG_FILE"

    BUCKET=$(unique_bucket_name backend-tls)
    # a host name URL, so that SNI and the DNS name check are used
    restart_s3seal "https://localhost:$PORT_GOOD" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE"
    check_round_trips
    restart_s3seal "https://localhost:$PORT_GOOD" "S3SEAL_BACKEND_CA_FILE=$TEST_CA_FILE"
    check_connection_reuse
    if grep -q 'TLS handshake with the backend done: TLSv1.3' "$S3SEAL_LOG"; then
        pass "s3seal negotiates TLS 1.3 with nginx"
    else
        flunk "s3seal negotiates TLS 1.3 with nginx" "no TLSv1.3 handshake line in $S3SEAL_LOG"
    fi
    check_verification
    check_readiness
    check_rewrap
    s3seal_stop
    check_equal "s3seal for $BACKEND_ENDPOINT exits with status 0" 0 "$S3SEAL_EXIT_STATUS"

    printf '%d checks, %d failed\n' "$checks" "$failures"
    ((failures == 0))
}

main "$@"
