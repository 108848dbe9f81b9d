#!/usr/bin/env bash
# Throughput and memory benchmark of s3seal. It uploads and downloads one file
# of random data (1 GiB by default) with aws-cli v2 (/usr/bin/aws, one
# PutObject and one GetObject each), first directly against the backend and
# then through s3seal. It prints MiB/s for each and s3seal's peak resident
# memory.
#
# Settings (environment variables):
#   BENCH_SIZE_MIB   file size in MiB (1024)
#   S3SEAL_BIN       s3seal binary (build/s3seal, relative to the repository root)
#   S3SEAL_TEST_ENDPOINT, S3SEAL_TEST_ACCESS_KEY, S3SEAL_TEST_SECRET_KEY,
#   S3SEAL_TEST_REGION  use this backend instead of starting Ceph RGW
#   OBJECTSTORE, RGW_STORE_BYTES  passed to tests/backend/start-rgw.sh
#
# With the default memstore backend the OSD keeps both stored copies in RAM:
# expect about 2.5 GB of memory use for the default size, plus 3 times the
# file size in free space in TMPDIR (the file and two downloads).
# Not run by CI.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

BENCH_SIZE_MIB=${BENCH_SIZE_MIB:-1024}
RSS_POLL_INTERVAL=0.2
POLLER_PID=""

on_exit() {
    local rc=$?
    set +e
    testlib_restore_output
    stop_rss_poller
    if ((rc != 0)); then
        print_s3seal_log
        print_backend_log
    fi
    testlib_cleanup
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Samples VmRSS (KiB) of PID $1 every RSS_POLL_INTERVAL seconds and keeps the
# largest value in file $2. Runs until stopped or the process exits.
poll_rss() {
    local pid=$1 out_file=$2 max_kib=0 rss_kib
    while [[ -r /proc/$pid/status ]]; do
        rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
        if [[ -n $rss_kib ]] && ((rss_kib > max_kib)); then
            max_kib=$rss_kib
            printf '%s\n' "$max_kib" >"$out_file"
        fi
        sleep "$RSS_POLL_INTERVAL"
    done
}

stop_rss_poller() {
    if [[ -n $POLLER_PID ]]; then
        kill "$POLLER_PID" 2>/dev/null || true
        wait "$POLLER_PID" 2>/dev/null || true
        POLLER_PID=""
    fi
}

# Prints MiB/s for BENCH_SIZE_MIB MiB moved in $1 microseconds.
mib_per_s() {
    awk -v mib="$BENCH_SIZE_MIB" -v us="$1" 'BEGIN { printf "%.1f", mib / (us / 1000000) }'
}

# Uploads and downloads the test file with aws-cli function $1 (aws_backend
# or aws_proxy) into bucket $2, checks the download's SHA-256 and prints
# "<upload microseconds> <download microseconds>".
measure_transfer() {
    local aws_fn=$1 bucket=$2 source_file=$WORK_DIR/bench.bin download=$WORK_DIR/download.bin
    local t_start up_us down_us
    t_start=$(now_us)
    "$aws_fn" s3 cp --only-show-errors "$source_file" "s3://$bucket/bench.bin" >&2 ||
        fail "upload with $aws_fn to s3://$bucket/bench.bin failed"
    up_us=$(($(now_us) - t_start))

    t_start=$(now_us)
    "$aws_fn" s3 cp --only-show-errors "s3://$bucket/bench.bin" "$download" >&2 ||
        fail "download with $aws_fn from s3://$bucket/bench.bin failed"
    down_us=$(($(now_us) - t_start))

    [[ $(sha256sum <"$download" | cut -d' ' -f1) == "$SOURCE_SHA256" ]] ||
        fail "download with $aws_fn from s3://$bucket/bench.bin does not match the uploaded file"
    rm -f "$download"
    printf '%s %s' "$up_us" "$down_us"
}

main() {
    local direct_bucket proxy_bucket direct proxy hwm_kib max_rss_kib
    [[ $BENCH_SIZE_MIB =~ ^[1-9][0-9]*$ ]] || fail "BENCH_SIZE_MIB must be a positive integer, got '$BENCH_SIZE_MIB'"
    ((BENCH_SIZE_MIB < 2048)) || fail "BENCH_SIZE_MIB must be below 2048: larger files make aws-cli use multipart, which s3seal does not support yet"

    testlib_init bench
    s3seal_check_bin
    backend_start
    s3seal_start

    note "writing $BENCH_SIZE_MIB MiB of random data"
    head -c "$((BENCH_SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK_DIR/bench.bin"
    SOURCE_SHA256=$(sha256sum <"$WORK_DIR/bench.bin" | cut -d' ' -f1)

    direct_bucket=$(unique_bucket_name s3seal-bench-direct)
    proxy_bucket=$(unique_bucket_name s3seal-bench-proxy)
    create_bucket aws_backend "$direct_bucket" >/dev/null || fail "create-bucket $direct_bucket on the backend failed"
    create_bucket aws_proxy "$proxy_bucket" >/dev/null || fail "create-bucket $proxy_bucket through s3seal failed"

    note "direct to backend: upload and download"
    direct=$(measure_transfer aws_backend "$direct_bucket")

    poll_rss "$S3SEAL_PID" "$WORK_DIR/max-rss" &
    POLLER_PID=$!
    note "through s3seal: upload and download"
    proxy=$(measure_transfer aws_proxy "$proxy_bucket")
    hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$S3SEAL_PID/status")
    stop_rss_poller
    max_rss_kib=$(cat "$WORK_DIR/max-rss" 2>/dev/null || echo 0)

    printf '\n%s MiB, aws-cli %s, single PutObject and GetObject, backend %s\n\n' \
        "$BENCH_SIZE_MIB" "$("$AWS_BIN" --version | cut -d' ' -f1)" "$BACKEND_ENDPOINT"
    printf '| path              | upload MiB/s | download MiB/s |\n'
    printf '|-------------------|-------------:|---------------:|\n'
    printf '| direct to backend | %12s | %14s |\n' "$(mib_per_s "${direct% *}")" "$(mib_per_s "${direct#* }")"
    printf '| through s3seal    | %12s | %14s |\n' "$(mib_per_s "${proxy% *}")" "$(mib_per_s "${proxy#* }")"
    printf '\ns3seal peak RSS: VmHWM %d MiB; largest VmRSS sampled every %s s: %d MiB\n' \
        $((hwm_kib / 1024)) "$RSS_POLL_INTERVAL" $((max_rss_kib / 1024))
}

main "$@"
