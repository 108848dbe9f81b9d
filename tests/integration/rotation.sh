#!/usr/bin/env bash
# End-to-end test of master key rotation with "s3seal rewrap". s3seal runs in
# front of Ceph RGW with a key file that contains k1 and stores objects of 0 B,
# 1 B, 70 KiB and 20 MiB (a multipart upload), plus one object under a
# plaintext prefix. Then k2 is appended to the key file and s3seal restarted.
# The script checks that:
#   - "rewrap --dry-run" lists the objects and changes nothing;
#   - "rewrap --multipart-copy" and a run stopped by --max-objects and
#     continued with --state-file together move every encrypted object to
#     file:k2, skip the plaintext one, and keep the stored bodies, the
#     backend ETags (except where the multipart copy merges parts) and the
#     user metadata;
#   - after k1 is removed from the key file and s3seal restarted, every
#     object reads back identically through s3seal: GET, ranged GET, and
#     HEAD size and ETag;
#   - usage errors exit 2, and an object whose envelope does not verify
#     fails with its name while the run goes on and exits 1.
#
# Backend and binary as in roundtrip.sh (lib.sh lists the variables).
# Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
# check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KIB=1024
MIB=$((1024 * KIB))
BUCKET=""
BAD_BUCKET=""
S3SEAL=""
# key and plaintext size of every encrypted object; data/multi.bin and
# mpcopy/multi.bin are uploaded in 8 MiB parts
ENCRYPTED=("data/empty.bin:0" "data/one.bin:1" "data/small.bin:$((70 * KIB))" "data/multi.bin:$((20 * MIB))"
    "mpcopy/small.bin:$((70 * KIB))" "mpcopy/multi.bin:$((20 * MIB))")
PLAIN_KEY=plain/clear.txt

testlib_install_traps

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# A file name for key $1 inside the work folder.
local_name() {
    printf '%s/%s' "$WORK_DIR" "${1//\//_}"
}

# Runs "s3seal rewrap" with the same settings as the running s3seal serve.
run_rewrap() {
    env S3SEAL_LISTEN="127.0.0.1:1" \
        S3SEAL_BACKEND_URL="$BACKEND_ENDPOINT" \
        S3SEAL_BACKEND_REGION="$REGION" \
        S3SEAL_BACKEND_ACCESS_KEY_ID="$BACKEND_ACCESS_KEY" \
        S3SEAL_BACKEND_SECRET_ACCESS_KEY="$BACKEND_SECRET_KEY" \
        S3SEAL_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" \
        S3SEAL_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY" \
        S3SEAL_KEY_FILE="$S3SEAL_KEY_FILE" \
        S3SEAL_PLAINTEXT_PREFIXES="$BUCKET/plain/" \
        "$S3SEAL" rewrap "$@"
}

setup() {
    testlib_init rotation
    s3seal_check_bin
    S3SEAL=$(s3seal_bin_path)
    backend_start

    # s3seal_start keeps an existing key file, so the first key is k1
    S3SEAL_KEY_FILE=$WORK_DIR/s3seal.key
    "$S3SEAL" keygen --out "$S3SEAL_KEY_FILE" --key-id k1 >/dev/null || fail "s3seal keygen --key-id k1 failed"
    BUCKET=$(unique_bucket_name s3seal-rotation)
    S3SEAL_START_ENV=("S3SEAL_PLAINTEXT_PREFIXES=$BUCKET/plain/")
    s3seal_start

    if create_bucket aws_proxy "$BUCKET" >"$WORK_DIR/create-bucket.out" 2>&1; then
        pass "create-bucket $BUCKET through s3seal"
    else
        flunk "create-bucket $BUCKET through s3seal" "$(one_line "$WORK_DIR/create-bucket.out")"
        fail "cannot go on without a bucket"
    fi
}

# Uploads $2 random bytes as key $1 through s3seal: with one PutObject up to
# 1 MiB, else with "aws s3 cp" and aws-cli's default 8 MiB parts.
upload() {
    local key=$1 size=$2 plain err=$WORK_DIR/upload.err config=$WORK_DIR/aws-default-transfer.config
    plain=$(local_name "$key").plain
    head -c "$size" /dev/urandom >"$plain"
    if ((size <= MIB)); then
        aws_proxy s3api put-object --bucket "$BUCKET" --key "$key" --body "$plain" --content-type text/x-test \
            --cache-control max-age=60 --metadata color=blue >/dev/null 2>"$err" ||
            { flunk "put-object $key ($size bytes) through s3seal" "$(one_line "$err")"; return 0; }
    else
        printf '[default]\noutput = json\nmax_attempts = 1\ns3 =\n    addressing_style = path\n' >"$config"
        AWS_CONFIG_FILE=$config aws_proxy s3 cp --only-show-errors "$plain" "s3://$BUCKET/$key" 2>"$err" ||
            { flunk "aws s3 cp $key ($size bytes) through s3seal" "$(one_line "$err")"; return 0; }
    fi
    pass "upload $key ($size bytes) through s3seal"
}

