#!/usr/bin/env bash
# End-to-end test of recovery without the proxy. Uploads through s3seal a
# 1 MiB object with one PutObject and a 20 MiB object with aws-cli 2's
# default transfer settings (a multipart upload of 8 MiB parts). Then
# fetches each stored object and its metadata straight from the backend with
# the backend credentials, and checks that "s3seal decrypt" with only the
# key file restores the original bytes, and so does
# tests/vectors/decrypt_vectors.py, written from docs/FORMAT.md and
# docs/KEYS.md with Debian's python3-cryptography. It also checks
# "s3seal inspect", and
# that a flipped byte, a wrong object key and "--out -" without
# --allow-partial fail without leaving an output file. Last, an object
# written with S3SEAL_KMS_CONTEXT=sha256 names the hashed-context key
# (file+h:...), reads back after a restart with plain contexts, and decrypts
# offline with the key file alone.
#
# Backend and binary as in roundtrip.sh (lib.sh lists the variables).
# S3SEAL_TEST_KEEP=1 keeps the work folder with its logs.
#
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MIB=$((1024 * 1024))
SINGLE_SIZE=$MIB
# Above aws-cli's 8 MiB multipart_threshold; its 8 MiB parts are multiples of
# 64 KiB, as s3seal requires of every part but the last.
MULTIPART_SIZE=$((20 * MIB))

BUCKET=""
S3SEAL=""

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

testlib_install_traps

setup() {
    testlib_init recovery
    s3seal_check_bin
    S3SEAL=$(s3seal_bin_path)
    backend_start
    s3seal_start

    BUCKET=$(unique_bucket_name s3seal-recovery)
    if create_bucket aws_proxy "$BUCKET" >"$WORK_DIR/create-bucket.out" 2>&1; then
        pass "create-bucket $BUCKET through s3seal"
    else
        flunk "create-bucket $BUCKET through s3seal" "$(one_line "$WORK_DIR/create-bucket.out")"
        fail "cannot go on without a bucket"
    fi
}

# Uploads $2 random bytes as key $1 through s3seal: with one PutObject when
# $3 is "put", with "aws s3 cp" and aws-cli's default transfer settings
# when it is "cp". The plaintext stays in $WORK_DIR/$1.plain.
upload() {
    local key=$1 size=$2 how=$3 plain=$WORK_DIR/$1.plain err=$WORK_DIR/upload.err
    local config=$WORK_DIR/aws-default-transfer.config
    head -c "$size" /dev/urandom >"$plain"
    if [[ $how == put ]]; then
        aws_proxy s3api put-object --bucket "$BUCKET" --key "$key" --body "$plain" >/dev/null 2>"$err" ||
            { flunk "put-object $key ($size bytes) through s3seal" "$(one_line "$err")"; return 1; }
        pass "put-object $key ($size bytes) through s3seal"
        return 0
    fi
    # lib.sh raises multipart_threshold; this file keeps aws-cli's defaults.
    printf '[default]\noutput = json\nretry_mode = standard\nmax_attempts = 1\ns3 =\n    addressing_style = path\n' >"$config"
    AWS_CONFIG_FILE=$config aws_proxy s3 cp --only-show-errors "$plain" "s3://$BUCKET/$key" 2>"$err" ||
        { flunk "aws s3 cp $key ($size bytes) through s3seal" "$(one_line "$err")"; return 1; }
    pass "aws s3 cp $key ($size bytes) through s3seal"
}

# Fetches the stored bytes of key $1 to $WORK_DIR/$1.stored and its metadata
# (head-object output) to $WORK_DIR/$1.head.json, straight from the backend.
fetch_from_backend() {
    local key=$1 err=$WORK_DIR/fetch.err
    aws_backend s3api get-object --bucket "$BUCKET" --key "$key" "$WORK_DIR/$key.stored" >/dev/null 2>"$err" ||
        { flunk "get-object $key from the backend" "$(one_line "$err")"; return 1; }
    aws_backend s3api head-object --bucket "$BUCKET" --key "$key" >"$WORK_DIR/$key.head.json" 2>"$err" ||
        { flunk "head-object $key from the backend" "$(one_line "$err")"; return 1; }
    pass "get-object and head-object $key from the backend"
}

