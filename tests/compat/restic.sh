#!/usr/bin/env bash
# restic through s3seal over HTTP: init, backup of a folder tree, check
# --read-data (reads every pack back), restore and comparison with the
# original tree. Every object restic wrote must be sealed on the backend with
# a plaintext size that s3seal lists. restic encrypts its own packs, so the
# canary check shows only that nothing reached the backend unsealed.
#
# Usage: bash tests/compat/restic.sh (run.sh runs it with the others).
# Exit status: 0 passed, 1 a check failed.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

compat_install_traps

# Runs restic on the repository under prefix "restic" of BUCKET. restic 0.14
# talks to S3 with minio-go, which reads the keys from these variables. The
# cache lives in the work folder.
restic_seal() {
    env AWS_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY" \
        RESTIC_PASSWORD=s3seal-test-password RESTIC_CACHE_DIR="$WORK_DIR/restic-cache" \
        restic -r "s3:$PROXY_HTTP_ENDPOINT/$BUCKET/restic" -o s3.region="$REGION" "$@"
}

# Runs restic step $1 with the arguments after it; a failed step ends the
# workflow.
restic_step() {
    local name=$1 log=$WORK_DIR/restic.log
    shift
    if restic_seal "$@" >"$log" 2>&1; then
        pass "restic: $name"
    else
        flunk "restic: $name" "$(one_line "$log")"
        return 1
    fi
}

restic_workflow() {
    local src=$WORK_DIR/restic-data out=$WORK_DIR/restic-restore
    mkdir -p "$out"
    restic_step init init || return 0
    restic_step "backup of a folder tree" backup "$src" || return 0
    restic_step "check --read-data" check --read-data || true
    restic_step restore restore latest --target "$out" || return 0
    if diff -r "$src" "$out$src" >"$WORK_DIR/restic.diff" 2>&1; then
        pass "restic: restored tree equals the original"
    else
        flunk "restic: restored tree equals the original" "$(one_line "$WORK_DIR/restic.diff")"
    fi
    run_helper "restic: stored objects" "$PY_CLIENTS" "$REPO_ROOT/tests/integration/objects_check.py" \
        stored-prefix restic "$BUCKET" restic/
    check_sealed restic "$BUCKET" restic/ 5
}

main() {
    local t_start src
    t_start=$(now_us)
    command -v restic >/dev/null || fail "restic not found; install the Debian package restic"
    compat_describe "restic" "$(restic version 2>&1)" \
        "HTTP: init, backup of a folder tree, check --read-data, restore and compare"
    compat_setup restic

    src=$WORK_DIR/restic-data
    make_canary_file "$src/large-1.bin" $((3 * MIB + 12345))
    make_canary_file "$src/docs/large-2.bin" $((2 * MIB))
    make_canary_file "$src/docs/medium.bin" 70000
    printf 'a small text file\n' >"$src/docs/small.txt"
    : >"$src/empty"
    timed restic_workflow

    compat_finish "$t_start"
}

main "$@"
