#!/usr/bin/env bash
# End-to-end test of how s3seal stores whole objects. boto3
# (objects_check.py) runs multipart uploads, object versions, CopyObject,
# UploadPartCopy and the user metadata limit. Then real tools transfer
# objects: aws-cli 2 (/usr/bin/aws) "s3 cp" of 40 MiB with 8 MiB and 5 MiB
# parts, rclone sync and check with single PUTs and with 5 MiB parts, and
# restic (init, backup, check --read-data, restore).
# Every object written is also read straight from the backend, to check
# that it is ciphertext in the chunk layout and size of docs/FORMAT.md with
# the envelope of a single PUT (s3seal-len) or of a multipart upload
# (s3seal-mp).
#
# Needs: the pyenv python3 with boto3 1.43 on PATH, rclone and restic
# (Debian packages). Backend and binary as in roundtrip.sh (lib.sh lists the
# variables). S3SEAL_TEST_KEEP=1 keeps the work folder with its logs.
# S3SEAL_TEST_STRICT=1 also fails the run on the known limitations that
# objects_check.py marks TODO.
#
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The pyenv Python with boto3 1.43, not /usr/bin/python3.
PY_CLIENTS=python3
MIB=$((1024 * 1024))
# aws-cli file: above its 8 MiB multipart_threshold, and a multiple of both
# part sizes used, so that every part is a multiple of 64 KiB as s3seal
# requires of all parts but the last.
AWSCLI_SIZE=$((40 * MIB))
# rclone's large file: 12 MiB, so three parts of 5 MiB, 5 MiB and 2 MiB.
RCLONE_LARGE_SIZE=$((12 * MIB))
RCLONE_SMALL_COUNT=20

BUCKET=""
OTHER_BUCKET=""
VERSIONS_BUCKET=""

testlib_install_traps

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

objects_check() {
    run_helper "objects_check.py $1" "$PY_CLIENTS" "$TESTLIB_DIR/objects_check.py" "$@"
}

# Creates bucket $1 through s3seal, or ends the test.
create_test_bucket() {
    local bucket=$1
    if create_bucket aws_proxy "$bucket" >"$WORK_DIR/create-bucket.out" 2>&1; then
        pass "create-bucket $bucket through s3seal"
    else
        flunk "create-bucket $bucket through s3seal" "$(one_line "$WORK_DIR/create-bucket.out")"
        fail "cannot go on without bucket $bucket"
    fi
}

setup() {
    testlib_init objects
    s3seal_check_bin
    command -v rclone >/dev/null || fail "rclone not found; install the Debian package rclone"
    command -v restic >/dev/null || fail "restic not found; install the Debian package restic"
    "$PY_CLIENTS" -c 'import boto3' 2>/dev/null || fail "'$PY_CLIENTS' has no boto3; put the pyenv Python 3.11 with boto3 1.43 on PATH"

    backend_start
    s3seal_start
    export PROXY_ENDPOINT BACKEND_ENDPOINT BACKEND_ACCESS_KEY BACKEND_SECRET_KEY REGION
    export CLIENT_ACCESS_KEY CLIENT_SECRET_KEY

    BUCKET=$(unique_bucket_name s3seal-objects)
    OTHER_BUCKET=$(unique_bucket_name s3seal-objects-other)
    VERSIONS_BUCKET=$(unique_bucket_name s3seal-objects-versions)
    create_test_bucket "$BUCKET"
    create_test_bucket "$OTHER_BUCKET"
    create_test_bucket "$VERSIONS_BUCKET"
}