# Runs s3seal decrypt for key $1 with the stored file $2 into $3; prints the exit status.
run_decrypt() {
    local key=$1 in=$2 out=$3 rc=0
    "$S3SEAL" decrypt --key-file "$S3SEAL_KEY_FILE" --bucket "$BUCKET" --key "$key" \
        --metadata "$WORK_DIR/$key.head.json" --in "$in" --out "$out" 2>"$WORK_DIR/decrypt.err" || rc=$?
    printf '%s' "$rc"
}

# Checks that a decrypt which must fail exits with status 1 and writes no output file.
check_decrypt_fails() {
    local label=$1 status=$2 out=$3
    check_equal "$label: exit status" 1 "$status"
    if [[ -e $out ]]; then
        flunk "$label: no output file" "$out exists"
    else
        pass "$label: no output file"
    fi
    if compgen -G "$(dirname "$out")/.*.s3seal-*" >/dev/null; then
        flunk "$label: no temporary file left" "$(ls -a "$(dirname "$out")")"
    else
        pass "$label: no temporary file left"
    fi
}

# Checks inspect and decrypt of key $1, whose layout line must contain $2.
check_recovery() {
    local key=$1 layout=$2 plain=$WORK_DIR/$1.plain stored=$WORK_DIR/$1.stored
    local out=$WORK_DIR/out/$1.plain status
    mkdir -p "$WORK_DIR/out"

    if "$S3SEAL" inspect --metadata "$WORK_DIR/$key.head.json" >"$WORK_DIR/inspect.out" 2>&1; then
        pass "inspect $key"
    else
        flunk "inspect $key" "$(one_line "$WORK_DIR/inspect.out")"
    fi
    if grep -q "^layout: *$layout" "$WORK_DIR/inspect.out"; then
        pass "inspect $key: layout $layout"
    else
        flunk "inspect $key: layout $layout" "$(one_line "$WORK_DIR/inspect.out")"
    fi
    if "$S3SEAL" inspect --metadata "$WORK_DIR/$key.head.json" --verify --key-file "$S3SEAL_KEY_FILE" \
        --bucket "$BUCKET" --key "$key" >"$WORK_DIR/inspect.out" 2>&1 && grep -q '^envelope valid$' "$WORK_DIR/inspect.out"; then
        pass "inspect --verify $key: envelope valid"
    else
        flunk "inspect --verify $key: envelope valid" "$(one_line "$WORK_DIR/inspect.out")"
    fi

    status=$(run_decrypt "$key" "$stored" "$out")
    if [[ $status == 0 ]]; then
        check_equal "decrypt $key: SHA-256 matches the original" "$(file_sha256 "$plain")" "$(file_sha256 "$out")"
    else
        flunk "decrypt $key" "exit status $status: $(one_line "$WORK_DIR/decrypt.err")"
    fi
    rm -f "$out"

    # one flipped byte inside a chunk near the middle of the stored object
    cp "$stored" "$WORK_DIR/tampered.bin"
    "$PYTHON_BIN" -c 'import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(0, 2)
    n = f.tell() // 2 + 100
    f.seek(n)
    b = f.read(1)
    f.seek(n)
    f.write(bytes([b[0] ^ 1]))' "$WORK_DIR/tampered.bin"
    status=$(run_decrypt "$key" "$WORK_DIR/tampered.bin" "$out")
    check_decrypt_fails "decrypt $key with one flipped byte" "$status" "$out"
    if grep -q 'chunk [0-9]* at stored byte offset [0-9]*' "$WORK_DIR/decrypt.err"; then
        pass "decrypt $key with one flipped byte: message names the failed chunk"
    else
        flunk "decrypt $key with one flipped byte: message names the failed chunk" "$(one_line "$WORK_DIR/decrypt.err")"
    fi
    rm -f "$WORK_DIR/tampered.bin"

    # the envelope binds the data key to its object key
    status=0
    "$S3SEAL" decrypt --key-file "$S3SEAL_KEY_FILE" --bucket "$BUCKET" --key "$key.other" \
        --metadata "$WORK_DIR/$key.head.json" --in "$stored" --out "$out" 2>"$WORK_DIR/decrypt.err" || status=$?
    check_decrypt_fails "decrypt $key under another object key" "$status" "$out"
}