# Prints "kms_id etag size" of key $1 as the backend stores it.
backend_state() {
    aws_backend s3api head-object --bucket "$BUCKET" --key "$1" \
        --query '[Metadata."s3seal-kms", ETag, ContentLength]' --output text 2>&1 | tr '\t' ' '
}

# Prints the SHA-256 of key $1's stored bytes on the backend.
backend_body_sha256() {
    local out
    out=$(local_name "$1").stored
    aws_backend s3api get-object --bucket "$BUCKET" --key "$1" "$out" >/dev/null 2>&1 || { echo "get failed"; return; }
    file_sha256 "$out"
}

# Prints "etag size" of key $1 through s3seal.
proxy_head() {
    aws_proxy s3api head-object --bucket "$BUCKET" --key "$1" --query '[ETag, ContentLength]' --output text 2>&1 |
        tr '\t' ' '
}

# Records the stored state of every object before the rotation.
record_before() {
    local entry key
    for entry in "${ENCRYPTED[@]}" "$PLAIN_KEY:0"; do
        key=${entry%%:*}
        backend_state "$key" >"$(local_name "$key").backend-before"
        backend_body_sha256 "$key" >"$(local_name "$key").sha-before"
        proxy_head "$key" >"$(local_name "$key").head-before"
    done
    check_equal "$PLAIN_KEY is stored without an envelope" "None" \
        "$(cut -d' ' -f1 <"$(local_name "$PLAIN_KEY").backend-before")"
    check_equal "data/one.bin is wrapped under file:k1 before the rotation" "file:k1" \
        "$(cut -d' ' -f1 <"$(local_name data/one.bin).backend-before")"
}

rotate_to_k2() {
    printf 's3seal-key-v1 k2 %s\n' "$(openssl rand -base64 32)" >>"$S3SEAL_KEY_FILE"
    s3seal_stop
    s3seal_start
    upload data/after.bin 100
    check_equal "an object written after the rotation is wrapped under file:k2" "file:k2" \
        "$(backend_state data/after.bin | cut -d' ' -f1)"
    aws_proxy s3api delete-object --bucket "$BUCKET" --key data/after.bin >/dev/null 2>&1 || true
}

check_dry_run() {
    local status=0 entry key
    run_rewrap --bucket "$BUCKET" --dry-run >"$WORK_DIR/dry.out" 2>"$WORK_DIR/dry.err" || status=$?
    check_equal "rewrap --dry-run: exit status" 0 "$status"
    check_equal "rewrap --dry-run: lists each encrypted object once" "${#ENCRYPTED[@]}" \
        "$(grep -c '^would rewrap .* (file:k1 -> file:k2)$' "$WORK_DIR/dry.out" || true)"
    if grep -q "would rewrap $PLAIN_KEY" "$WORK_DIR/dry.out"; then
        flunk "rewrap --dry-run: skips the plaintext object" "$(one_line "$WORK_DIR/dry.out")"
    else
        pass "rewrap --dry-run: skips the plaintext object"
    fi
    for entry in "${ENCRYPTED[@]}"; do
        key=${entry%%:*}
        check_equal "rewrap --dry-run leaves $key unchanged on the backend" \
            "$(cat "$(local_name "$key").backend-before")" "$(backend_state "$key")"
    done
}

# Prints the value of "NAME N" from the summary line in file $2.
summary_count() {
    grep -o "$1 [0-9]*" "$2" | head -n 1 | cut -d' ' -f2
}

check_multipart_copy() {
    local status=0
    run_rewrap --bucket "$BUCKET" --prefix mpcopy/ --multipart-copy >"$WORK_DIR/mp.out" 2>"$WORK_DIR/mp.err" ||
        status=$?
    check_equal "rewrap --prefix mpcopy/ --multipart-copy: exit status" 0 "$status"
    check_equal "rewrap --multipart-copy: rewrapped count" 2 "$(summary_count rewrapped "$WORK_DIR/mp.out")"
    check_equal "rewrap --multipart-copy leaves data/one.bin under file:k1" "file:k1" \
        "$(backend_state data/one.bin | cut -d' ' -f1)"
    note "multipart copy: $(cat "$WORK_DIR/mp.out")"
}

