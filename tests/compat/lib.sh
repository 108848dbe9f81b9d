# shellcheck shell=bash
# Helpers shared by the client scripts in tests/compat. Source this file after
# "set -euo pipefail"; it sources ../integration/lib.sh.
#
# Run alone, a client script starts its own Ceph RGW and two s3seal
# processes: one on HTTP, one on HTTPS with the test CA of make_test_ca.
# When COMPAT_ENV_FILE names the file that run.sh writes, the script uses
# the RGW and the s3seal processes that run.sh started for all scripts.
#
# Every script prints, besides its "ok - " and "not ok - " lines:
#   # client: NAME
#   # version: VERSION REPORTED BY THE CLIENT
#   # workflows: WHAT THE SCRIPT RUNS
# and, when the client cannot run on this machine, "# cannot run here: REASON"
# followed by exit status COMPAT_CANNOT_RUN (77). run.sh reads these lines.

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPAT_CANNOT_RUN=77
# The pyenv Python 3.11 with boto3 1.43 and awscli 1.45, not /usr/bin/python3.
PY_CLIENTS=python3
# shellcheck disable=SC2034 # used by the client scripts that source this file
MIB=$((1024 * 1024))

PROXY_HTTP_ENDPOINT=""
PROXY_HTTPS_ENDPOINT=""
COMPAT_HTTP_PID=""
COMPAT_CANARY=""
COMPAT_SHARED=0
BUCKET=""

# Prints the lines that run.sh copies into the results table.
compat_describe() {
    printf '# client: %s\n# version: %s\n# workflows: %s\n' "$1" "$2" "$3"
}

# Reports that the client cannot run on this machine and why, and exits with
# the status that run.sh shows as "cannot run here".
cannot_run() {
    printf '# cannot run here: %s\n' "$*"
    note "cannot run here: $*"
    exit "$COMPAT_CANNOT_RUN"
}

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# Reports a failed check that docs/DECISIONS.md or
# docs/KNOWN_LIMITATIONS.md explains. It counts in known_failures, does not
# fail the script, and run.sh lists it in the results.
known_limitation() {
    checks=$((checks + 1))
    known_failures=$((known_failures + 1))
    printf 'not ok - %s: %s # TODO known limitation\n' "$1" "$2"
}

# Checks that file $3 has the SHA-256 of file $2.
check_same_file() {
    local name=$1 expected=$2 actual=$3
    if [[ ! -f $actual ]]; then
        flunk "$name" "$actual was not written"
        return 0
    fi
    check_equal "$name" "$(file_sha256 "$expected")" "$(file_sha256 "$actual")"
}

# Writes SIZE ($2) bytes to file $1: random bytes with the run's canary text
# at the start of every MiB. The canary must never appear in a stored body.
make_canary_file() {
    local path=$1 size=$2
    mkdir -p "$(dirname "$path")"
    "$PYTHON_BIN" - "$path" "$size" "$COMPAT_CANARY" <<'PY'
import os
import sys

path, size, canary = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
step = 1 << 20
with open(path, "wb") as f:
    left = size
    while left > 0:
        block = (canary + os.urandom(step - len(canary)))[:left]
        f.write(block)
        left -= len(block)
PY
}

# Checks on the backend that every object under prefix $3 of bucket $2 is
# sealed: envelope metadata, a valid chunk layout, no canary text in the
# stored body, and at least $4 objects in all.
check_sealed() {
    local label=$1 bucket=$2 prefix=$3 min_count=$4
    run_helper "$label: backend check" "$PY_CLIENTS" "$COMPAT_DIR/backend_check.py" sealed \
        "$label" "$bucket" "$prefix" "$COMPAT_CANARY" "$min_count"
}

# Checks that the backend has no object under prefix $3 of bucket $2.
check_backend_empty() {
    local label=$1 bucket=$2 prefix=$3
    run_helper "$label: backend empty check" "$PY_CLIENTS" "$COMPAT_DIR/backend_check.py" empty \
        "$label" "$bucket" "$prefix"
}

# Checks that KEY ($3) on the backend is ciphertext of FILE ($4) with the
# chunk layout of a single PUT, or of a multipart upload with the plaintext
# part sizes given after FILE.
check_stored_layout() {
    local label=$1
    run_helper "$label: stored layout" "$PY_CLIENTS" "$REPO_ROOT/tests/integration/objects_check.py" stored "$@"
}