# Decrypts key $1 with tests/vectors/decrypt_vectors.py, an implementation of
# docs/FORMAT.md and docs/KEYS.md in Python that shares no code with s3seal.
check_independent_decrypt() {
    local key=$1 out=$WORK_DIR/$1.independent rc=0
    /usr/bin/python3 "$REPO_ROOT/tests/vectors/decrypt_vectors.py" object "$S3SEAL_KEY_FILE" "$BUCKET" "$key" \
        "$WORK_DIR/$key.head.json" "$WORK_DIR/$key.stored" "$out" >"$WORK_DIR/independent.out" 2>&1 || rc=$?
    if ((rc == 0)) && cmp -s "$WORK_DIR/$key.plain" "$out"; then
        pass "$key: the Python decryptor written from the docs restores the original"
    else
        flunk "$key: the Python decryptor written from the docs restores the original" \
            "exit $rc: $(one_line "$WORK_DIR/independent.out")"
    fi
    rm -f "$out"
}

# Checks that --out - is a usage error without --allow-partial and decrypts with it.
check_stdout_output() {
    local key=$1 status=0
    "$S3SEAL" decrypt --key-file "$S3SEAL_KEY_FILE" --bucket "$BUCKET" --key "$key" \
        --metadata "$WORK_DIR/$key.head.json" --in "$WORK_DIR/$key.stored" --out - \
        >"$WORK_DIR/stdout.bin" 2>"$WORK_DIR/decrypt.err" || status=$?
    check_equal "decrypt --out - without --allow-partial: exit status" 2 "$status"
    check_equal "decrypt --out - without --allow-partial: no output" 0 "$(stat -c %s "$WORK_DIR/stdout.bin")"

    status=0
    "$S3SEAL" decrypt --key-file "$S3SEAL_KEY_FILE" --bucket "$BUCKET" --key "$key" \
        --metadata "$WORK_DIR/$key.head.json" --in "$WORK_DIR/$key.stored" --out - --allow-partial \
        >"$WORK_DIR/stdout.bin" 2>"$WORK_DIR/decrypt.err" || status=$?
    check_equal "decrypt --out - --allow-partial: exit status" 0 "$status"
    check_equal "decrypt --out - --allow-partial: SHA-256 matches the original" \
        "$(file_sha256 "$WORK_DIR/$key.plain")" "$(file_sha256 "$WORK_DIR/stdout.bin")"
    rm -f "$WORK_DIR/stdout.bin"
}

# Writes an object with hashed wrap contexts, then reads it with s3seal
# restarted with plain contexts, and decrypts it offline.
check_hashed_context() {
    local key=hashed.bin out=$WORK_DIR/hashed.out kms_id rc=0
    s3seal_stop
    S3SEAL_START_ENV=("S3SEAL_KMS_CONTEXT=sha256")
    s3seal_start
    upload "$key" 70000 put || return 0
    fetch_from_backend "$key" || return 0
    kms_id=$("$PYTHON_BIN" -c 'import json, sys; print(json.load(open(sys.argv[1]))["Metadata"]["s3seal-kms"])' \
        "$WORK_DIR/$key.head.json")
    check_equal "hashed contexts: the envelope names the hashed-context twin" "file+h:" "${kms_id%%:*}:"

    s3seal_stop
    S3SEAL_START_ENV=()
    s3seal_start
    aws_proxy s3api get-object --bucket "$BUCKET" --key "$key" "$out" >/dev/null 2>"$WORK_DIR/get.err" || rc=$?
    if ((rc == 0)) && cmp -s "$WORK_DIR/$key.plain" "$out"; then
        pass "hashed contexts: readable after a restart with plain contexts"
    else
        flunk "hashed contexts: readable after a restart with plain contexts" "$(one_line "$WORK_DIR/get.err")"
    fi
    rm -f "$out"
    check_equal "hashed contexts: s3seal decrypt --key-file exit status" 0 \
        "$(run_decrypt "$key" "$WORK_DIR/$key.stored" "$out")"
    check_equal "hashed contexts: s3seal decrypt restores the original" "$(file_sha256 "$WORK_DIR/$key.plain")" \
        "$(file_sha256 "$out")"
}

main() {
    local t_start
    t_start=$(now_us)
    setup

    if upload single.bin "$SINGLE_SIZE" put && fetch_from_backend single.bin; then
        check_recovery single.bin "single stream"
        check_independent_decrypt single.bin
        check_stdout_output single.bin
    fi
    if upload multipart.bin "$MULTIPART_SIZE" cp && fetch_from_backend multipart.bin; then
        check_recovery multipart.bin multipart
        check_independent_decrypt multipart.bin
    fi
    check_hashed_context

    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    if ((failures > 0)); then
        exit 1
    fi
}

main "$@"