check_resumed_run() {
    local status=0 state=$WORK_DIR/rewrap.state
    run_rewrap --bucket "$BUCKET" --state-file "$state" --max-objects 2 >"$WORK_DIR/first.out" \
        2>"$WORK_DIR/first.err" || status=$?
    check_equal "rewrap --max-objects 2: exit status" 0 "$status"
    check_equal "rewrap --max-objects 2: rewrapped count" 2 "$(summary_count rewrapped "$WORK_DIR/first.out")"
    check_equal "rewrap --max-objects 2: the first listed object is under file:k2" "file:k2" \
        "$(backend_state data/empty.bin | cut -d' ' -f1)"
    check_equal "rewrap --max-objects 2: the third listed object is still under file:k1" "file:k1" \
        "$(backend_state data/one.bin | cut -d' ' -f1)"
    check_equal "rewrap --max-objects 2: the state file records the last finished key" "last-key data%2Fmulti.bin" \
        "$(grep '^last-key ' "$state" 2>&1)"

    status=0
    run_rewrap --bucket "$BUCKET" --state-file "$state" >"$WORK_DIR/second.out" 2>"$WORK_DIR/second.err" ||
        status=$?
    check_equal "resumed rewrap: exit status" 0 "$status"
    check_equal "resumed rewrap: examines only the objects after the state file's key" 5 \
        "$(grep -o '[0-9]* objects,' "$WORK_DIR/second.out" | cut -d' ' -f1)"
    check_equal "resumed rewrap: rewrapped count" 2 "$(summary_count rewrapped "$WORK_DIR/second.out")"
    check_equal "resumed rewrap: failed count" 0 "$(summary_count failed "$WORK_DIR/second.out")"
    if grep -q "continuing after data/multi.bin" "$WORK_DIR/second.err"; then
        pass "resumed rewrap: says where it continues"
    else
        flunk "resumed rewrap: says where it continues" "$(one_line "$WORK_DIR/second.err")"
    fi
    note "first run: $(cat "$WORK_DIR/first.out")"
    note "resumed run: $(cat "$WORK_DIR/second.out")"

    status=0
    run_rewrap --bucket "$BUCKET" >"$WORK_DIR/third.out" 2>&1 || status=$?
    check_equal "rewrap after the rotation finished: exit status" 0 "$status"
    check_equal "rewrap after the rotation finished: rewraps nothing" 0 \
        "$(summary_count rewrapped "$WORK_DIR/third.out")"
}

