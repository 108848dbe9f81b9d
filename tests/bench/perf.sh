#!/usr/bin/env bash
# Performance harness: compares three paths to the same S3 backend in one run
# on loopback (direct, a pass-through nginx reverse proxy, and s3seal) against
# two backends: a near-free one (tests/bench/bench_backend.c, objects on
# tmpfs, sendfile) and Ceph RGW. It prints one Markdown table and writes it
# to BENCH_OUT. docs/PERFORMANCE.md explains each row and the targets.
#
# For each backend and path it measures
#   - large objects: PUT and GET of BENCH_LARGE_MIB MiB as 1 stream (one
#     object) and as BENCH_STREAMS parallel streams (objects of
#     BENCH_LARGE_MIB / BENCH_STREAMS MiB), in MiB/s, with curl --aws-sigv4;
#   - small objects: GET, HEAD and PUT of 1 KiB and 64 KiB at 1 and 16
#     connections for BENCH_RATE_SECONDS each, requests/s and p50/p99
#     latency, with s3seal-bench-load and presigned URLs;
#   - CPU seconds per GiB of s3seal and nginx over the 1-stream PUT and GET,
#     next to "openssl speed -evp aes-256-gcm" on 64 KiB blocks;
#   - on the near-free backend only: s3seal's peak RSS (VmHWM) while 1 GiB
#     streams, and with BENCH_RSS_STREAMS GET streams held open at once.
# Each measurement runs BENCH_REPEATS times, interleaved across the paths;
# the table gives the median and [min–max]. The targets column is for
# reading: no row fails the script. The script fails only when a request
# fails or a download does not match its upload.
#
# Settings (environment variables):
#   BENCH_MODE          full (default) or smoke: smoke uses the near-free
#                       backend, 64 MiB, 1 repeat, 0.3 s rate runs and 1 and
#                       100 streams for RSS, and takes well under a minute
#   BENCH_BACKENDS      "null rgw" in full mode, "null" in smoke mode
#   BENCH_LARGE_MIB     large transfer size (1024; smoke 64)
#   BENCH_STREAMS       parallel streams for the large transfers (8)
#   BENCH_REPEATS       runs of each measurement (3; smoke 1)
#   BENCH_RATE_SECONDS  length of each request-rate run (1; smoke 0.3)
#   BENCH_RSS_STREAMS   concurrent streams for the RSS rows ("1 100 1000";
#                       smoke "1 100")
#   BENCH_WORKERS       nginx worker processes and s3seal worker threads (nproc)
#   BENCH_OUT           file for the table (perf-results.md in the current folder)
#   S3SEAL_BIN          s3seal binary (build/s3seal); the two helper programs
#                       are taken from tests/bench/ of the same build folder
#   RGW_DIR, RGW_PORT, MON_PORT, OSD_PORT_MIN, OSD_PORT_MAX, RGW_STORE_BYTES:
#                       passed to tests/backend/start-rgw.sh; RGW_STORE_BYTES defaults to
#                       6 GiB here, because memstore keeps objects in RAM
#
# Needs curl 7.75 or newer, nginx (Debian nginx-light), openssl, python3 and
# what tests/integration/lib.sh needs. The large file and the near-free
# backend's objects live in /dev/shm: about 3 × BENCH_LARGE_MIB MiB of RAM.
set -euo pipefail

# lib.sh resets RGW_DIR, so keep the caller's value.
BENCH_RGW_DIR=${RGW_DIR:-}

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

BENCH_DIR=$TESTLIB_DIR/../bench
BENCH_MODE=${BENCH_MODE:-full}
case $BENCH_MODE in
full)
    BENCH_BACKENDS=${BENCH_BACKENDS:-null rgw}
    BENCH_LARGE_MIB=${BENCH_LARGE_MIB:-1024}
    BENCH_REPEATS=${BENCH_REPEATS:-3}
    BENCH_RATE_SECONDS=${BENCH_RATE_SECONDS:-1}
    BENCH_RSS_STREAMS=${BENCH_RSS_STREAMS:-1 100 1000}
    ;;
