# shellcheck shell=bash
# Helpers shared by the scripts in this folder and ../bench/perf.sh: start and stop the S3
# backend and s3seal, run /usr/bin/aws against either of them, clean up.
# Source this file after "set -euo pipefail". It sets no traps itself.
#
# Environment read here:
#   S3SEAL_BIN            s3seal binary; a relative path is taken from the
#                         repository root (build/s3seal)
#   S3SEAL_TEST_ENDPOINT  use this S3 backend (http:// or https://) instead
#                         of starting Ceph RGW, with S3SEAL_TEST_ACCESS_KEY,
#                         S3SEAL_TEST_SECRET_KEY and S3SEAL_TEST_REGION
#                         (us-east-1)
#   S3SEAL_TEST_CA_FILE   PEM CA file that an https:// S3SEAL_TEST_ENDPOINT's
#                         certificate chains to, such as a MinIO's private
#                         CA (default: the system CA store). s3seal gets it
#                         as S3SEAL_BACKEND_CA_FILE and aws-cli and boto3
#                         use it to read the backend directly.
#   S3SEAL_TEST_PORT      s3seal listen port (a free port picked at start)
#   S3SEAL_START_TIMEOUT  seconds to wait for s3seal's port (15)
#   S3SEAL_TEST_KEEP      1 keeps the work folder, RGW data and logs
#
# Set by the caller before s3seal_start (both optional):
#   S3SEAL_START_TLS      1 starts s3seal with the certificate made by
#                         make_test_ca, so PROXY_ENDPOINT is https://
#   S3SEAL_START_ENV      array of extra NAME=VALUE settings for s3seal serve

TESTLIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TESTLIB_DIR/../.." && pwd)
AWS_BIN=/usr/bin/aws
PYTHON_BIN=/usr/bin/python3

# Client credentials that s3seal accepts. They differ from the backend's on
# purpose, so that a proxy which forwards the client's signature fails.
CLIENT_ACCESS_KEY=S3SEALCLIENT00000001
CLIENT_SECRET_KEY=s3sealclientsecret000000000000000000001

WORK_DIR=""
RGW_STARTED=0
RGW_DIR=""
S3SEAL_PID=""
S3SEAL_LOG=""
S3SEAL_EXIT_STATUS=""
PROXY_ENDPOINT=""
BACKEND_KIND=""
BACKEND_ENDPOINT=""
BACKEND_CA_FILE="" # CA file for an https:// BACKEND_ENDPOINT; empty for the system store
BACKEND_ACCESS_KEY=""
BACKEND_SECRET_KEY=""
REGION=""
CREATED_BUCKETS=()
S3SEAL_START_TLS=${S3SEAL_START_TLS:-0}
S3SEAL_START_ENV=()
TEST_CA_FILE=""
TEST_CERT_FILE=""
TEST_CERT_KEY_FILE=""

# Copies of the script's stdout and stderr. A trap runs inside the redirections
# of the command that was running when the signal came (often "2>file"), so
# the EXIT handlers restore these before they print anything.
exec {TESTLIB_STDOUT_FD}>&1 {TESTLIB_STDERR_FD}>&2

testlib_restore_output() {
    exec 1>&"$TESTLIB_STDOUT_FD" 2>&"$TESTLIB_STDERR_FD"
}

# Prints a progress line on stderr, prefixed with the script's name.
note() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# Prints an error and exits 1. The caller's EXIT trap cleans up.
fail() {
    note "error: $*"
    exit 1
}

# Prints microseconds since the epoch.
now_us() {
    local t=$EPOCHREALTIME
    printf '%s' "${t/./}"
}

# Prints the seconds since $1 (from now_us) with two decimals.
elapsed_s() {
    local start_us=$1 end_us
    end_us=$(now_us)
    printf '%d.%02d' $(((end_us - start_us) / 1000000)) $((((end_us - start_us) / 10000) % 100))
}

