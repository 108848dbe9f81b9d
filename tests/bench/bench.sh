#!/usr/bin/env bash
# Compares three paths to the same S3 backend in one run on one machine:
# direct, through a pass-through nginx reverse proxy, and through s3seal.
# For each path it measures
#   - one large object (1 GiB by default): PUT and GET throughput in MiB/s,
#     each a single request made by curl --aws-sigv4;
#   - many small objects (500 x 16 KiB by default): PUT and GET requests per
#     second with curl's parallel mode at concurrency 8.
# For s3seal it also reports the CPU time per GiB (utime + stime from
# /proc/PID/stat) and the peak RSS (VmHWM). It also runs "openssl speed -evp aes-256-gcm" as the
# ceiling for the crypto alone. Every measurement runs BENCH_REPEATS times,
# interleaved across the three paths, and the tables show the median with
# the minimum and maximum. The output is Markdown.
#
# Settings (environment variables):
#   BENCH_SIZE_MIB     large object size in MiB (1024)
#   BENCH_SMALL_COUNT  number of small objects (500)
#   BENCH_SMALL_KIB    small object size in KiB (16)
#   BENCH_CONCURRENCY  parallel requests for small objects (8)
#   BENCH_REPEATS      runs of each measurement (3)
#   BENCH_NGINX_PORT   nginx listen port (a free port)
#   BENCH_WORKERS      nginx worker processes and s3seal worker threads (nproc)
#   S3SEAL_BIN         s3seal binary (build/s3seal, relative to the repository
#                      root); build it with -DCMAKE_BUILD_TYPE=Release
#   S3SEAL_TEST_PORT   s3seal listen port (a free port)
#   RGW_DIR, RGW_PORT, MON_PORT, OSD_PORT_MIN, OSD_PORT_MAX, OBJECTSTORE,
#   RGW_STORE_BYTES    passed to tests/backend/start-rgw.sh (RGW_DIR defaults
#                      to a folder in the work folder)
#   S3SEAL_TEST_ENDPOINT, S3SEAL_TEST_ACCESS_KEY, S3SEAL_TEST_SECRET_KEY,
#   S3SEAL_TEST_REGION use this backend instead of starting Ceph RGW
#
# Needs curl 7.75 or newer (--aws-sigv4), nginx (Debian package nginx-light),
# openssl, and what tests/integration/lib.sh needs (aws-cli creates the
# buckets). With the default memstore backend the OSD keeps objects in RAM;
# the script deletes the large objects and runs RGW's garbage collection
# after each round, so 4 GiB of memstore is enough for the default sizes.
# The large file and one download need twice BENCH_SIZE_MIB in TMPDIR.
# Not run by CI. The numbers are for reading, not for pass/fail checks.
set -euo pipefail

# lib.sh resets RGW_DIR, so keep the caller's value.
BENCH_RGW_DIR=${RGW_DIR:-}

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

BENCH_DIR=$TESTLIB_DIR/../bench
BENCH_SIZE_MIB=${BENCH_SIZE_MIB:-1024}
BENCH_SMALL_COUNT=${BENCH_SMALL_COUNT:-500}
BENCH_SMALL_KIB=${BENCH_SMALL_KIB:-16}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-8}
BENCH_REPEATS=${BENCH_REPEATS:-3}
BENCH_WORKERS=${BENCH_WORKERS:-$(nproc)}
CURL_BIN=/usr/bin/curl
NGINX_BIN=/usr/sbin/nginx
CLOCK_TICKS=$(getconf CLK_TCK)
TARGETS=(direct nginx s3seal)

NGINX_PID=""
NGINX_ENDPOINT=""