# Uploads and downloads AWSCLI_SIZE bytes with "aws s3 cp" of aws-cli 2 and
# multipart_chunksize $1 ("default" keeps aws-cli's 8 MiB), and checks the
# stored object's parts on the backend.
check_awscli_multipart() {
    local chunksize=$1 part_size key label config=$WORK_DIR/aws-$1.config
    local src=$WORK_DIR/awscli-src.bin out=$WORK_DIR/awscli-out.bin err=$WORK_DIR/awscli.err parts=()
    label="aws-cli 2 s3 cp, multipart_chunksize $chunksize"
    key=awscli/chunksize-$chunksize.bin
    # retry_mode and max_attempts are as in lib.sh, so a failed request fails
    # the check. The transfer settings are aws-cli's defaults unless set here.
    {
        printf '[default]\noutput = json\nretry_mode = standard\nmax_attempts = 1\ns3 =\n'
        printf '    addressing_style = path\n'
        [[ $chunksize == default ]] || printf '    multipart_chunksize = %s\n' "$chunksize"
    } >"$config"
    case $chunksize in
        default) part_size=$((8 * MIB)) ;;
        5MB) part_size=$((5 * MIB)) ;; # aws-cli reads MB as MiB
        *) fail "check_awscli_multipart: no part size known for $chunksize" ;;
    esac
    for ((i = 0; i < AWSCLI_SIZE / part_size; i++)); do
        parts+=("$part_size")
    done

    head -c "$AWSCLI_SIZE" /dev/urandom >"$src"
    if AWS_CONFIG_FILE=$config aws_proxy s3 cp --only-show-errors "$src" "s3://$BUCKET/$key" 2>"$err"; then
        pass "$label: upload of $AWSCLI_SIZE bytes"
    else
        flunk "$label: upload of $AWSCLI_SIZE bytes" "$(one_line "$err")"
        return 0
    fi
    rm -f "$out"
    if AWS_CONFIG_FILE=$config aws_proxy s3 cp --only-show-errors "s3://$BUCKET/$key" "$out" 2>"$err"; then
        check_equal "$label: download matches SHA-256" "$(file_sha256 "$src")" "$(file_sha256 "$out")"
    else
        flunk "$label: download" "$(one_line "$err")"
    fi
    objects_check stored "$label: $key" "$BUCKET" "$key" "$src" "${parts[@]}"
    rm -f "$src" "$out"
}

# Runs rclone with a remote "seal" for s3seal that exists only in the
# environment. rclone 1.60 fails every call when AWS_CA_BUNDLE is set, and
# testlib_init unsets it.
rclone_seal() {
    env RCLONE_CONFIG=/dev/null RCLONE_CONFIG_SEAL_TYPE=s3 RCLONE_CONFIG_SEAL_PROVIDER=Other \
        RCLONE_CONFIG_SEAL_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" RCLONE_CONFIG_SEAL_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY" \
        RCLONE_CONFIG_SEAL_ENDPOINT="$PROXY_ENDPOINT" RCLONE_CONFIG_SEAL_REGION="$REGION" \
        RCLONE_CONFIG_SEAL_FORCE_PATH_STYLE=true \
        rclone --retries 1 --low-level-retries 1 "$@"
}

# Syncs the rclone folder to prefix $1 with the extra rclone options after
# it, then checks it with rclone and on the backend. $2 is "single" or
# "multipart": how the large file must be stored.
check_rclone_sync() {
    local prefix=$1 layout=$2 label log=$WORK_DIR/rclone.log copied
    shift 2
    label="rclone sync to $prefix"
    local large=$WORK_DIR/rclone-data/large.bin

    if rclone_seal "$@" sync "$WORK_DIR/rclone-data" "seal:$BUCKET/$prefix" >"$log" 2>&1; then
        pass "$label"
    else
        flunk "$label" "$(grep -m 3 -E 'ERROR|Failed' "$log" | tr '\n' ' ' | cut -c1-600)"
        return 0
    fi
    if rclone_seal "$@" check "$WORK_DIR/rclone-data" "seal:$BUCKET/$prefix" >"$log" 2>&1; then
        pass "$label: rclone check"
    else
        flunk "$label: rclone check" "$(grep -m 3 -E 'ERROR|differ|Failed' "$log" | tr '\n' ' ' | cut -c1-600)"
    fi
    # NOTE: rclone 1.60 takes no MD5 from an ETag of the form "<md5>-<n>",
    # which s3seal returns for every object, so "check" compares only sizes
    # where it finds no X-Amz-Meta-Md5chksum. "check --download" compares
    # the bytes.
    note "$label: rclone check: $(grep -o '[0-9]* hashes could not be checked' "$log" || echo 'every hash checked')"
    if rclone_seal "$@" check --download "$WORK_DIR/rclone-data" "seal:$BUCKET/$prefix" >"$log" 2>&1; then
        pass "$label: rclone check --download"
    else
        flunk "$label: rclone check --download" "$(grep -m 3 -E 'ERROR|differ|Failed' "$log" | tr '\n' ' ' | cut -c1-600)"
    fi
    # A second sync finds every file up to date: the listed sizes and the
    # modification times that rclone stored in the metadata match.
    if rclone_seal "$@" sync -v "$WORK_DIR/rclone-data" "seal:$BUCKET/$prefix" >"$log" 2>&1; then
        copied=$(grep -c ': Copied' "$log" || true)
        check_equal "$label: second sync copies nothing" 0 "$copied"
    else
        flunk "$label: second sync" "$(grep -m 3 -E 'ERROR|Failed' "$log" | tr '\n' ' ' | cut -c1-600)"
    fi

    if [[ $layout == multipart ]]; then
        objects_check stored "$label: large.bin" "$BUCKET" "$prefix/large.bin" "$large" $((5 * MIB)) $((5 * MIB)) $((2 * MIB))
    else
        objects_check stored "$label: large.bin" "$BUCKET" "$prefix/large.bin" "$large"
    fi
    objects_check stored "$label: small-07.bin" "$BUCKET" "$prefix/small-07.bin" "$WORK_DIR/rclone-data/small-07.bin"
}