smoke)
    BENCH_BACKENDS=${BENCH_BACKENDS:-null}
    BENCH_LARGE_MIB=${BENCH_LARGE_MIB:-64}
    BENCH_REPEATS=${BENCH_REPEATS:-1}
    BENCH_RATE_SECONDS=${BENCH_RATE_SECONDS:-0.3}
    BENCH_RSS_STREAMS=${BENCH_RSS_STREAMS:-1 100}
    ;;
*)
    printf 'perf.sh: BENCH_MODE must be full or smoke, got %s\n' "$BENCH_MODE" >&2
    exit 2
    ;;
esac
BENCH_STREAMS=${BENCH_STREAMS:-8}
# A full run stalled RGW's OSD with 4 GiB while two paths' large objects
# and their garbage were stored.
export RGW_STORE_BYTES=${RGW_STORE_BYTES:-6442450944}
BENCH_WORKERS=${BENCH_WORKERS:-$(nproc)}
BENCH_OUT=${BENCH_OUT:-perf-results.md}
CURL_BIN=/usr/bin/curl
NGINX_BIN=/usr/sbin/nginx
CLOCK_TICKS=$(getconf CLK_TCK)
TARGETS=(direct nginx s3seal)
SMALL_SIZES=(1024 65536)
RATE_METHODS=(GET HEAD PUT)
RATE_CONNECTIONS=(1 16)
# Request-rate keys: the untimed PUT before the runs stores one object per size.
DIRECT_BUCKET=bench-direct
S3SEAL_BUCKET=bench-s3seal

NGINX_PID=""
NGINX_ENDPOINT=""
NULL_PID=""
SHM_DIR=""
PHASE=""

