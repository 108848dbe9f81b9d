#!/usr/bin/env bash
# Debian's boto3 1.26 (python3-boto3, run with /usr/bin/python3) through
# s3seal over HTTP with its default settings (boto3_workflow.py):
# upload_file of 20 MiB in 8 MiB parts, download_file with parallel ranged
# GETs, presigned PUT and GET URLs used with curl, and delete_objects (with
# Content-MD5, as boto3 before 1.36 sends it). The backend must hold only
# ciphertext.
#
# Usage: bash tests/compat/boto3-debian.sh (run.sh runs it with the others).
# Exit status: 0 passed, 1 a check failed.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

compat_install_traps

PREFIX=boto3-debian

# Uploads with a presigned PUT URL and reads back with a presigned GET URL.
check_presigned() {
    local label="boto3 1.26 presigned" key=$PREFIX/presigned.bin src=$WORK_DIR/data/small.bin
    local out=$WORK_DIR/presign.out err=$WORK_DIR/presign.err url status

    url=$("$PYTHON_BIN" "$COMPAT_DIR/boto3_workflow.py" presign PUT "$BUCKET" "$key" 2>"$err") ||
        fail "boto3 generate_presigned_url failed: $(one_line "$err")"
    status=$(curl -sS -o "$out" -w '%{http_code}' -T "$src" "$url" 2>"$err") || status="curl failed: $(one_line "$err")"
    check_equal "$label: PUT with curl returns 200" 200 "$status"

    rm -f "$out"
    url=$("$PYTHON_BIN" "$COMPAT_DIR/boto3_workflow.py" presign GET "$BUCKET" "$key" 2>"$err") ||
        fail "boto3 generate_presigned_url failed: $(one_line "$err")"
    status=$(curl -sS -o "$out" -w '%{http_code}' "$url" 2>"$err") || status="curl failed: $(one_line "$err")"
    check_equal "$label: GET with curl returns 200" 200 "$status"
    check_same_file "$label: GET with curl matches SHA-256" "$src" "$out"
    check_stored_layout "$label: presigned.bin" "$BUCKET" "$key" "$src"
}

main() {
    local t_start version
    t_start=$(now_us)
    version=$("$PYTHON_BIN" -c 'import boto3, botocore; print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}")' 2>&1) ||
        fail "'$PYTHON_BIN' has no boto3; install the Debian package python3-boto3: $version"
    compat_describe "boto3 (Debian)" "$version" \
        "HTTP: upload_file of 20 MiB (8 MiB parts), download_file with parallel ranged GETs, presigned PUT and GET with curl, delete_objects"
    compat_setup boto3-debian

    make_canary_file "$WORK_DIR/data/small.bin" 71680
    make_canary_file "$WORK_DIR/data/big.bin" $((20 * MIB))
    timed run_helper "boto3 1.26 transfer" "$PYTHON_BIN" "$COMPAT_DIR/boto3_workflow.py" transfer \
        "boto3 1.26" "$BUCKET" "$PREFIX" "$WORK_DIR/data/big.bin"
    check_stored_layout "boto3 1.26: big.bin" "$BUCKET" "$PREFIX/big.bin" "$WORK_DIR/data/big.bin" \
        $((8 * MIB)) $((8 * MIB)) $((4 * MIB))
    timed check_presigned
    check_sealed "boto3 1.26" "$BUCKET" "$PREFIX/" 2
    run_helper "boto3 1.26 delete" "$PYTHON_BIN" "$COMPAT_DIR/boto3_workflow.py" delete "boto3 1.26" "$BUCKET" "$PREFIX"
    check_backend_empty "boto3 1.26" "$BUCKET" "$PREFIX/"

    compat_finish "$t_start"
}

main "$@"
