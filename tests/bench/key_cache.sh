#!/usr/bin/env bash
# Measures the data key cache under a repeated-GET load: writes
# KEYCACHE_OBJECTS small objects through s3seal, restarts s3seal so its
# cache starts empty, then reads every object KEYCACHE_READS times with
# KEYCACHE_CONCURRENCY parallel GETs (curl --aws-sigv4). Prints the cache
# hits, misses and hit rate that s3seal logs when it stops, the KMS calls
# that reached the provider, and the GET rate with the cache on and off.
#
# Settings (environment variables):
#   KEYCACHE_OBJECTS      objects written and read (200)
#   KEYCACHE_READS        reads of each object (10)
#   KEYCACHE_CONCURRENCY  parallel GETs (8)
#   S3SEAL_BIN and the backend settings of tests/integration/lib.sh
#
# Not run by CI. The numbers are for reading, not for pass/fail checks.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

OBJECTS=${KEYCACHE_OBJECTS:-200}
READS=${KEYCACHE_READS:-10}
CONCURRENCY=${KEYCACHE_CONCURRENCY:-8}
BUCKET=""

testlib_install_traps

# Reads every object READS times; prints the seconds it took.
read_all() {
    local list=$WORK_DIR/urls.txt start end
    : >"$list"
    for ((r = 0; r < READS; r++)); do
        for ((i = 0; i < OBJECTS; i++)); do
            printf 'url = "%s/%s/obj-%d"\noutput = "/dev/null"\n' "$PROXY_ENDPOINT" "$BUCKET" "$i" >>"$list"
        done
    done
    start=$EPOCHREALTIME
    curl -sS --fail --parallel --parallel-max "$CONCURRENCY" --aws-sigv4 "aws:amz:$REGION:s3" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        --user "$CLIENT_ACCESS_KEY:$CLIENT_SECRET_KEY" -K "$list"
    end=$EPOCHREALTIME
    printf '%s' "$(echo "$end - $start" | bc)"
}

# Prints "hits misses" from the cache line s3seal logged when it stopped.
cache_counts() {
    sed -n 's/.*data key cache hits=\([0-9]*\) misses=\([0-9]*\).*/\1 \2/p' "$S3SEAL_LOG" | tail -n 1
}

main() {
    local seconds_on seconds_off hits misses file=$WORK_DIR/obj.bin
    testlib_init key_cache
    s3seal_check_bin
    backend_start
    s3seal_start
    BUCKET=$(unique_bucket_name s3seal-keycache)
    create_bucket aws_proxy "$BUCKET" >/dev/null
    head -c 16384 /dev/urandom >"$file"
    for ((i = 0; i < OBJECTS; i++)); do
        curl -sS --fail --aws-sigv4 "aws:amz:$REGION:s3" --user "$CLIENT_ACCESS_KEY:$CLIENT_SECRET_KEY" \
            -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
            -T "$file" "$PROXY_ENDPOINT/$BUCKET/obj-$i" >/dev/null
    done
    s3seal_stop

    s3seal_start
    seconds_on=$(read_all)
    s3seal_stop
    read -r hits misses < <(cache_counts)

    S3SEAL_START_ENV=("S3SEAL_KEY_CACHE_SIZE=0")
    s3seal_start
    seconds_off=$(read_all)
    s3seal_stop

    printf '\n| measurement | value |\n|---|---|\n'
    printf '| objects x reads | %d x %d, %d parallel GETs |\n' "$OBJECTS" "$READS" "$CONCURRENCY"
    printf '| cache hits | %s |\n| cache misses (KMS unwraps) | %s |\n' "$hits" "$misses"
    printf '| hit rate | %s %% |\n' "$(echo "scale=1; 100 * $hits / ($hits + $misses)" | bc)"
    printf '| GET rate, cache on | %s req/s |\n' "$(echo "scale=0; $OBJECTS * $READS / $seconds_on" | bc)"
    printf '| GET rate, cache off | %s req/s |\n' "$(echo "scale=0; $OBJECTS * $READS / $seconds_off" | bc)"
}

main "$@"