on_exit() {
    local rc=$?
    set +e
    testlib_restore_output
    nginx_stop
    null_backend_stop
    if ((rc != 0)); then
        print_s3seal_log
        print_backend_log
        [[ -n $WORK_DIR && -f $WORK_DIR/nginx-error.log ]] && tail -n 40 "$WORK_DIR/nginx-error.log" >&2
    fi
    [[ -n $SHM_DIR ]] && rm -rf -- "$SHM_DIR"
    testlib_cleanup
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

helper_bin() {
    printf '%s/tests/bench/%s' "$(dirname "$(s3seal_bin_path)")" "$1"
}

# ---- servers ----

null_backend_start() {
    local port deadline
    port=$(free_port)
    mkdir -p "$SHM_DIR/objects"
    "$(helper_bin s3seal-bench-backend)" "$port" "$SHM_DIR/objects" >>"$WORK_DIR/null-backend.log" 2>&1 &
    NULL_PID=$!
    deadline=$(($(now_us) + 10 * 1000000))
    until (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$NULL_PID" 2>/dev/null || fail "s3seal-bench-backend exited; see $WORK_DIR/null-backend.log"
        (($(now_us) < deadline)) || fail "s3seal-bench-backend did not listen on 127.0.0.1:$port within 10 s"
        sleep 0.05
    done
    BACKEND_KIND=null
    BACKEND_ENDPOINT=http://127.0.0.1:$port
    BACKEND_ACCESS_KEY=BENCHBACKEND00000001
    BACKEND_SECRET_KEY=benchbackendsecret00000000000000000000001
    REGION=us-east-1
    note "near-free backend (PID $NULL_PID) on $BACKEND_ENDPOINT, objects in $SHM_DIR/objects"
}

null_backend_stop() {
    [[ -n $NULL_PID ]] || return 0
    kill -TERM "$NULL_PID" 2>/dev/null || true
    wait "$NULL_PID" 2>/dev/null || true
    NULL_PID=""
    rm -rf -- "$SHM_DIR/objects"
}

rgw_backend_start() {
    local env_file
    if [[ -z $BENCH_RGW_DIR ]]; then
        backend_start
        return 0
    fi
    BACKEND_KIND=rgw
    RGW_DIR=$BENCH_RGW_DIR
    env_file=$WORK_DIR/rgw.env
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
}

# Removes deleted objects from the RGW this script started: with memstore
# their data stays in the OSD's RAM for 2 hours otherwise.
rgw_collect_garbage() {
    [[ $BACKEND_KIND == rgw && $RGW_STARTED == 1 ]] || return 0
    radosgw-admin -c "$RGW_DIR/ceph.conf" gc process --include-all >>"$WORK_DIR/rgw-gc.log" 2>&1 ||
        note "radosgw-admin gc process failed; see $WORK_DIR/rgw-gc.log"
}

nginx_start() {
    local port backend_hostport deadline
    [[ -x $NGINX_BIN ]] || fail "$NGINX_BIN not found; install the Debian package nginx-light"
    port=$(free_port)
    backend_hostport=${BACKEND_ENDPOINT#http://}
    backend_hostport=${backend_hostport%%/*}
    mkdir -p "$WORK_DIR/nginx-tmp"
    sed -e "s|@WORK_DIR@|$WORK_DIR|g" -e "s|@PORT@|$port|g" \
        -e "s|@BACKEND_HOSTPORT@|$backend_hostport|g" -e "s|@WORKERS@|$BENCH_WORKERS|g" \
        "$BENCH_DIR/nginx.conf.in" >"$WORK_DIR/nginx.conf"
    "$NGINX_BIN" -c "$WORK_DIR/nginx.conf" -p "$WORK_DIR" >>"$WORK_DIR/nginx-error.log" 2>&1 &
    NGINX_PID=$!
    deadline=$(($(now_us) + 10 * 1000000))
    until (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited; see $WORK_DIR/nginx-error.log"
        (($(now_us) < deadline)) || fail "nginx did not listen on 127.0.0.1:$port within 10 s"
        sleep 0.05
    done
    NGINX_ENDPOINT=http://127.0.0.1:$port
}

nginx_stop() {
    [[ -n $NGINX_PID ]] || return 0
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}

# ---- requests ----

# Prints "endpoint access-key secret-key" for target $1.
target_credentials() {
    case $1 in
    direct) printf '%s %s %s' "$BACKEND_ENDPOINT" "$BACKEND_ACCESS_KEY" "$BACKEND_SECRET_KEY" ;;
    nginx) printf '%s %s %s' "$NGINX_ENDPOINT" "$BACKEND_ACCESS_KEY" "$BACKEND_SECRET_KEY" ;;
    s3seal) printf '%s %s %s' "$PROXY_ENDPOINT" "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY" ;;
    esac
}

target_bucket() {
    if [[ $1 == s3seal ]]; then printf '%s' "$S3SEAL_BUCKET"; else printf '%s' "$DIRECT_BUCKET"; fi
}

object_url() {
    local endpoint
    read -r endpoint _ _ <<<"$(target_credentials "$1")"
    printf '%s/%s/%s' "$endpoint" "$(target_bucket "$1")" "$2"
}

# Runs curl against target $1 with SigV4 and UNSIGNED-PAYLOAD, so curl does
# not hash the body.
curl_signed() {
    local target=$1 endpoint access_key secret_key
    shift
    read -r endpoint access_key secret_key <<<"$(target_credentials "$target")"
    "$CURL_BIN" --silent --show-error --aws-sigv4 "aws:amz:$REGION:s3" --user "$access_key:$secret_key" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# Prints a presigned URL for method $2 on object $3 of target $1.
presigned_url() {
    local target=$1 method=$2 key=$3 endpoint access_key secret_key
    read -r endpoint access_key secret_key <<<"$(target_credentials "$target")"
    "$PYTHON_BIN" "$BENCH_DIR/presign.py" "$method" "$(object_url "$target" "$key")" "$access_key" "$secret_key" \
        "$REGION" 3600
}

# ---- results ----

record() {
    printf '%s %s\n' "$1" "$2" >>"$WORK_DIR/results"
}

cpu_ticks() {
    local pid=$1 scope=${2:-self} total child children=()
    total=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    if [[ $scope == tree ]]; then
        read -ra children <"/proc/$pid/task/$pid/children" || true
        for child in "${children[@]}"; do
            total=$((total + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
        done
    fi
    printf '%s' "$total"
}

# Prints the CPU ticks of the proxy of target $1 (none for direct).
proxy_ticks() {
    case $1 in
    s3seal) cpu_ticks "$S3SEAL_PID" ;;
    nginx) cpu_ticks "$NGINX_PID" tree ;;
    *) printf '0' ;;
    esac
}

# Records CPU seconds per GiB under $1 for $2 ticks and $3 bytes.
record_cpu() {
    record "$1" "$(awk -v t="$2" -v hz="$CLOCK_TICKS" -v b="$3" 'BEGIN { printf "%.3f", (t / hz) / (b / 1073741824) }')"
}

mib_per_s() {
    awk -v b="$1" -v us="$2" 'BEGIN { printf "%.1f", b / 1048576 / (us / 1000000) }'
}

# ---- measurements ----

# One PUT and one GET of the large file through target $1, timed with
# curl's time_total; records MiB/s and the proxy's CPU per GiB.
measure_large_single() {
    local target=$1 url out code bytes seconds ticks
    url=$(object_url "$target" large.bin)
    ticks=$(proxy_ticks "$target")
    out=$(curl_signed "$target" -T "$SHM_DIR/large.bin" -o "$WORK_DIR/put-response" \
        -w '%{http_code} %{size_upload} %{time_total}' "$url") || fail "large PUT to $url failed"
    read -r code bytes seconds <<<"$out"
    [[ $code == 200 ]] || fail "large PUT to $url returned HTTP $code: $(head -c 300 "$WORK_DIR/put-response")"
    record "$PHASE.put1.$target" "$(awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.1f", b / 1048576 / s }')"
    [[ $target == direct ]] || record_cpu "$PHASE.cpu_put.$target" "$(($(proxy_ticks "$target") - ticks))" "$bytes"

    ticks=$(proxy_ticks "$target")
    out=$(curl_signed "$target" -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$url") ||
        fail "large GET of $url failed"
    read -r code bytes seconds <<<"$out"
    [[ $code == 200 && $bytes == "$((BENCH_LARGE_MIB * 1048576))" ]] ||
        fail "large GET of $url returned HTTP $code with $bytes bytes"
    record "$PHASE.get1.$target" "$(awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.1f", b / 1048576 / s }')"
    [[ $target == direct ]] || record_cpu "$PHASE.cpu_get.$target" "$(($(proxy_ticks "$target") - ticks))" "$bytes"
}

# BENCH_STREAMS parallel PUTs (keys sink/sN, which the near-free backend
# drops) and GETs of stream.bin through target $1; records total MiB/s over
# the wall time from the first start to the last finish.
measure_large_parallel() {
    local target=$1 method i t_start pids=() failed=0
    for method in put get; do
        pids=()
        t_start=$(now_us)
        for ((i = 1; i <= BENCH_STREAMS; i++)); do
            if [[ $method == put ]]; then
                curl_signed "$target" --fail -T "$SHM_DIR/stream.bin" -o /dev/null \
                    "$(object_url "$target" "sink/s$i")" &
            else
                curl_signed "$target" --fail -o /dev/null "$(object_url "$target" stream.bin)" &
            fi
            pids+=($!)
        done
        for i in "${pids[@]}"; do
            wait "$i" || failed=1
        done
        ((failed == 0)) || fail "a parallel large ${method^^} through $target failed"
        record "$PHASE.${method}8.$target" "$(mib_per_s "$((STREAM_MIB * BENCH_STREAMS * 1048576))" "$(($(now_us) - t_start))")"
    done
}

verify_large() {
    local target=$1 digest
    digest=$(curl_signed "$target" --fail "$(object_url "$target" large.bin)" | sha256sum | cut -d' ' -f1)
    [[ $digest == "$LARGE_SHA256" ]] || fail "the large object read through $target does not match the upload"
}

# Deletes the large objects that target $1 wrote to RGW and collects the
# garbage, so that memstore holds at most one path's large objects at a time.
delete_large_objects() {
    local bucket i
    [[ $BACKEND_KIND == rgw ]] || return 0
    bucket=$(target_bucket "$1")
    curl_signed direct -X DELETE -o /dev/null "$BACKEND_ENDPOINT/$bucket/large.bin" || true
    for ((i = 1; i <= BENCH_STREAMS; i++)); do
        curl_signed direct -X DELETE -o /dev/null "$BACKEND_ENDPOINT/$bucket/sink/s$i" || true
    done
    rgw_collect_garbage
}

# Runs s3seal-bench-load for target $1, method $2, body size $3 and $4
# connections; records requests/s, p50 and p99 in µs.
measure_rate() {
    local target=$1 method=$2 size=$3 conns=$4 url out name
    url=${RATE_URLS["$target.$method.$size"]}
    name="$PHASE.$method.$size.c$conns"
    out=$("$(helper_bin s3seal-bench-load)" "$method" "$url" "$conns" "$BENCH_RATE_SECONDS" \
        "$([[ $method == PUT ]] && echo "$size" || echo 0)") ||
        fail "request-rate run $name failed: $out"
    record "$name.rate.$target" "$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")"
    record "$name.p50.$target" "$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")"
    record "$name.p99.$target" "$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")"
}

declare -A RATE_URLS

prepare_rate_objects() {
    local target size method
    for target in "${TARGETS[@]}"; do
        for size in "${SMALL_SIZES[@]}"; do
            head -c "$size" /dev/urandom >"$WORK_DIR/small-$size.bin"
            curl_signed "$target" --fail -T "$WORK_DIR/small-$size.bin" -o /dev/null \
                "$(object_url "$target" "small-$size")" || fail "PUT of small-$size through $target failed"
            for method in "${RATE_METHODS[@]}"; do
                RATE_URLS["$target.$method.$size"]=$(presigned_url "$target" "$method" "small-$size")
            done
        done
    done
}

# Runs "openssl speed" for AES-256-GCM on 64 KiB blocks, s3seal's chunk
# size, on one core; records MiB/s. $1 is "encrypt" or "decrypt".
measure_openssl() {
    local mode=$1 args=(speed -mr -seconds 1 -bytes 65536) value
    [[ $mode == decrypt ]] && args+=(-decrypt)
    value=$(openssl "${args[@]}" -evp aes-256-gcm 2>/dev/null | awk -F: '/^\+F:/ { print $NF }')
    [[ -n $value ]] || fail "openssl ${args[*]} -evp aes-256-gcm printed no result"
    record "openssl_$mode" "$(awk -v v="$value" 'BEGIN { printf "%.0f", v / 1048576 }')"
}

rss_kib() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# Holds $1 GET streams of large.bin through s3seal open at once; records
# s3seal's peak RSS in MiB.
measure_rss_streams() {
    local n=$1 url
    url=$(presigned_url s3seal GET large.bin)
    echo 5 >"/proc/$S3SEAL_PID/clear_refs"
    "$PYTHON_BIN" "$BENCH_DIR/hold_streams.py" "$url" "$n" 1 >"$WORK_DIR/hold.out" 2>&1 ||
        fail "holding $n streams through s3seal failed: $(tail -n 3 "$WORK_DIR/hold.out")"
    record "$PHASE.rss_streams_$n" "$(awk -v k="$(rss_kib "$S3SEAL_PID" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')"
}

# ---- one backend ----

run_phase() {
    local rep target method size conns n
    PHASE=$1
    if [[ $PHASE == null ]]; then null_backend_start; else rgw_backend_start; fi
    S3SEAL_START_ENV=("S3SEAL_WORKERS=$BENCH_WORKERS" "S3SEAL_LOG_LEVEL=warn")
    s3seal_start
    nginx_start
    note "[$PHASE] backend $BACKEND_ENDPOINT, nginx $NGINX_ENDPOINT, s3seal $PROXY_ENDPOINT"

    curl_signed direct --fail -X PUT -o /dev/null "$BACKEND_ENDPOINT/$DIRECT_BUCKET" ||
        fail "CreateBucket $DIRECT_BUCKET on the backend failed"
    curl_signed s3seal --fail -X PUT -o /dev/null "$PROXY_ENDPOINT/$S3SEAL_BUCKET" ||
        fail "CreateBucket $S3SEAL_BUCKET through s3seal failed"
    for target in "${TARGETS[@]}"; do
        curl_signed "$target" --fail -T "$SHM_DIR/stream.bin" -o /dev/null "$(object_url "$target" stream.bin)" ||
            fail "PUT of stream.bin through $target failed"
    done
    record "$PHASE.rss_idle" "$(awk -v k="$(rss_kib "$S3SEAL_PID" VmRSS)" 'BEGIN { printf "%.1f", k / 1024 }')"

    echo 5 >"/proc/$S3SEAL_PID/clear_refs"
    for ((rep = 1; rep <= BENCH_REPEATS; rep++)); do
        for target in "${TARGETS[@]}"; do
            note "[$PHASE] run $rep/$BENCH_REPEATS: large transfers, $target"
            measure_large_single "$target"
            measure_large_parallel "$target"
            ((rep < BENCH_REPEATS)) || verify_large "$target"
            delete_large_objects "$target"
        done
    done
    record "$PHASE.rss_large" "$(awk -v k="$(rss_kib "$S3SEAL_PID" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')"

    prepare_rate_objects
    for ((rep = 1; rep <= BENCH_REPEATS; rep++)); do
        note "[$PHASE] run $rep/$BENCH_REPEATS: request rate and latency"
        for size in "${SMALL_SIZES[@]}"; do
            for method in "${RATE_METHODS[@]}"; do
                for conns in "${RATE_CONNECTIONS[@]}"; do
                    for target in "${TARGETS[@]}"; do
                        measure_rate "$target" "$method" "$size" "$conns"
                    done
                done
            done
        done
    done

    if [[ $PHASE == null ]]; then
        curl_signed s3seal --fail -T "$SHM_DIR/large.bin" -o /dev/null "$(object_url s3seal large.bin)" ||
            fail "PUT of large.bin for the RSS runs failed"
        for n in $BENCH_RSS_STREAMS; do
            note "[$PHASE] peak RSS with $n streams"
            measure_rss_streams "$n"
        done
    fi

    nginx_stop
    s3seal_stop
    if [[ $PHASE == null ]]; then null_backend_stop; else backend_stop; fi
}

# ---- report ----

values() {
    awk -v k="$1" '$1 == k { print $2 }' "$WORK_DIR/results" | sort -g
}

median() {
    values "$1" | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints "median [min–max]" of the values under $1, or "–".
summary() {
    values "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { printf "–"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        if (NR == 1) printf "%s", m
        else printf "%s [%s–%s]", m, v[1], v[NR]
    }'
}

# Prints a table row: label, the three paths' summaries of metric prefix $2,
# a comparison text $3 and a target text $4.
row() {
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(summary "$2.direct")" "$(summary "$2.nginx")" \
        "$(summary "$2.s3seal")" "$3" "$4"
}

# Prints "0.93 (met)" or "0.71 (not met)": the ratio of the medians $1 ÷ $2
# against the lower bound $3.
ratio_at_least() {
    awk -v a="$(median "$1")" -v b="$(median "$2")" -v min="$3" 'BEGIN {
        if (a == "" || b == "" || b == 0) { printf "–"; exit }
        r = a / b
        printf "%.2f (%s)", r, (r >= min) ? "met" : "not met"
    }'
}

# Prints the ratio of the medians $1 ÷ $2.
ratio_plain() {
    awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN {
        if (a == "" || b == "" || b == 0) printf "–"; else printf "%.2f", a / b
    }'
}

print_phase() {
    local phase=$1 label size method conns size_label metric n target_text bound
    label=$([[ $phase == null ]] && echo "near-free backend" || echo "Ceph RGW")
    printf '| **%s** | | | | | |\n' "$label"
    for method in put get; do
        row "$BENCH_LARGE_MIB MiB ${method^^}, 1 stream, MiB/s" "$phase.${method}1" \
            "$(ratio_at_least "$phase.${method}1.s3seal" "$phase.${method}1.nginx" 0.9)" "s3seal ≥ 0.90 × nginx"
        row "$BENCH_LARGE_MIB MiB ${method^^}, $BENCH_STREAMS streams, MiB/s" "$phase.${method}8" \
            "$(ratio_at_least "$phase.${method}8.s3seal" "$phase.${method}8.nginx" 0.9)" "s3seal ≥ 0.90 × nginx"
    done
    for size in "${SMALL_SIZES[@]}"; do
        size_label=$((size / 1024))
        for method in "${RATE_METHODS[@]}"; do
            for conns in "${RATE_CONNECTIONS[@]}"; do
                metric="$phase.$method.$size.c$conns"
                target_text=""
                if [[ $size == 1024 && $method == GET && $conns == 16 ]]; then
                    target_text="s3seal ≥ 0.80 × nginx"
                    bound=$(ratio_at_least "$metric.rate.s3seal" "$metric.rate.nginx" 0.8)
                else
                    bound=$(ratio_plain "$metric.rate.s3seal" "$metric.rate.nginx")
                fi
                rate_row "$size_label KiB $method, $conns conn., requests/s" "$metric" rate "$bound" "$target_text"
                if [[ $size == 1024 && $method == GET ]]; then
                    rate_row "$size_label KiB $method, $conns conn., p50 µs" "$metric" p50 \
                        "$(added_latency_metric "$metric" p50)" "added ≤ 2 × nginx's"
                    rate_row "$size_label KiB $method, $conns conn., p99 µs" "$metric" p99 \
                        "$(added_latency_metric "$metric" p99)" "added ≤ 2 × nginx's"
                else
                    rate_row "$size_label KiB $method, $conns conn., p50 / p99 µs" "$metric" p50p99 "" ""
                fi
            done
        done
    done
    printf '| s3seal CPU s per GiB, 1-stream PUT (encrypt); nginx in its column | – | %s | %s | %s | ≤ 1.5 × openssl |\n' \
        "$(summary "$phase.cpu_put.nginx")" "$(summary "$phase.cpu_put.s3seal")" "$(cpu_ratio "$phase.cpu_put.s3seal" encrypt)"
    printf '| s3seal CPU s per GiB, 1-stream GET (decrypt); nginx in its column | – | %s | %s | %s | ≤ 1.5 × openssl |\n' \
        "$(summary "$phase.cpu_get.nginx")" "$(summary "$phase.cpu_get.s3seal")" "$(cpu_ratio "$phase.cpu_get.s3seal" decrypt)"
    if [[ $phase == null ]]; then
        printf '| s3seal RSS idle, MiB | – | – | %s | | |\n' "$(summary "$phase.rss_idle")"
        printf '| s3seal peak RSS over the large runs (1 stream, then %s), MiB | – | – | %s | %s | ≤ 32 MiB + 256 KiB/stream |\n' \
            "$BENCH_STREAMS" "$(summary "$phase.rss_large")" \
            "$(rss_verdict "$phase.rss_large" "$BENCH_STREAMS")"
        for n in $BENCH_RSS_STREAMS; do
            printf '| s3seal peak RSS, %s GET streams held open, MiB | – | – | %s | %s | ≤ 32 MiB + 256 KiB/stream |\n' \
                "$n" "$(summary "$phase.rss_streams_$n")" "$(rss_verdict "$phase.rss_streams_$n" "$n")"
        done
    fi
}

# Prints one request-rate row; kind is rate, p50, p99 or p50p99.
rate_row() {
    local label=$1 metric=$2 kind=$3 compare=$4 target_text=$5 target cells=()
    for target in "${TARGETS[@]}"; do
        if [[ $kind == p50p99 ]]; then
            cells+=("$(median "$metric.p50.$target") / $(median "$metric.p99.$target")")
        else
            cells+=("$(summary "$metric.$kind.$target")")
        fi
    done
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "${cells[@]}" "$compare" "$target_text"
}

added_latency_metric() {
    local metric=$1 kind=$2
    awk -v d="$(median "$metric.$kind.direct")" -v n="$(median "$metric.$kind.nginx")" \
        -v s="$(median "$metric.$kind.s3seal")" 'BEGIN {
        if (d == "" || n == "" || s == "") { printf "–"; exit }
        printf "adds %d µs, nginx %d µs", s - d, n - d
        if (n - d > 0) printf ": %.1f× (%s)", (s - d) / (n - d), ((s - d) <= 2 * (n - d)) ? "met" : "not met"
        else printf " (%s)", ((s - d) <= 0) ? "met" : "not met"
    }'
}

# s3seal's CPU per GiB ÷ openssl's, in seconds per GiB from MiB/s.
cpu_ratio() {
    awk -v c="$(median "$1")" -v mibps="$(median "openssl_$2")" 'BEGIN {
        if (c == "" || mibps == "") { printf "–"; exit }
        o = 1024 / mibps
        printf "openssl %.3f s/GiB: %.1f× (%s)", o, c / o, (c / o <= 1.5) ? "met" : "not met"
    }'
}

rss_verdict() {
    awk -v m="$(median "$1")" -v n="$2" 'BEGIN {
        if (m == "") { printf "–"; exit }
        b = 32 + n * 0.25
        printf "bound %.0f MiB (%s)", b, (m <= b) ? "met" : "not met"
    }'
}

print_report() {
    local phase
    printf '## s3seal performance, %s, %s mode\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$BENCH_MODE"
    printf 'Host: %s, %s CPUs, %s GiB RAM, kernel %s, %s. nginx %s and s3seal with %s workers each. ' \
        "$(lscpu | sed -n 's/^Model name: *//p' | head -n1)" "$(nproc)" \
        "$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
        "$(openssl version | cut -d' ' -f1-2)" "$("$NGINX_BIN" -v 2>&1 | sed 's|.*nginx/||')" "$BENCH_WORKERS"
    printf 'Median of %s runs [min–max]; request-rate runs last %s s each; load average at the end: %s.\n\n' \
        "$BENCH_REPEATS" "$BENCH_RATE_SECONDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '| measurement | direct | nginx | s3seal | s3seal vs nginx | target |\n'
    printf '|---|---:|---:|---:|---|---|\n'
    for phase in $BENCH_BACKENDS; do
        print_phase "$phase"
    done
    printf '| openssl speed -evp aes-256-gcm, 64 KiB, 1 core, encrypt / decrypt MiB/s | | | | %s / %s | |\n' \
        "$(summary openssl_encrypt)" "$(summary openssl_decrypt)"
}

main() {
    local phase rep t_start
    t_start=$(now_us)
    [[ $BENCH_LARGE_MIB =~ ^[1-9][0-9]*$ && $BENCH_STREAMS =~ ^[1-9][0-9]*$ ]] ||
        fail "BENCH_LARGE_MIB and BENCH_STREAMS must be positive integers"
    ((BENCH_LARGE_MIB % BENCH_STREAMS == 0)) || fail "BENCH_LARGE_MIB must be a multiple of BENCH_STREAMS"
    STREAM_MIB=$((BENCH_LARGE_MIB / BENCH_STREAMS))
    for phase in $BENCH_BACKENDS; do
        [[ $phase == null || $phase == rgw ]] || fail "BENCH_BACKENDS takes null and rgw, got $phase"
    done

    testlib_init perf
    s3seal_check_bin
    [[ -x $(helper_bin s3seal-bench-backend) && -x $(helper_bin s3seal-bench-load) ]] ||
        fail "$(helper_bin s3seal-bench-load) or s3seal-bench-backend not found; build the whole project"
    SHM_DIR=$(mktemp -d "$([[ -d /dev/shm ]] && echo /dev/shm || echo "$WORK_DIR")/s3seal-perf.XXXXXX")

    for ((rep = 1; rep <= BENCH_REPEATS; rep++)); do
        measure_openssl encrypt
        measure_openssl decrypt
    done
    note "writing $BENCH_LARGE_MIB MiB of random data"
    head -c "$((BENCH_LARGE_MIB * 1048576))" /dev/urandom >"$SHM_DIR/large.bin"
    head -c "$((STREAM_MIB * 1048576))" "$SHM_DIR/large.bin" >"$SHM_DIR/stream.bin"
    LARGE_SHA256=$(sha256sum <"$SHM_DIR/large.bin" | cut -d' ' -f1)

    for phase in $BENCH_BACKENDS; do
        run_phase "$phase"
    done
    print_report | tee "$BENCH_OUT"
    note "done in $(elapsed_s "$t_start") s; table written to $BENCH_OUT"
}

main "$@"