on_exit() {
    local rc=$?
    set +e
    testlib_restore_output
    nginx_stop
    if ((rc != 0)); then
        print_s3seal_log
        print_backend_log
        [[ -n $WORK_DIR && -f $WORK_DIR/nginx-error.log ]] && tail -n 40 "$WORK_DIR/nginx-error.log" >&2
    fi
    testlib_cleanup
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_positive_integer() {
    local name=$1 value=$2
    [[ $value =~ ^[1-9][0-9]*$ ]] || fail "$name must be a positive integer, got '$value'"
}

# Starts Ceph RGW in BENCH_RGW_DIR (or the work folder), or takes the backend
# from S3SEAL_TEST_ENDPOINT through lib.sh.
bench_backend_start() {
    local env_file
    if [[ -n ${S3SEAL_TEST_ENDPOINT:-} || -z $BENCH_RGW_DIR ]]; then
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
    [[ -n $BACKEND_ENDPOINT && -n $BACKEND_ACCESS_KEY && -n $BACKEND_SECRET_KEY && -n $REGION ]] ||
        fail "start-rgw.sh wrote an incomplete env file: $env_file"
    note "backend: Ceph RGW at $BACKEND_ENDPOINT"
}

# Removes deleted objects from an RGW that this script started. RGW keeps the
# data of deleted and overwritten objects for 2 hours by default, and with
# memstore that data stays in the OSD's RAM.
rgw_collect_garbage() {
    [[ $BACKEND_KIND == rgw && $RGW_STARTED == 1 ]] || return 0
    radosgw-admin -c "$RGW_DIR/ceph.conf" gc process --include-all >>"$WORK_DIR/rgw-gc.log" 2>&1 ||
        note "radosgw-admin gc process failed; see $WORK_DIR/rgw-gc.log"
}

# Writes the nginx configuration from nginx.conf.in and starts nginx in the
# foreground of a background job, then waits for its port.
nginx_start() {
    local port backend_hostport deadline
    [[ -x $NGINX_BIN ]] || fail "$NGINX_BIN not found; install the Debian package nginx-light"
    port=${BENCH_NGINX_PORT:-$(free_port)}
    backend_hostport=${BACKEND_ENDPOINT#http://}
    backend_hostport=${backend_hostport%%/*}
    [[ $BACKEND_ENDPOINT == http://* ]] || fail "the nginx path needs an http:// backend, got $BACKEND_ENDPOINT"

    mkdir -p "$WORK_DIR/nginx-tmp"
    sed -e "s|@WORK_DIR@|$WORK_DIR|g" -e "s|@PORT@|$port|g" \
        -e "s|@BACKEND_HOSTPORT@|$backend_hostport|g" -e "s|@WORKERS@|$BENCH_WORKERS|g" \
        "$BENCH_DIR/nginx.conf.in" >"$WORK_DIR/nginx.conf"
    "$NGINX_BIN" -t -q -c "$WORK_DIR/nginx.conf" -p "$WORK_DIR" >"$WORK_DIR/nginx-test.log" 2>&1 || {
        cat "$WORK_DIR/nginx-test.log" >&2
        fail "nginx rejected $WORK_DIR/nginx.conf; its output is above"
    }
    "$NGINX_BIN" -c "$WORK_DIR/nginx.conf" -p "$WORK_DIR" >>"$WORK_DIR/nginx-error.log" 2>&1 &
    NGINX_PID=$!

    deadline=$(($(now_us) + 10 * 1000000))
    until (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited before listening on 127.0.0.1:$port; see $WORK_DIR/nginx-error.log"
        (($(now_us) < deadline)) || fail "nginx did not accept connections on 127.0.0.1:$port within 10 s"
        sleep 0.05
    done
    NGINX_ENDPOINT=http://127.0.0.1:$port
    note "nginx (PID $NGINX_PID) listening on $NGINX_ENDPOINT, proxying to $backend_hostport"
}

# Stops the nginx master this script started; it stops its workers itself.
nginx_stop() {
    [[ -n $NGINX_PID ]] || return 0
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}

# Prints "endpoint access-key secret-key" for target $1.
target_credentials() {
    case $1 in
    direct) printf '%s %s %s' "$BACKEND_ENDPOINT" "$BACKEND_ACCESS_KEY" "$BACKEND_SECRET_KEY" ;;
    nginx) printf '%s %s %s' "$NGINX_ENDPOINT" "$BACKEND_ACCESS_KEY" "$BACKEND_SECRET_KEY" ;;
    s3seal) printf '%s %s %s' "$PROXY_ENDPOINT" "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY" ;;
    esac
}

# Runs curl against target $1 with SigV4 signing and the remaining arguments.
# The payload is UNSIGNED-PAYLOAD so that curl does not hash the body. curl
# sends "Expect: 100-continue" with every PUT, as the AWS SDKs do. It cannot
# be turned off here because curl 7.88 then signs an empty Expect header.
curl_signed() {
    local target=$1 endpoint access_key secret_key
    shift
    read -r endpoint access_key secret_key <<<"$(target_credentials "$target")"
    "$CURL_BIN" --silent --show-error --no-progress-meter --aws-sigv4 "aws:amz:$REGION:s3" --user "$access_key:$secret_key" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# Prints the URL of object $2 in the bench bucket of target $1.
object_url() {
    local endpoint
    read -r endpoint _ _ <<<"$(target_credentials "$1")"
    printf '%s/%s/%s' "$endpoint" "$(target_bucket "$1")" "$2"
}

target_bucket() {
    if [[ $1 == s3seal ]]; then printf '%s' "$S3SEAL_BUCKET"; else printf '%s' "$DIRECT_BUCKET"; fi
}

# Prints the CPU time of process $1 (and of its child processes when $2 is
# "tree") in clock ticks: utime + stime from /proc/PID/stat.
cpu_ticks() {
    local pid=$1 scope=${2:-self} total=0 child children=()
    total=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    if [[ $scope == tree ]]; then
        read -ra children <"/proc/$pid/task/$pid/children" || true
        for child in "${children[@]}"; do
            total=$((total + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
        done
    fi
    printf '%s' "$total"
}

# Appends "name value" to the results file.
record() {
    printf '%s %s\n' "$1" "$2" >>"$WORK_DIR/results"
}

# Puts and gets the large file once through target $1 and records MiB/s,
# plus CPU seconds per GiB for s3seal and nginx.
measure_large() {
    local target=$1 url out code bytes seconds cpu_before cpu_pid="" scope=self
    url=$(object_url "$target" large.bin)
    case $target in
    s3seal) cpu_pid=$S3SEAL_PID ;;
    nginx) cpu_pid=$NGINX_PID scope=tree ;;
    esac

    [[ -z $cpu_pid ]] || cpu_before=$(cpu_ticks "$cpu_pid" "$scope")
    out=$(curl_signed "$target" -T "$WORK_DIR/large.bin" -o "$WORK_DIR/put-response" \
        -w '%{http_code} %{size_upload} %{time_total}' "$url") || fail "large PUT to $url failed"
    read -r code bytes seconds <<<"$out"
    [[ $code == 200 ]] || fail "large PUT to $url returned HTTP $code: $(head -c 500 "$WORK_DIR/put-response")"
    record "large_put_$target" "$(awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.1f", b / 1048576 / s }')"
    [[ -z $cpu_pid ]] || record "large_put_cpu_$target" "$(cpu_per_gib "$cpu_pid" "$scope" "$cpu_before" "$bytes")"

    [[ -z $cpu_pid ]] || cpu_before=$(cpu_ticks "$cpu_pid" "$scope")
    out=$(curl_signed "$target" -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$url") ||
        fail "large GET of $url failed"
    read -r code bytes seconds <<<"$out"
    [[ $code == 200 ]] || fail "large GET of $url returned HTTP $code"
    ((bytes == BENCH_SIZE_MIB * 1048576)) || fail "large GET of $url returned $bytes bytes, expected $((BENCH_SIZE_MIB * 1048576))"
    record "large_get_$target" "$(awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.1f", b / 1048576 / s }')"
    [[ -z $cpu_pid ]] || record "large_get_cpu_$target" "$(cpu_per_gib "$cpu_pid" "$scope" "$cpu_before" "$bytes")"
    return 0
}

# Prints CPU seconds per GiB of process $1 since $3 ticks for $4 bytes.
cpu_per_gib() {
    local pid=$1 scope=$2 before=$3 bytes=$4 after
    after=$(cpu_ticks "$pid" "$scope")
    awk -v t="$((after - before))" -v hz="$CLOCK_TICKS" -v b="$bytes" \
        'BEGIN { printf "%.2f", (t / hz) / (b / 1073741824) }'
}

# Downloads the large object through target $1 once more, outside the timed
# runs, and checks its SHA-256 against the uploaded file.
verify_large() {
    local target=$1 url digest
    url=$(object_url "$target" large.bin)
    digest=$(curl_signed "$target" --fail "$url" | sha256sum | cut -d' ' -f1)
    [[ $digest == "$LARGE_SHA256" ]] || fail "the large object read through $target does not match the uploaded file"
}

# Runs BENCH_SMALL_COUNT requests against target $1 with curl's parallel mode:
# PUTs of the small file when $2 is "put", GETs when it is "get". Records
# requests per second over the wall time of the curl process.
measure_small() {
    local target=$1 method=$2 url out_dir t_start elapsed_us ok cpu_before="" args=()
    url=$(object_url "$target" "small/obj-[1-$BENCH_SMALL_COUNT]")
    out_dir=$WORK_DIR/small-$method
    rm -rf "$out_dir"
    mkdir -p "$out_dir"
    [[ $method == put ]] && args+=(-T "$WORK_DIR/small.bin")
    [[ $target == s3seal ]] && cpu_before=$(cpu_ticks "$S3SEAL_PID")

    t_start=$(now_us)
    curl_signed "$target" --parallel --parallel-immediate --parallel-max "$BENCH_CONCURRENCY" \
        "${args[@]}" -o "$out_dir/#1" -w '%{http_code}\n' "$url" >"$WORK_DIR/small-codes" ||
        fail "small-object ${method^^}s through $target failed"
    elapsed_us=$(($(now_us) - t_start))

    ok=$(grep -c '^200$' "$WORK_DIR/small-codes" || true)
    ((ok == BENCH_SMALL_COUNT)) ||
        fail "only $ok of $BENCH_SMALL_COUNT small-object ${method^^}s through $target returned HTTP 200"
    if [[ $method == get ]]; then
        for file in "$out_dir"/*; do
            cmp -s "$file" "$WORK_DIR/small.bin" || fail "small object $file read through $target does not match the uploaded file"
        done
    fi
    record "small_${method}_$target" "$(awk -v n="$BENCH_SMALL_COUNT" -v us="$elapsed_us" 'BEGIN { printf "%.0f", n / (us / 1000000) }')"
    if [[ -n $cpu_before ]]; then
        record "small_${method}_cpu_$target" "$(awk -v t="$(($(cpu_ticks "$S3SEAL_PID") - cpu_before))" -v hz="$CLOCK_TICKS" \
            -v n="$BENCH_SMALL_COUNT" 'BEGIN { printf "%.0f", t / hz * 1000000 / n }')"
    fi
    return 0
}

# Deletes the large objects through the backend and collects RGW's garbage.
delete_large_objects() {
    local target
    for target in direct s3seal; do
        curl_signed direct -X DELETE -o /dev/null "$BACKEND_ENDPOINT/$(target_bucket "$target")/large.bin" ||
            note "could not delete large.bin in bucket $(target_bucket "$target")"
    done
    rgw_collect_garbage
}

# Resets the peak RSS of s3seal (VmHWM) to its current RSS.
reset_peak_rss() {
    echo 5 >"/proc/$S3SEAL_PID/clear_refs"
}

peak_rss_mib() {
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$S3SEAL_PID/status"
}

# Runs "openssl speed" for AES-256-GCM on 64 KiB blocks (the size of
# s3seal's chunks) on one core and records MiB/s. $1 is "encrypt" or "decrypt".
measure_openssl() {
    local mode=$1 args=(speed -mr -seconds 3 -bytes 65536) value
    [[ $mode == decrypt ]] && args+=(-decrypt)
    value=$(openssl "${args[@]}" -evp aes-256-gcm 2>/dev/null | awk -F: '/^\+F:/ { print $NF }')
    [[ -n $value ]] || fail "openssl ${args[*]} -evp aes-256-gcm printed no result"
    record "openssl_$mode" "$(awk -v v="$value" 'BEGIN { printf "%.0f", v / 1048576 }')"
}

# Prints "median [min–max]" of the values recorded under $1, or "–".
summary() {
    local values
    values=$(awk -v k="$1" '$1 == k { print $2 }' "$WORK_DIR/results" | sort -g)
    [[ -n $values ]] || { printf '–'; return 0; }
    awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        if (NR == 1) printf "%s", m
        else printf "%s [%s–%s]", m, v[1], v[NR]
    }' <<<"$values"
}

median() {
    awk -v k="$1" '$1 == k { print $2 }' "$WORK_DIR/results" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints the ratio of the medians of $1 and $2 with two decimals.
ratio() {
    local a b
    a=$(median "$1")
    b=$(median "$2")
    awk -v a="$a" -v b="$b" 'BEGIN { if (a == "" || b == "" || b == 0) printf "–"; else printf "%.2f", a / b }'
}

print_report() {
    local small_label="$BENCH_SMALL_COUNT × $BENCH_SMALL_KIB KiB"
    local row metric label
    printf '\n## s3seal benchmark, %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'Host: %s, %s CPUs, %s GiB RAM. Backend: %s at %s. curl %s, nginx %s (%s workers), s3seal workers %s.\n' \
        "$(lscpu | sed -n 's/^Model name: *//p' | head -n1)" "$(nproc)" \
        "$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)" \
        "$BACKEND_KIND" "$BACKEND_ENDPOINT" "$("$CURL_BIN" --version | awk 'NR == 1 { print $2 }')" \
        "$("$NGINX_BIN" -v 2>&1 | sed 's|.*nginx/||')" "$BENCH_WORKERS" "$BENCH_WORKERS"
    printf 'Median of %s runs [min–max]. Small objects: concurrency %s, one curl process.\n\n' \
        "$BENCH_REPEATS" "$BENCH_CONCURRENCY"

    printf '| measurement | direct to backend | nginx → backend | s3seal → backend | s3seal ÷ direct | s3seal ÷ nginx |\n'
    printf '|---|---:|---:|---:|---:|---:|\n'
    for row in "large_put|$BENCH_SIZE_MIB MiB PUT, MiB/s" "large_get|$BENCH_SIZE_MIB MiB GET, MiB/s" \
        "small_put|$small_label PUT, requests/s" "small_get|$small_label GET, requests/s"; do
        metric=${row%%|*}
        label=${row#*|}
        printf '| %s | %s | %s | %s | %s | %s |\n' "$label" \
            "$(summary "${metric}_direct")" "$(summary "${metric}_nginx")" "$(summary "${metric}_s3seal")" \
            "$(ratio "${metric}_s3seal" "${metric}_direct")" "$(ratio "${metric}_s3seal" "${metric}_nginx")"
    done

    printf '\n| resource use | value |\n|---|---:|\n'
    printf '| s3seal CPU s per GiB, PUT (encrypt) | %s |\n' "$(summary large_put_cpu_s3seal)"
    printf '| s3seal CPU s per GiB, GET (decrypt) | %s |\n' "$(summary large_get_cpu_s3seal)"
    printf '| nginx CPU s per GiB, PUT (master and workers) | %s |\n' "$(summary large_put_cpu_nginx)"
    printf '| nginx CPU s per GiB, GET (master and workers) | %s |\n' "$(summary large_get_cpu_nginx)"
    printf '| s3seal CPU µs per small PUT | %s |\n' "$(summary small_put_cpu_s3seal)"
    printf '| s3seal CPU µs per small GET | %s |\n' "$(summary small_get_cpu_s3seal)"
    printf '| s3seal peak RSS (VmHWM) during the large runs, MiB | %s |\n' "$(summary peak_rss_large)"
    printf '| s3seal peak RSS (VmHWM) during the small runs, MiB | %s |\n' "$(summary peak_rss_small)"
    printf '| openssl speed -evp aes-256-gcm, 64 KiB blocks, encrypt, 1 core, MiB/s | %s |\n' "$(summary openssl_encrypt)"
    printf '| openssl speed -evp aes-256-gcm, 64 KiB blocks, decrypt, 1 core, MiB/s | %s |\n' "$(summary openssl_decrypt)"
}

main() {
    local rep target method
    require_positive_integer BENCH_SIZE_MIB "$BENCH_SIZE_MIB"
    require_positive_integer BENCH_SMALL_COUNT "$BENCH_SMALL_COUNT"
    require_positive_integer BENCH_SMALL_KIB "$BENCH_SMALL_KIB"
    require_positive_integer BENCH_CONCURRENCY "$BENCH_CONCURRENCY"
    require_positive_integer BENCH_REPEATS "$BENCH_REPEATS"
    require_positive_integer BENCH_WORKERS "$BENCH_WORKERS"
    ((BENCH_SIZE_MIB <= 5120)) || fail "BENCH_SIZE_MIB must be at most 5120: S3 takes at most 5 GiB in one PutObject"

    testlib_init bench
    s3seal_check_bin
    note "openssl speed, AES-256-GCM, $BENCH_REPEATS runs"
    for ((rep = 1; rep <= BENCH_REPEATS; rep++)); do
        measure_openssl encrypt
        measure_openssl decrypt
    done

    bench_backend_start
    S3SEAL_START_ENV=("S3SEAL_WORKERS=$BENCH_WORKERS" "S3SEAL_LOG_LEVEL=warn")
    s3seal_start
    nginx_start

    note "writing $BENCH_SIZE_MIB MiB and $BENCH_SMALL_KIB KiB of random data"
    head -c "$((BENCH_SIZE_MIB * 1048576))" /dev/urandom >"$WORK_DIR/large.bin"
    head -c "$((BENCH_SMALL_KIB * 1024))" /dev/urandom >"$WORK_DIR/small.bin"
    LARGE_SHA256=$(sha256sum <"$WORK_DIR/large.bin" | cut -d' ' -f1)

    DIRECT_BUCKET=$(unique_bucket_name s3seal-bench-direct)
    S3SEAL_BUCKET=$(unique_bucket_name s3seal-bench-s3seal)
    create_bucket aws_backend "$DIRECT_BUCKET" >/dev/null || fail "create-bucket $DIRECT_BUCKET on the backend failed"
    create_bucket aws_proxy "$S3SEAL_BUCKET" >/dev/null || fail "create-bucket $S3SEAL_BUCKET through s3seal failed"

    # One untimed PUT per path opens the keep-alive connections to the
    # backend and shows a signing error before any timed run.
    for target in "${TARGETS[@]}"; do
        curl_signed "$target" --fail -T "$WORK_DIR/small.bin" -o /dev/null "$(object_url "$target" warmup)" ||
            fail "warm-up PUT through $target failed"
    done

    reset_peak_rss
    for ((rep = 1; rep <= BENCH_REPEATS; rep++)); do
        for target in "${TARGETS[@]}"; do
            note "run $rep/$BENCH_REPEATS: $BENCH_SIZE_MIB MiB PUT and GET, $target"
            measure_large "$target"
        done
        if ((rep == BENCH_REPEATS)); then
            for target in "${TARGETS[@]}"; do
                verify_large "$target"
            done
            record peak_rss_large "$(peak_rss_mib)"
        fi
        delete_large_objects
    done

    # Checks that s3seal encrypted: the backend's copy must be larger than the
    # plaintext (header and GCM tags) and differ from it.
    curl_signed direct --fail -o "$WORK_DIR/stored-small" "$BACKEND_ENDPOINT/$S3SEAL_BUCKET/warmup" ||
        fail "reading the stored copy of warmup from the backend failed"
    (($(stat -c %s "$WORK_DIR/stored-small") > BENCH_SMALL_KIB * 1024)) ||
        fail "the backend copy of an object written through s3seal is not larger than the plaintext"
    ! cmp -s "$WORK_DIR/stored-small" "$WORK_DIR/small.bin" ||
        fail "the backend holds the plaintext of an object written through s3seal"

    reset_peak_rss
    for ((rep = 1; rep <= BENCH_REPEATS; rep++)); do
        for target in "${TARGETS[@]}"; do
            for method in put get; do
                note "run $rep/$BENCH_REPEATS: $BENCH_SMALL_COUNT × $BENCH_SMALL_KIB KiB ${method^^}, $target"
                measure_small "$target" "$method"
            done
        done
    done
    record peak_rss_small "$(peak_rss_mib)"

    print_report
}

main "$@"