# Creates the work folder and an aws-cli environment that reads nothing from
# the user's ~/.aws and never queries an instance metadata service.
testlib_init() {
    local name=$1
    [[ -x $AWS_BIN ]] || fail "$AWS_BIN not found; install the Debian package awscli (aws-cli v2)"
    [[ -x $PYTHON_BIN ]] || fail "$PYTHON_BIN not found; install the Debian package python3"

    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/s3seal-$name.XXXXXX")

    # A machine-wide CA bundle or profile must not change how aws-cli talks
    # to the plain-HTTP endpoints used here.
    unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
        AWS_REGION AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    export AWS_EC2_METADATA_DISABLED=true
    export AWS_PAGER=""
    export AWS_SHARED_CREDENTIALS_FILE=$WORK_DIR/no-credentials
    export AWS_CONFIG_FILE=$WORK_DIR/aws.config
    export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"
    export no_proxy=$NO_PROXY

    # The threshold keeps "aws s3 cp" on one PutObject and one GetObject for
    # every file used here (at most 1 GiB), as the single-PUT size checks
    # expect. Scripts that test multipart uploads and ranged downloads set
    # their own. max_attempts = 1 makes a failed request fail the check
    # instead of being retried.
    cat >"$AWS_CONFIG_FILE" <<CONF
[default]
output = json
retry_mode = standard
max_attempts = 1
s3 =
    addressing_style = path
    multipart_threshold = 2GB
CONF
}

