#!/usr/bin/env bash
# s3cmd through s3seal over HTTP with its default settings: put and get of a
# 70 KiB file (single PUT) and of a 40 MiB file (multipart in s3cmd's
# default 15 MiB parts, with s3cmd's own check of each part's MD5 against
# the ETag returned), info, sync of a folder tree up twice (the second run
# uploads nothing) and down, ls and del. The backend must hold only
# ciphertext.
#
# Usage: bash tests/compat/s3cmd.sh (run.sh runs it with the others).
# Exit status: 0 passed, 1 a check failed.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

compat_install_traps

PREFIX=s3cmd
S3CMD=()

write_s3cmd_config() {
    local cfg=$WORK_DIR/s3cfg port=${PROXY_HTTP_ENDPOINT##*:}
    cat >"$cfg" <<CFG
[default]
access_key = $CLIENT_ACCESS_KEY
secret_key = $CLIENT_SECRET_KEY
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
bucket_location = $REGION
use_https = False
signature_v2 = False
proxy_host =
CFG
    S3CMD=(s3cmd -c "$cfg" --no-progress)
}

# s3cmd prints "WARNING: MD5 signatures do not match" (or similar) when the
# MD5 it computed differs from what S3 returned, and goes on.
check_no_warning() {
    local name=$1 log=$2
    if grep -q -i 'WARNING' "$log"; then
        flunk "$name prints no warning" "$(grep -i -m 3 WARNING "$log" | tr '\n' ' ' | cut -c1-600)"
    else
        pass "$name prints no warning"
    fi
}

# Puts file $1 (a name under data/) and gets it back.
check_put_get() {
    local name=$1 label=$2 src=$WORK_DIR/data/$1 out=$WORK_DIR/s3cmd.out log=$WORK_DIR/s3cmd.log
    if "${S3CMD[@]}" put "$src" "s3://$BUCKET/$PREFIX/$name" >"$log" 2>&1; then
        pass "s3cmd: put $name ($label)"
        check_no_warning "s3cmd: put $name" "$log"
    else
        flunk "s3cmd: put $name ($label)" "$(one_line "$log")"
        return 0
    fi
    rm -f "$out"
    if "${S3CMD[@]}" get --force "s3://$BUCKET/$PREFIX/$name" "$out" >"$log" 2>&1; then
        check_same_file "s3cmd: get $name matches SHA-256" "$src" "$out"
        check_no_warning "s3cmd: get $name" "$log"
    else
        flunk "s3cmd: get $name" "$(one_line "$log")"
    fi
    rm -f "$out"
}

check_info() {
    local log=$WORK_DIR/s3cmd.log size
    size=$(stat -c %s "$WORK_DIR/data/big.bin")
    if "${S3CMD[@]}" info "s3://$BUCKET/$PREFIX/big.bin" >"$log" 2>&1; then
        check_equal "s3cmd: info shows the plaintext size" "$size" \
            "$(sed -n 's/^ *File size: *//p' "$log")"
    else
        flunk "s3cmd: info" "$(one_line "$log")"
    fi
}

check_sync() {
    local tree=$WORK_DIR/data/tree down=$WORK_DIR/sync-down log=$WORK_DIR/s3cmd.log n_files
    n_files=$(find "$tree" -type f | wc -l)
    if "${S3CMD[@]}" sync "$tree/" "s3://$BUCKET/$PREFIX/tree/" >"$log" 2>&1; then
        check_equal "s3cmd: first sync up uploads every file" "$n_files" "$(grep -c '^upload: ' "$log" || true)"
    else
        flunk "s3cmd: first sync up" "$(one_line "$log")"
        return 0
    fi
    if "${S3CMD[@]}" sync "$tree/" "s3://$BUCKET/$PREFIX/tree/" >"$log" 2>&1; then
        check_equal "s3cmd: second sync up uploads nothing" 0 "$(grep -c '^upload: ' "$log" || true)"
    else
        flunk "s3cmd: second sync up" "$(one_line "$log")"
    fi
    mkdir -p "$down"
    if "${S3CMD[@]}" sync "s3://$BUCKET/$PREFIX/tree/" "$down/" >"$log" 2>&1; then
        check_equal "s3cmd: sync down downloads every file" "$n_files" "$(grep -c '^download: ' "$log" || true)"
        check_no_warning "s3cmd: sync down" "$log"
    else
        flunk "s3cmd: sync down" "$(one_line "$log")"
        return 0
    fi
    if diff -r "$tree" "$down" >"$WORK_DIR/sync.diff" 2>&1; then
        pass "s3cmd: synced-down tree equals the original"
    else
        flunk "s3cmd: synced-down tree equals the original" "$(one_line "$WORK_DIR/sync.diff")"
    fi
}

check_ls_del() {
    local out=$WORK_DIR/s3cmd.out log=$WORK_DIR/s3cmd.log expected listed
    expected=$(cd "$WORK_DIR/data" && find . -type f -printf "s3://$BUCKET/$PREFIX/%P=%s\n" | sort | tr '\n' ' ')
    if "${S3CMD[@]}" ls --recursive "s3://$BUCKET/$PREFIX/" >"$out" 2>"$log"; then
        listed=$(awk '{print $4 "=" $3}' "$out" | sort | tr '\n' ' ')
        check_equal "s3cmd: ls --recursive shows every key with its plaintext size" "$expected" "$listed"
    else
        flunk "s3cmd: ls --recursive" "$(one_line "$log")"
    fi
    check_sealed "s3cmd" "$BUCKET" "$PREFIX/" "$(find "$WORK_DIR/data" -type f | wc -l)"
    if "${S3CMD[@]}" del --recursive "s3://$BUCKET/$PREFIX/" >"$log" 2>&1; then
        pass "s3cmd: del --recursive"
    else
        flunk "s3cmd: del --recursive" "$(one_line "$log")"
    fi
    check_backend_empty "s3cmd" "$BUCKET" "$PREFIX/"
}

main() {
    local t_start
    t_start=$(now_us)
    command -v s3cmd >/dev/null || fail "s3cmd not found; install the Debian package s3cmd"
    compat_describe "s3cmd" "$(s3cmd --version 2>&1)" \
        "HTTP: put and get (single PUT and multipart in 15 MiB parts with s3cmd's part MD5 checks), info, sync up twice and down, ls, del"
    compat_setup s3cmd
    write_s3cmd_config

    make_canary_file "$WORK_DIR/data/small.bin" 71680
    make_canary_file "$WORK_DIR/data/big.bin" $((40 * MIB))
    make_canary_file "$WORK_DIR/data/tree/empty.bin" 0
    make_canary_file "$WORK_DIR/data/tree/one.bin" 1
    make_canary_file "$WORK_DIR/data/tree/docs/medium.bin" 200000
    make_canary_file "$WORK_DIR/data/tree/docs/deep/large.bin" $((3 * MIB + 7))

    timed check_put_get small.bin "single PUT"
    timed check_put_get big.bin "multipart, 15 MiB parts"
    check_stored_layout "s3cmd: big.bin" "$BUCKET" "$PREFIX/big.bin" "$WORK_DIR/data/big.bin" \
        $((15 * MIB)) $((15 * MIB)) $((10 * MIB))
    check_info
    timed check_sync
    check_ls_del

    compat_finish "$t_start"
}

main "$@"