# Starts s3seal twice with the same key file: on HTTP and on HTTPS.
compat_start_proxies() {
    make_test_ca
    S3SEAL_START_TLS=0
    s3seal_start
    PROXY_HTTP_ENDPOINT=$PROXY_ENDPOINT
    COMPAT_HTTP_PID=$S3SEAL_PID
    S3SEAL_PID=""
    S3SEAL_START_TLS=1
    s3seal_start
    PROXY_HTTPS_ENDPOINT=$PROXY_ENDPOINT
    PROXY_ENDPOINT=$PROXY_HTTP_ENDPOINT
}

# Stops both s3seal processes and checks their exit status and log. Runs
# only in the process that started them.
compat_stop_proxies() {
    local status_https status_http
    [[ -n $COMPAT_HTTP_PID || -n $S3SEAL_PID ]] || return 0
    s3seal_stop
    status_https=$S3SEAL_EXIT_STATUS
    S3SEAL_PID=$COMPAT_HTTP_PID
    COMPAT_HTTP_PID=""
    s3seal_stop
    status_http=$S3SEAL_EXIT_STATUS
    case $status_http/$status_https in
        0/0 | 0/143 | 143/0 | 143/143) pass "both s3seal processes exit after SIGTERM" ;;
        *) flunk "both s3seal processes exit after SIGTERM" "exit status $status_http (HTTP), $status_https (HTTPS)" ;;
    esac
    if grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$S3SEAL_LOG"; then
        flunk "s3seal log has no sanitizer report" "see the s3seal log in $S3SEAL_LOG"
    else
        pass "s3seal log has no sanitizer report"
    fi
}

# Writes the settings a client script needs to use this process's RGW and
# s3seal to file $1.
compat_write_env() {
    local file=$1 name
    : >"$file"
    for name in BACKEND_ENDPOINT BACKEND_ACCESS_KEY BACKEND_SECRET_KEY REGION \
        PROXY_HTTP_ENDPOINT PROXY_HTTPS_ENDPOINT TEST_CA_FILE S3SEAL_LOG; do
        printf '%s=%q\n' "$name" "${!name}" >>"$file"
    done
}

# Creates the work folder, takes or starts RGW and s3seal, makes the run's
# canary and creates bucket "compat-$1-..." through s3seal.
compat_setup() {
    local name=$1
    testlib_init "compat-$name"
    if [[ -n ${COMPAT_ENV_FILE:-} ]]; then
        [[ -r $COMPAT_ENV_FILE ]] || fail "COMPAT_ENV_FILE=$COMPAT_ENV_FILE is not readable"
        # shellcheck disable=SC1090
        source "$COMPAT_ENV_FILE"
        COMPAT_SHARED=1
        BACKEND_KIND=shared
        PROXY_ENDPOINT=$PROXY_HTTP_ENDPOINT
        note "using the RGW and s3seal that run.sh started: $PROXY_HTTP_ENDPOINT, $PROXY_HTTPS_ENDPOINT"
    else
        s3seal_check_bin
        backend_start
        compat_start_proxies
    fi
    export PROXY_ENDPOINT BACKEND_ENDPOINT BACKEND_ACCESS_KEY BACKEND_SECRET_KEY REGION TEST_CA_FILE
    export CLIENT_ACCESS_KEY CLIENT_SECRET_KEY

    COMPAT_CANARY="S3SEAL-COMPAT-CANARY-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    BUCKET=$(unique_bucket_name "compat-$name")
    if create_bucket aws_proxy "$BUCKET" >"$WORK_DIR/create-bucket.out" 2>&1; then
        pass "create-bucket $BUCKET through s3seal"
    else
        flunk "create-bucket $BUCKET through s3seal" "$(one_line "$WORK_DIR/create-bucket.out")"
        fail "cannot go on without a bucket"
    fi
}

# Stops what a client script started besides RGW and s3seal. A script that
# starts more (a FUSE mount) defines its own.
compat_cleanup_hook() {
    :
}

compat_on_exit() {
    local rc=$?
    set +e
    testlib_restore_output
    compat_cleanup_hook
    if ((COMPAT_SHARED == 0)); then
        compat_stop_proxies
        if ((rc == 0 && failures > 0)); then
            rc=1
        fi
    fi
    if ((rc != 0 && rc != COMPAT_CANNOT_RUN)) || ((failures > 0)); then
        print_s3seal_log
        print_backend_log
    fi
    testlib_cleanup
    exit "$rc"
}

# Cleans up on every way out of a client script.
compat_install_traps() {
    trap compat_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Prints the check count and exits 1 if any check failed.
compat_finish() {
    local t_start=$1
    note "$checks checks, $failures failed, $known_failures known limitations, $(elapsed_s "$t_start") s"
    if ((failures > 0)); then
        exit 1
    fi
}
