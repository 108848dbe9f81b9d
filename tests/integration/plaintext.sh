#!/usr/bin/env bash
# End-to-end test of the operator rules S3SEAL_PLAINTEXT_PREFIXES and
# S3SEAL_UNENCRYPTED_READS=reject: objects under a listed bucket/prefix are
# stored unencrypted (single PUT and multipart), keep their MD5 ETag, are
# listed with their real sizes and read back, while every other key of the
# same bucket is still encrypted, and an object without an envelope outside
# the prefixes is refused.
#
# Backend and binary as in roundtrip.sh (lib.sh). Prints one "ok - ..." or
# "not ok - ..." line per check and exits 1 if any check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Runs the command after $1 and records check $1 by its exit status.
check() {
    local name=$1
    shift
    if "$@"; then
        pass "$name"
    else
        flunk "$name" "the command failed: $*"
    fi
}

testlib_install_traps

same_file() {
    cmp -s "$1" "$2"
}

listed_size() {
    local key=$1 expected=$2 size
    size=$(aws_proxy s3api list-objects-v2 --bucket "$BUCKET" --prefix "$key" --query 'Contents[0].Size' \
        --output text)
    [[ $size == "$expected" ]]
}

etag_is_md5() {
    local key=$1 file=$2 etag
    etag=$(aws_proxy s3api head-object --bucket "$BUCKET" --key "$key" --query ETag --output text)
    [[ $etag == "\"$(md5sum "$file" | cut -d' ' -f1)\"" ]]
}

stored_differs() {
    ! cmp -s "$1" "$2"
}

refused() {
    local key=$1
    ! aws_proxy s3api get-object --bucket "$BUCKET" --key "$key" "$WORK_DIR/refused.out" \
        >/dev/null 2>"$WORK_DIR/refused.err" && grep -q InternalError "$WORK_DIR/refused.err"
}

reads_back() {
    local key=$1 original=$2
    aws_proxy s3api get-object --bucket "$BUCKET" --key "$key" "$WORK_DIR/read.out" >/dev/null 2>&1 &&
        cmp -s "$original" "$WORK_DIR/read.out"
}

main() {
    local start
    start=$(now_us)
    testlib_init plaintext
    backend_start
    BUCKET=$(unique_bucket_name s3seal-plaintext)
    S3SEAL_START_ENV=("S3SEAL_PLAINTEXT_PREFIXES=$BUCKET/open/" "S3SEAL_UNENCRYPTED_READS=reject")
    s3seal_start
    create_bucket aws_proxy "$BUCKET" >/dev/null

    head -c 300000 /dev/urandom >"$WORK_DIR/small.bin"
    head -c 20000000 /dev/urandom >"$WORK_DIR/large.bin"
    printf '[default]\nmax_attempts = 1\ns3 =\n    addressing_style = path\n' >"$WORK_DIR/multipart.config"

    aws_proxy s3 cp "$WORK_DIR/small.bin" "s3://$BUCKET/open/small.bin" --only-show-errors
    AWS_CONFIG_FILE=$WORK_DIR/multipart.config \
        aws_proxy s3 cp "$WORK_DIR/large.bin" "s3://$BUCKET/open/large.bin" --only-show-errors
    aws_proxy s3 cp "$WORK_DIR/small.bin" "s3://$BUCKET/sealed/small.bin" --only-show-errors

    aws_backend s3 cp "s3://$BUCKET/open/small.bin" "$WORK_DIR/stored-small.bin" --only-show-errors
    aws_backend s3 cp "s3://$BUCKET/open/large.bin" "$WORK_DIR/stored-large.bin" --only-show-errors
    aws_backend s3 cp "s3://$BUCKET/sealed/small.bin" "$WORK_DIR/stored-sealed.bin" --only-show-errors
    check "single PUT under the rule is stored as plaintext" same_file "$WORK_DIR/small.bin" "$WORK_DIR/stored-small.bin"
    check "multipart upload under the rule is stored as plaintext" \
        same_file "$WORK_DIR/large.bin" "$WORK_DIR/stored-large.bin"
    check "a key outside the rule is still encrypted" \
        stored_differs "$WORK_DIR/small.bin" "$WORK_DIR/stored-sealed.bin"
    check "plaintext object keeps its MD5 ETag" etag_is_md5 open/small.bin "$WORK_DIR/small.bin"
    check "listing shows the real size of a plaintext object" listed_size open/small.bin 300000
    check "listing shows the real size of a plaintext multipart object" listed_size open/large.bin 20000000
    check "listing shows the plaintext size of an encrypted object" listed_size sealed/small.bin 300000

    AWS_CONFIG_FILE=$WORK_DIR/multipart.config \
        aws_proxy s3 cp "s3://$BUCKET/open/large.bin" "$WORK_DIR/back-large.bin" --only-show-errors
    check "plaintext multipart object reads back through ranged GETs" \
        same_file "$WORK_DIR/large.bin" "$WORK_DIR/back-large.bin"

    aws_backend s3 cp "$WORK_DIR/small.bin" "s3://$BUCKET/sealed/raw.bin" --only-show-errors
    check "object without envelope outside the prefixes is refused" refused sealed/raw.bin
    check "encrypted object still reads with reject set" reads_back sealed/small.bin "$WORK_DIR/small.bin"

    printf 'plaintext.sh: %d checks, %d failed, %s s\n' "$checks" "$failures" "$(elapsed_s "$start")"
    ((failures == 0))
}

main "$@"