check_rclone() {
    local dir=$WORK_DIR/rclone-data i
    mkdir -p "$dir"
    for ((i = 0; i < RCLONE_SMALL_COUNT; i++)); do
        # Sizes from 0 to about 180 KiB, across chunk boundaries.
        head -c $((i * 9500)) /dev/urandom >"$dir/$(printf 'small-%02d.bin' "$i")"
    done
    head -c "$RCLONE_LARGE_SIZE" /dev/urandom >"$dir/large.bin"

    # rclone 1.60 uploads files below --s3-upload-cutoff (200 MiB by
    # default) with one PutObject, larger ones as multipart uploads.
    check_rclone_sync rclone-single single
    check_rclone_sync rclone-multipart multipart --s3-upload-cutoff 5M --s3-chunk-size 5M
}

# Backs up a folder into a restic repository through s3seal, checks every
# pack with --read-data, restores and compares.
check_restic() {
    local label="restic" src=$WORK_DIR/restic-data out=$WORK_DIR/restic-restore log=$WORK_DIR/restic.log
    local repo="s3:$PROXY_ENDPOINT/$BUCKET/restic"
    mkdir -p "$src/docs" "$out"
    head -c $((3 * MIB + 12345)) /dev/urandom >"$src/large-1.bin"
    head -c $((2 * MIB)) /dev/urandom >"$src/docs/large-2.bin"
    head -c 70000 /dev/urandom >"$src/docs/medium.bin"
    printf 'a small text file\n' >"$src/docs/small.txt"
    : >"$src/empty"

    # restic 0.14 talks to S3 with minio-go, which reads the keys from these
    # variables. The cache lives in the work folder.
    local restic=(env AWS_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY"
        RESTIC_PASSWORD=s3seal-test-password RESTIC_CACHE_DIR="$WORK_DIR/restic-cache"
        restic -r "$repo" -o s3.region="$REGION")

    if "${restic[@]}" init >"$log" 2>&1; then
        pass "$label: init"
    else
        flunk "$label: init" "$(one_line "$log")"
        return 0
    fi
    if "${restic[@]}" backup "$src" >"$log" 2>&1; then
        pass "$label: backup"
    else
        flunk "$label: backup" "$(one_line "$log")"
        return 0
    fi
    if "${restic[@]}" check --read-data >"$log" 2>&1; then
        pass "$label: check --read-data"
    else
        flunk "$label: check --read-data" "$(one_line "$log")"
    fi
    if "${restic[@]}" restore latest --target "$out" >"$log" 2>&1; then
        pass "$label: restore"
        if diff -r "$src" "$out$src" >"$WORK_DIR/restic.diff" 2>&1; then
            pass "$label: restored files equal the originals"
        else
            flunk "$label: restored files equal the originals" "$(one_line "$WORK_DIR/restic.diff")"
        fi
    else
        flunk "$label: restore" "$(one_line "$log")"
    fi
    objects_check stored-prefix "$label" "$BUCKET" restic/
}

check_s3seal_shutdown() {
    s3seal_stop
    case $S3SEAL_EXIT_STATUS in
        0 | 143) pass "s3seal exits after SIGTERM (status $S3SEAL_EXIT_STATUS)" ;;
        *) flunk "s3seal exits after SIGTERM" "exit status $S3SEAL_EXIT_STATUS" ;;
    esac
    if grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$S3SEAL_LOG"; then
        flunk "s3seal log has no sanitizer report" "see the s3seal log below"
    else
        pass "s3seal log has no sanitizer report"
    fi
}

main() {
    local t_start
    t_start=$(now_us)
    setup

    timed objects_check multipart "$BUCKET"
    timed objects_check versions "$VERSIONS_BUCKET"
    timed objects_check copy "$BUCKET" "$OTHER_BUCKET"
    timed objects_check metadata "$BUCKET"
    timed check_awscli_multipart default
    timed check_awscli_multipart 5MB
    timed check_rclone
    timed check_restic
    check_s3seal_shutdown

    if ((known_failures > 0)); then
        note "$known_failures checks failed for known limitations (marked TODO above)"
    fi
    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    if ((failures > 0)); then
        exit 1
    fi
}

main "$@"