# Starts Ceph RGW in the work folder, or takes the backend from
# S3SEAL_TEST_ENDPOINT and its credentials.
backend_start() {
    local env_file t_start
    if [[ -n ${S3SEAL_TEST_ENDPOINT:-} ]]; then
        [[ -n ${S3SEAL_TEST_ACCESS_KEY:-} ]] || fail "S3SEAL_TEST_ENDPOINT is set but S3SEAL_TEST_ACCESS_KEY is not"
        [[ -n ${S3SEAL_TEST_SECRET_KEY:-} ]] || fail "S3SEAL_TEST_ENDPOINT is set but S3SEAL_TEST_SECRET_KEY is not"
        [[ $S3SEAL_TEST_ENDPOINT == http://* || $S3SEAL_TEST_ENDPOINT == https://* ]] ||
            fail "S3SEAL_TEST_ENDPOINT must start with http:// or https://, got '$S3SEAL_TEST_ENDPOINT'"
        BACKEND_KIND=external
        BACKEND_ENDPOINT=$S3SEAL_TEST_ENDPOINT
        if [[ -n ${S3SEAL_TEST_CA_FILE:-} ]]; then
            [[ $S3SEAL_TEST_ENDPOINT == https://* ]] || fail "S3SEAL_TEST_CA_FILE needs an https:// S3SEAL_TEST_ENDPOINT"
            [[ -r $S3SEAL_TEST_CA_FILE ]] || fail "S3SEAL_TEST_CA_FILE $S3SEAL_TEST_CA_FILE cannot be read"
            BACKEND_CA_FILE=$S3SEAL_TEST_CA_FILE
        fi
        # for the Python checks that read the backend directly
        export BACKEND_CA_FILE
        BACKEND_ACCESS_KEY=$S3SEAL_TEST_ACCESS_KEY
        BACKEND_SECRET_KEY=$S3SEAL_TEST_SECRET_KEY
        REGION=${S3SEAL_TEST_REGION:-us-east-1}
        note "backend: $BACKEND_ENDPOINT (from S3SEAL_TEST_ENDPOINT), region $REGION"
        return 0
    fi

    BACKEND_KIND=rgw
    RGW_DIR=$WORK_DIR/rgw
    env_file=$WORK_DIR/rgw.env
    t_start=$(now_us)
    note "starting Ceph RGW in $RGW_DIR"
    RGW_STARTED=1
    if ! RGW_DIR=$RGW_DIR "$REPO_ROOT/tests/backend/start-rgw.sh" >"$env_file" 2>"$WORK_DIR/rgw-start.log"; then
        cat "$WORK_DIR/rgw-start.log" >&2
        fail "Ceph RGW did not start (tests/backend/start-rgw.sh); its output is above"
    fi
    BACKEND_ENDPOINT=$(sed -n 's/^S3_ENDPOINT=//p' "$env_file")
    BACKEND_ACCESS_KEY=$(sed -n 's/^S3_ACCESS_KEY=//p' "$env_file")
    BACKEND_SECRET_KEY=$(sed -n 's/^S3_SECRET_KEY=//p' "$env_file")
    REGION=$(sed -n 's/^S3_REGION=//p' "$env_file")
    [[ -n $BACKEND_ENDPOINT && -n $BACKEND_ACCESS_KEY && -n $BACKEND_SECRET_KEY && -n $REGION ]] ||
        fail "start-rgw.sh wrote an incomplete env file: $env_file"
    note "backend: Ceph RGW at $BACKEND_ENDPOINT, ready in $(elapsed_s "$t_start") s"
}

backend_stop() {
    if ((RGW_STARTED)); then
        RGW_STARTED=0
        KEEP_DATA=${S3SEAL_TEST_KEEP:-0} RGW_DIR=$RGW_DIR "$REPO_ROOT/tests/backend/stop-rgw.sh" 2>>"$WORK_DIR/rgw-stop.log" ||
            note "tests/backend/stop-rgw.sh failed; see $WORK_DIR/rgw-stop.log"
    fi
}

# Prints a free TCP port on 127.0.0.1. Another program may take it before
# s3seal binds it; s3seal then fails to start with a clear log line.
free_port() {
    "$PYTHON_BIN" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Prints the s3seal binary path from S3SEAL_BIN, resolved from the repository
# root when relative.
s3seal_bin_path() {
    local bin=${S3SEAL_BIN:-build/s3seal}
    [[ $bin == /* ]] || bin=$REPO_ROOT/$bin
    printf '%s' "$bin"
}

# Fails unless the s3seal binary exists and is executable. Called before the
# backend starts, so that a missing build fails in well under a second.
s3seal_check_bin() {
    local bin
    bin=$(s3seal_bin_path)
    [[ -e $bin ]] || fail "s3seal binary not found: $bin; build it (cmake -S . -B build && cmake --build build) or set S3SEAL_BIN"
    [[ -x $bin ]] || fail "s3seal binary is not executable: $bin"
}

# Creates the key file with "s3seal keygen" and starts "s3seal serve" in the
# background, configured only by environment variables. Waits until its port
# accepts connections.
s3seal_start() {
    local bin port deadline timeout_s=${S3SEAL_START_TIMEOUT:-15}
    s3seal_check_bin
    bin=$(s3seal_bin_path)

    # A restarted s3seal keeps the key of the first start, so that it can
    # read the objects stored before.
    S3SEAL_KEY_FILE=$WORK_DIR/s3seal.key
    if [[ ! -s $S3SEAL_KEY_FILE ]]; then
        if ! "$bin" keygen --out "$S3SEAL_KEY_FILE" >"$WORK_DIR/keygen.log" 2>&1; then
            cat "$WORK_DIR/keygen.log" >&2
            fail "'$bin keygen --out $S3SEAL_KEY_FILE' failed; its output is above"
        fi
        [[ -s $S3SEAL_KEY_FILE ]] || fail "'s3seal keygen' exited 0 but wrote no key to $S3SEAL_KEY_FILE"
    fi

    local scheme=http
    local extra_env=()
    if [[ -n $BACKEND_CA_FILE ]]; then
        extra_env+=("S3SEAL_BACKEND_CA_FILE=$BACKEND_CA_FILE")
    fi
    extra_env+=("${S3SEAL_START_ENV[@]}")
    if [[ $S3SEAL_START_TLS == 1 ]]; then
        [[ -s $TEST_CERT_FILE && -s $TEST_CERT_KEY_FILE ]] || fail "S3SEAL_START_TLS=1 needs make_test_ca first"
        scheme=https
        extra_env+=("S3SEAL_TLS_CERT_FILE=$TEST_CERT_FILE" "S3SEAL_TLS_KEY_FILE=$TEST_CERT_KEY_FILE")
    fi

    port=${S3SEAL_TEST_PORT:-$(free_port)}
    # Each start appends to the same log, so a failure report shows all runs.
    S3SEAL_LOG=$WORK_DIR/s3seal.log
    printf -- '----- s3seal serve on %s://127.0.0.1:%s -----\n' "$scheme" "$port" >>"$S3SEAL_LOG"
    env S3SEAL_LISTEN="127.0.0.1:$port" \
        S3SEAL_BACKEND_URL="$BACKEND_ENDPOINT" \
        S3SEAL_BACKEND_REGION="$REGION" \
        S3SEAL_BACKEND_ACCESS_KEY_ID="$BACKEND_ACCESS_KEY" \
        S3SEAL_BACKEND_SECRET_ACCESS_KEY="$BACKEND_SECRET_KEY" \
        S3SEAL_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" \
        S3SEAL_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY" \
        S3SEAL_KEY_FILE="$S3SEAL_KEY_FILE" \
        "${extra_env[@]}" \
        "$bin" serve >>"$S3SEAL_LOG" 2>&1 &
    S3SEAL_PID=$!

    deadline=$(($(now_us) + timeout_s * 1000000))
    until (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$S3SEAL_PID" 2>/dev/null; then
            wait "$S3SEAL_PID" && S3SEAL_EXIT_STATUS=0 || S3SEAL_EXIT_STATUS=$?
            S3SEAL_PID=""
            print_s3seal_log
            fail "s3seal serve exited with status $S3SEAL_EXIT_STATUS before listening on 127.0.0.1:$port; its log is above"
        fi
        if (($(now_us) > deadline)); then
            print_s3seal_log
            fail "s3seal serve (PID $S3SEAL_PID) did not accept connections on 127.0.0.1:$port within ${timeout_s}s; its log is above"
        fi
        sleep 0.05
    done
    PROXY_ENDPOINT=$scheme://127.0.0.1:$port
    note "s3seal (PID $S3SEAL_PID) listening on $PROXY_ENDPOINT, log: $S3SEAL_LOG"
}

# Creates a test CA and a server certificate for 127.0.0.1, ::1 and
# localhost in the work folder with openssl, and sets TEST_CA_FILE,
# TEST_CERT_FILE and TEST_CERT_KEY_FILE.
make_test_ca() {
    local dir=$WORK_DIR/tls
    mkdir -p "$dir"
    TEST_CA_FILE=$dir/ca.pem
    TEST_CERT_FILE=$dir/server.pem
    TEST_CERT_KEY_FILE=$dir/server.key
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=s3seal test CA" \
            -keyout "$dir/ca.key" -out "$TEST_CA_FILE" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
                -keyout "$TEST_CERT_KEY_FILE" -out "$dir/server.csr" &&
            printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext" &&
            openssl x509 -req -in "$dir/server.csr" -CA "$TEST_CA_FILE" -CAkey "$dir/ca.key" \
                -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$TEST_CERT_FILE"
    } >"$dir/openssl.log" 2>&1 || {
        cat "$dir/openssl.log" >&2
        fail "openssl could not create the test CA and certificate; its output is above"
    }
    chmod 600 "$TEST_CERT_KEY_FILE"
}

# Sends SIGTERM to the s3seal this script started and waits up to 10 s, then
# SIGKILL. Stores its exit status in S3SEAL_EXIT_STATUS.
s3seal_stop() {
    local waited=0
    [[ -n $S3SEAL_PID ]] || return 0
    kill -TERM "$S3SEAL_PID" 2>/dev/null || true
    while kill -0 "$S3SEAL_PID" 2>/dev/null && ((waited < 100)); do
        # A zombie counts as alive for kill -0; its state shows it exited.
        [[ $(awk '{print $3}' "/proc/$S3SEAL_PID/stat" 2>/dev/null) == Z ]] && break
        sleep 0.1
        waited=$((waited + 1))
    done
    if ((waited >= 100)); then
        note "s3seal (PID $S3SEAL_PID) still running 10 s after SIGTERM; sending SIGKILL"
        kill -KILL "$S3SEAL_PID" 2>/dev/null || true
    fi
    wait "$S3SEAL_PID" && S3SEAL_EXIT_STATUS=0 || S3SEAL_EXIT_STATUS=$?
    S3SEAL_PID=""
}

print_s3seal_log() {
    [[ -n $S3SEAL_LOG && -f $S3SEAL_LOG ]] || return 0
    printf -- '----- s3seal log (%s, last 500 lines) -----\n' "$S3SEAL_LOG" >&2
    tail -n 500 "$S3SEAL_LOG" >&2
    printf -- '----- end of s3seal log -----\n' >&2
}

print_backend_log() {
    [[ $BACKEND_KIND == rgw && -f $RGW_DIR/log/client.rgw.test.log ]] || return 0
    printf -- '----- radosgw log (last 40 lines) -----\n' >&2
    tail -n 40 "$RGW_DIR/log/client.rgw.test.log" >&2
    printf -- '----- end of radosgw log -----\n' >&2
}

# Runs aws-cli against s3seal with the client credentials.
aws_proxy() {
    AWS_ACCESS_KEY_ID=$CLIENT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CLIENT_SECRET_KEY \
        AWS_DEFAULT_REGION=$REGION "$AWS_BIN" --endpoint-url "$PROXY_ENDPOINT" "$@"
}

# Runs aws-cli against s3seal with access key $1 and secret key $2.
aws_proxy_as() {
    local access_key=$1 secret_key=$2
    shift 2
    AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key \
        AWS_DEFAULT_REGION=$REGION "$AWS_BIN" --endpoint-url "$PROXY_ENDPOINT" "$@"
}

# Runs aws-cli directly against the backend with the backend credentials.
aws_backend() {
    local tls=()
    if [[ -n $BACKEND_CA_FILE ]]; then
        tls=(--ca-bundle "$BACKEND_CA_FILE")
    fi
    AWS_ACCESS_KEY_ID=$BACKEND_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BACKEND_SECRET_KEY \
        AWS_DEFAULT_REGION=$REGION "$AWS_BIN" --endpoint-url "$BACKEND_ENDPOINT" "${tls[@]}" "$@"
}

# Prints a bucket name that is unique per run, as a shared backend needs.
unique_bucket_name() {
    local prefix=$1 suffix
    suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s-%s-%s' "$prefix" "$(date -u +%Y%m%d%H%M%S)" "$suffix"
}

# Creates bucket $2 with aws-cli function $1 (aws_proxy or aws_backend) and
# remembers it for cleanup. Outside us-east-1, S3 needs a LocationConstraint.
create_bucket() {
    local aws_fn=$1 bucket=$2
    local args=(s3api create-bucket --bucket "$bucket")
    if [[ $REGION != us-east-1 ]]; then
        args+=(--create-bucket-configuration "LocationConstraint=$REGION")
    fi
    "$aws_fn" "${args[@]}"
    CREATED_BUCKETS+=("$bucket")
}

# Deletes the objects and buckets this run created on an external backend.
# An RGW started here is removed as a whole by stop-rgw.sh.
delete_created_buckets() {
    local bucket
    [[ $BACKEND_KIND == external ]] || return 0
    for bucket in "${CREATED_BUCKETS[@]}"; do
        aws_backend s3 rm "s3://$bucket" --recursive >/dev/null 2>&1 || true
        aws_backend s3api delete-bucket --bucket "$bucket" >/dev/null 2>&1 ||
            note "could not delete bucket $bucket on $BACKEND_ENDPOINT; delete it by hand"
    done
    CREATED_BUCKETS=()
}

# Stops s3seal and the backend this script started and removes the work
# folder unless S3SEAL_TEST_KEEP=1.
testlib_cleanup() {
    s3seal_stop
    delete_created_buckets
    backend_stop
    if [[ -n $WORK_DIR && -d $WORK_DIR ]]; then
        if [[ ${S3SEAL_TEST_KEEP:-0} == 1 ]]; then
            note "kept $WORK_DIR"
        else
            rm -rf -- "$WORK_DIR"
        fi
    fi
}

# ---- checks shared by the test scripts ----

checks=0
failures=0
known_failures=0

pass() {
    checks=$((checks + 1))
    printf 'ok - %s\n' "$1"
}

# Reports a failed check: $1 is the check, $2 what was expected against what
# was found.
flunk() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    printf 'not ok - %s: %s\n' "$1" "$2"
}

check_equal() {
    local name=$1 expected=$2 actual=$3
    if [[ $expected == "$actual" ]]; then
        pass "$name"
    else
        flunk "$name" "expected '$expected', got '$actual'"
    fi
}

# Prints file $1 on one line, for a check's detail.
one_line() {
    tr '\n' ' ' <"$1" | cut -c1-600
}

# Runs a helper that prints "ok - " and "not ok - " lines, copies them to
# stdout and adds them to the counters. A "not ok" line that ends in a
# "# TODO" comment is a known limitation and counts only in known_failures.
# A helper that fails without a "not ok" line counts as one failed check
# named $1.
run_helper() {
    local name=$1 out=$WORK_DIR/helper.out err=$WORK_DIR/helper.err rc=0 n_ok n_bad n_known
    shift
    "$@" >"$out" 2>"$err" || rc=$?
    cat "$out"
    n_ok=$(grep -c '^ok - ' "$out" || true)
    n_bad=$(grep '^not ok - ' "$out" | grep -c -v ' # TODO ' || true)
    n_known=$(grep '^not ok - ' "$out" | grep -c ' # TODO ' || true)
    checks=$((checks + n_ok + n_bad + n_known))
    failures=$((failures + n_bad))
    known_failures=$((known_failures + n_known))
    if ((rc != 0 && n_bad == 0)); then
        flunk "$name" "exit status $rc: $(one_line "$err")"
    elif [[ -s $err ]] && grep -q 'Traceback' "$err"; then
        flunk "$name ends without an exception" "$(tail -n 3 "$err" | tr '\n' ' ')"
    fi
}

# Runs check $1 with its arguments and prints how long it took.
timed() {
    local t_step
    t_step=$(now_us)
    "$@"
    note "$* done in $(elapsed_s "$t_step") s"
}

# Prints the logs when anything failed, then stops what the script started.
testlib_on_exit() {
    local rc=$?
    set +e
    testlib_restore_output
    if ((rc != 0 || failures > 0)); then
        print_s3seal_log
        print_backend_log
    fi
    testlib_cleanup
    exit "$rc"
}

# Cleans up on every way out of a test script.
testlib_install_traps() {
    trap testlib_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