check_backend_after() {
    local entry key before after
    for entry in "${ENCRYPTED[@]}"; do
        key=${entry%%:*}
        before=$(cat "$(local_name "$key").backend-before")
        after=$(backend_state "$key")
        check_equal "$key is wrapped under file:k2 on the backend" "file:k2" "${after%% *}"
        check_equal "$key: stored body unchanged (SHA-256)" "$(cat "$(local_name "$key").sha-before")" \
            "$(backend_body_sha256 "$key")"
        check_equal "$key: stored size unchanged" "${before##* }" "${after##* }"
        if [[ $key == mpcopy/multi.bin ]]; then
            # the multipart copy stores the three parts as one, like the proxy's CopyObject
            if [[ $after =~ -1\"\ [0-9]+$ ]]; then
                pass "$key: the multipart copy keeps a multipart ETag"
            else
                flunk "$key: the multipart copy keeps a multipart ETag" "got '$after'"
            fi
        else
            check_equal "$key: backend ETag unchanged" "$(echo "$before" | cut -d' ' -f2)" \
                "$(echo "$after" | cut -d' ' -f2)"
        fi
    done
    check_equal "$PLAIN_KEY is left as it was" "$(cat "$(local_name "$PLAIN_KEY").backend-before")" \
        "$(backend_state "$PLAIN_KEY")"
    check_equal "data/small.bin keeps its user metadata, Content-Type and Cache-Control" \
        "blue text/x-test max-age=60" \
        "$(aws_backend s3api head-object --bucket "$BUCKET" --key data/small.bin \
            --query '[Metadata.color, ContentType, CacheControl]' --output text 2>&1 | tr '\t' ' ')"
}

remove_k1() {
    local tmp=$WORK_DIR/keys.new
    grep -v '^s3seal-key-v1 k1 ' "$S3SEAL_KEY_FILE" >"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$S3SEAL_KEY_FILE"
    check_equal "the key file holds only k2" 1 "$(grep -c '^s3seal-key-v1 ' "$S3SEAL_KEY_FILE")"
    s3seal_stop
    s3seal_start
}

# Reads key $1 of $2 plaintext bytes through s3seal whole and in a range.
check_read_back() {
    local key=$1 size=$2 plain got first last expected_head
    plain=$(local_name "$key").plain
    got=$(local_name "$key").got
    if aws_proxy s3api get-object --bucket "$BUCKET" --key "$key" "$got" >/dev/null 2>"$WORK_DIR/get.err"; then
        check_equal "GET $key through s3seal after k1 was removed" "$(file_sha256 "$plain")" "$(file_sha256 "$got")"
    else
        flunk "GET $key through s3seal after k1 was removed" "$(one_line "$WORK_DIR/get.err")"
    fi
    expected_head=$(cat "$(local_name "$key").head-before")
    if [[ $key == mpcopy/multi.bin ]]; then
        # the ETag changed with the merged parts; s3seal must report the backend's new one
        expected_head="$(backend_state "$key" | cut -d' ' -f2) $size"
    fi
    check_equal "HEAD $key through s3seal: ETag and size as before" "$expected_head" "$(proxy_head "$key")"
    if ((size > 1)); then
        first=$((size / 3))
        last=$((size - 2))
        if aws_proxy s3api get-object --bucket "$BUCKET" --key "$key" --range "bytes=$first-$last" "$got" \
            >/dev/null 2>"$WORK_DIR/get.err"; then
            check_equal "ranged GET bytes=$first-$last of $key" \
                "$(tail -c +$((first + 1)) "$plain" | head -c $((last - first + 1)) | sha256sum | cut -d' ' -f1)" \
                "$(file_sha256 "$got")"
        else
            flunk "ranged GET bytes=$first-$last of $key" "$(one_line "$WORK_DIR/get.err")"
        fi
    fi
}

check_errors() {
    local status=0
    run_rewrap >/dev/null 2>"$WORK_DIR/usage.err" || status=$?
    check_equal "rewrap without --bucket: exit status 2" 2 "$status"
    status=0
    run_rewrap --bucket "$BUCKET" --key-ref file:k1 >/dev/null 2>"$WORK_DIR/usage.err" || status=$?
    check_equal "rewrap --key-ref of a removed key: exit status 2" 2 "$status"
    status=0
    run_rewrap --bucket "$BUCKET" --prefix other/ --state-file "$WORK_DIR/rewrap.state" >/dev/null \
        2>"$WORK_DIR/usage.err" || status=$?
    check_equal "rewrap with another run's state file: exit status 2" 2 "$status"

    # an envelope copied to another bucket does not verify there
    BAD_BUCKET=$(unique_bucket_name s3seal-rotation-bad)
    create_bucket aws_backend "$BAD_BUCKET" >/dev/null 2>&1 || true
    aws_backend s3api copy-object --bucket "$BAD_BUCKET" --key moved.bin --copy-source "$BUCKET/data/one.bin" \
        >/dev/null 2>&1 || true
    aws_backend s3api put-object --bucket "$BAD_BUCKET" --key zz-plain.txt --body "$(local_name data/one.bin).plain" \
        >/dev/null 2>&1 || true
    printf 's3seal-key-v1 k3 %s\n' "$(openssl rand -base64 32)" >>"$S3SEAL_KEY_FILE"
    status=0
    run_rewrap --bucket "$BAD_BUCKET" >"$WORK_DIR/bad.out" 2>"$WORK_DIR/bad.err" || status=$?
    check_equal "rewrap of a bucket with a foreign envelope: exit status 1" 1 "$status"
    if grep -q '^s3seal rewrap: failed moved.bin: ' "$WORK_DIR/bad.err"; then
        pass "rewrap names the object that failed"
    else
        flunk "rewrap names the object that failed" "$(one_line "$WORK_DIR/bad.err")"
    fi
    check_equal "rewrap goes on after a failed object" 1 \
        "$(grep -o '[0-9]* without envelope' "$WORK_DIR/bad.out" | cut -d' ' -f1)"
    if grep -q -i -E 's3seal-key-v1|[A-Za-z0-9+/]{43}=' "$WORK_DIR"/*.out "$WORK_DIR"/*.err; then
        flunk "rewrap output contains no key material" "a key line or a base64 key in the output"
    else
        pass "rewrap output contains no key material"
    fi
}

main() {
    local t_start entry
    t_start=$(now_us)
    setup
    for entry in "${ENCRYPTED[@]}"; do
        upload "${entry%%:*}" "${entry##*:}"
    done
    upload "$PLAIN_KEY" 100
    record_before
    rotate_to_k2

    check_dry_run
    check_multipart_copy
    check_resumed_run
    check_backend_after

    remove_k1
    for entry in "${ENCRYPTED[@]}"; do
        check_read_back "${entry%%:*}" "${entry##*:}"
    done
    check_read_back "$PLAIN_KEY" 100
    check_errors

    note "$checks checks, $failures failed, $(elapsed_s "$t_start") s"
    if ((failures > 0)); then
        exit 1
    fi
}

main "$@"
