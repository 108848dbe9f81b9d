#!/usr/bin/env bash
# boto3 1.43 (the pyenv Python's) through s3seal over HTTP and HTTPS with its
# default CRC32 checksums and transfer settings (boto3_workflow.py):
# put_object and get_object with ChecksumMode, upload_file of 100 MiB in
# 8 MiB parts, download_file with parallel ranged GETs, a ranged get_object,
# head_object, list_objects_v2 and delete_objects. The backend must hold
# only ciphertext.
#
# Usage: bash tests/compat/boto3.sh (run.sh runs it with the others).
# Exit status: 0 passed, 1 a check failed.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

compat_install_traps

BIG_SIZE=$((100 * MIB))

# Runs the workflow against endpoint $2 under prefix $3 with label $1.
boto3_workflow() {
    local label=$1 endpoint=$2 prefix=$3 parts=()
    PROXY_ENDPOINT=$endpoint run_helper "$label: objects" \
        "$PY_CLIENTS" "$COMPAT_DIR/boto3_workflow.py" objects "$label" "$BUCKET" "$prefix" \
        "$WORK_DIR/data/small.bin" "$WORK_DIR/data/big.bin"
    for ((i = 0; i < 12; i++)); do
        parts+=($((8 * MIB)))
    done
    parts+=($((4 * MIB)))
    check_stored_layout "$label: big.bin" "$BUCKET" "$prefix/big.bin" "$WORK_DIR/data/big.bin" "${parts[@]}"
    check_sealed "$label" "$BUCKET" "$prefix/" 2
    PROXY_ENDPOINT=$endpoint run_helper "$label: delete" \
        "$PY_CLIENTS" "$COMPAT_DIR/boto3_workflow.py" delete "$label" "$BUCKET" "$prefix"
    check_backend_empty "$label" "$BUCKET" "$prefix/"
}

main() {
    local t_start version
    t_start=$(now_us)
    version=$("$PY_CLIENTS" -c 'import boto3, botocore; print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}")' 2>&1) ||
        fail "'$PY_CLIENTS' has no boto3; put the pyenv Python 3.11 with boto3 1.43 on PATH: $version"
    compat_describe "boto3 (pyenv)" "$version" \
        "HTTP and HTTPS, default CRC32 checksums: put_object, get_object with ChecksumMode, upload_file of 100 MiB (8 MiB parts), download_file with parallel ranged GETs, ranged get_object, head_object, list_objects_v2, delete_objects"
    compat_setup boto3

    make_canary_file "$WORK_DIR/data/small.bin" $((MIB + 12345))
    make_canary_file "$WORK_DIR/data/big.bin" "$BIG_SIZE"
    timed boto3_workflow "boto3 http" "$PROXY_HTTP_ENDPOINT" boto3-http
    timed boto3_workflow "boto3 https" "$PROXY_HTTPS_ENDPOINT" boto3-https

    compat_finish "$t_start"
}

main "$@"
