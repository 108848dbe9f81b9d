# shellcheck shell=bash
# The aws-cli workflow that awscli2.sh and awscli1.sh run, with aws-cli's
# default transfer settings: 8 MiB multipart threshold and part size, and 10
# concurrent requests. Source after tests/compat/lib.sh.

# The big file is above the multipart threshold, so "s3 cp" uploads it in
# 8 MiB parts (12 of 8 MiB and one of 4 MiB) and downloads it with parallel
# ranged GETs.
AWSCLI_BIG_SIZE=$((100 * MIB))
AWSCLI_SMALL_SIZE=$((MIB + 12345))
AWSCLI_CMD=()
AWSCLI_ENDPOINT=""

# Writes an aws-cli config with the default transfer settings to $1. It
# keeps lib.sh's max_attempts = 1, so that a failed request fails the check.
write_default_aws_config() {
    printf '[default]\noutput = json\nretry_mode = standard\nmax_attempts = 1\ns3 =\n    addressing_style = path\n' >"$1"
}

# Runs AWSCLI_CMD against AWSCLI_ENDPOINT with the client credentials. Over
# HTTPS it trusts only the test CA.
awscli_run() {
    local tls=()
    if [[ $AWSCLI_ENDPOINT == https://* ]]; then
        tls=(--ca-bundle "$TEST_CA_FILE")
    fi
    AWS_CONFIG_FILE=$WORK_DIR/aws-default.config \
        AWS_ACCESS_KEY_ID=$CLIENT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CLIENT_SECRET_KEY \
        AWS_DEFAULT_REGION=$REGION "${AWSCLI_CMD[@]}" "${tls[@]}" --endpoint-url "$AWSCLI_ENDPOINT" "$@"
}

# Makes the files of the workflow once per script.
awscli_make_files() {
    local data=$WORK_DIR/data
    [[ -d $data ]] && return 0
    write_default_aws_config "$WORK_DIR/aws-default.config"
    make_canary_file "$data/small.bin" "$AWSCLI_SMALL_SIZE"
    make_canary_file "$data/big.bin" "$AWSCLI_BIG_SIZE"
    make_canary_file "$data/tree/empty.bin" 0
    make_canary_file "$data/tree/one.bin" 1
    make_canary_file "$data/tree/docs/medium.bin" 71680
    make_canary_file "$data/tree/docs/deep/large.bin" $((3 * MIB + 7))
    make_canary_file "$data/tree/docs/deep/text.txt" 300
}

# Counts the lines of aws-cli output file $2 that start with "$1:", the
# record aws-cli prints for each file that "s3 sync" transfers.
count_transfers() {
    grep -c "^$1: " "$2" || true
}

awscli_cp_single() {
    local label=$1 prefix=$2 err=$WORK_DIR/awscli.err out=$WORK_DIR/small.out
    if awscli_run s3 cp --only-show-errors "$WORK_DIR/data/small.bin" "s3://$BUCKET/$prefix/small.bin" 2>"$err"; then
        pass "$label: s3 cp upload of $AWSCLI_SMALL_SIZE bytes (single PUT)"
    else
        flunk "$label: s3 cp upload of $AWSCLI_SMALL_SIZE bytes (single PUT)" "$(one_line "$err")"
        return 0
    fi
    rm -f "$out"
    if awscli_run s3 cp --only-show-errors "s3://$BUCKET/$prefix/small.bin" "$out" 2>"$err"; then
        check_same_file "$label: s3 cp download of small.bin matches SHA-256" "$WORK_DIR/data/small.bin" "$out"
    else
        flunk "$label: s3 cp download of small.bin" "$(one_line "$err")"
    fi
    rm -f "$out"
    if awscli_run s3api get-object --checksum-mode ENABLED --bucket "$BUCKET" --key "$prefix/small.bin" "$out" >/dev/null 2>"$err"; then
        check_same_file "$label: get-object --checksum-mode ENABLED matches SHA-256" "$WORK_DIR/data/small.bin" "$out"
    else
        flunk "$label: get-object --checksum-mode ENABLED" "$(one_line "$err")"
    fi
    rm -f "$out"
    check_stored_layout "$label: small.bin" "$BUCKET" "$prefix/small.bin" "$WORK_DIR/data/small.bin"
}

# Uploads the big file in 8 MiB parts and downloads it with parallel ranged
# GETs. The debug log shows the Range header of every GetObject.
awscli_cp_multipart() {
    local label=$1 prefix=$2 err=$WORK_DIR/awscli.err out=$WORK_DIR/big.out debug=$WORK_DIR/awscli-debug.log
    local ranged parts=()
    if awscli_run s3 cp --only-show-errors "$WORK_DIR/data/big.bin" "s3://$BUCKET/$prefix/big.bin" 2>"$err"; then
        pass "$label: s3 cp multipart upload of $AWSCLI_BIG_SIZE bytes"
    else
        flunk "$label: s3 cp multipart upload of $AWSCLI_BIG_SIZE bytes" "$(one_line "$err")"
        return 0
    fi
    rm -f "$out"
    if awscli_run s3 cp --debug --only-show-errors "s3://$BUCKET/$prefix/big.bin" "$out" 2>"$debug"; then
        check_same_file "$label: parallel ranged download of big.bin matches SHA-256" "$WORK_DIR/data/big.bin" "$out"
        ranged=$(grep -o "'Range': 'bytes=[0-9]*-[0-9]*'" "$debug" | sort -u | wc -l)
        check_equal "$label: download used one ranged GET per 8 MiB" 13 "$ranged"
    else
        flunk "$label: parallel ranged download of big.bin" "$(grep -m 3 -E 'Error|error' "$debug" | tr '\n' ' ' | cut -c1-600)"
    fi
    rm -f "$out" "$debug"
    for ((i = 0; i < 12; i++)); do
        parts+=($((8 * MIB)))
    done
    parts+=($((4 * MIB)))
    check_stored_layout "$label: big.bin" "$BUCKET" "$prefix/big.bin" "$WORK_DIR/data/big.bin" "${parts[@]}"
}

# Runs "s3 sync" up twice and down twice. The second run of each direction
# must find nothing to transfer.
awscli_sync() {
    local label=$1 prefix=$2 out=$WORK_DIR/sync.out down=$WORK_DIR/sync-down tree=$WORK_DIR/data/tree n_files
    n_files=$(find "$tree" -type f | wc -l)
    rm -rf "$down"
    mkdir -p "$down"
    if awscli_run s3 sync --no-progress "$tree" "s3://$BUCKET/$prefix/tree" >"$out" 2>&1; then
        check_equal "$label: first s3 sync up uploads every file" "$n_files" "$(count_transfers upload "$out")"
    else
        flunk "$label: first s3 sync up" "$(one_line "$out")"
        return 0
    fi

    if awscli_run s3 sync --no-progress "$tree" "s3://$BUCKET/$prefix/tree" >"$out" 2>&1; then
        check_equal "$label: second s3 sync up uploads nothing" 0 "$(count_transfers upload "$out")"
    else
        flunk "$label: second s3 sync up" "$(one_line "$out")"
    fi

    if awscli_run s3 sync --no-progress "s3://$BUCKET/$prefix/tree" "$down" >"$out" 2>&1; then
        check_equal "$label: first s3 sync down downloads every file" "$n_files" "$(count_transfers download "$out")"
    else
        flunk "$label: first s3 sync down" "$(one_line "$out")"
        return 0
    fi

    if diff -r "$tree" "$down" >"$WORK_DIR/sync.diff" 2>&1; then
        pass "$label: synced-down tree equals the original"
    else
        flunk "$label: synced-down tree equals the original" "$(one_line "$WORK_DIR/sync.diff")"
    fi
    if awscli_run s3 sync --no-progress "s3://$BUCKET/$prefix/tree" "$down" >"$out" 2>&1; then
        check_equal "$label: second s3 sync down downloads nothing" 0 "$(count_transfers download "$out")"
    else
        flunk "$label: second s3 sync down" "$(one_line "$out")"
    fi
}

# HeadObject and ListObjectsV2 must report plaintext sizes.
awscli_metadata() {
    local label=$1 prefix=$2 out=$WORK_DIR/s3api.out err=$WORK_DIR/awscli.err expected listed
    if awscli_run s3api head-object --bucket "$BUCKET" --key "$prefix/big.bin" >"$out" 2>"$err"; then
        check_equal "$label: head-object ContentLength is the plaintext size" "$AWSCLI_BIG_SIZE" \
            "$("$PYTHON_BIN" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ContentLength"])' "$out")"
    else
        flunk "$label: head-object" "$(one_line "$err")"
    fi
    expected=$(cd "$WORK_DIR/data" && find small.bin big.bin tree -type f -printf "$prefix/%p=%s\n" | sort | tr '\n' ' ')
    if awscli_run s3api list-objects-v2 --bucket "$BUCKET" --prefix "$prefix/" >"$out" 2>"$err"; then
        listed=$("$PYTHON_BIN" -c 'import json, sys
for o in json.load(open(sys.argv[1])).get("Contents", []):
    print(o["Key"] + "=" + str(o["Size"]))' "$out" | sort | tr '\n' ' ')
        check_equal "$label: list-objects-v2 shows every key with its plaintext size" "$expected" "$listed"
    else
        flunk "$label: list-objects-v2" "$(one_line "$err")"
    fi
}

# Deletes every key under the prefix with one DeleteObjects request.
awscli_delete() {
    local label=$1 prefix=$2 out=$WORK_DIR/s3api.out err=$WORK_DIR/awscli.err delete_json
    delete_json=$(cd "$WORK_DIR/data" && find small.bin big.bin tree -type f -printf "$prefix/%p\n" |
        "$PYTHON_BIN" -c 'import json, sys
print(json.dumps({"Objects": [{"Key": k.strip()} for k in sys.stdin]}))')
    if awscli_run s3api delete-objects --bucket "$BUCKET" --delete "$delete_json" >"$out" 2>"$err"; then
        if grep -q '"Errors"' "$out"; then
            flunk "$label: s3api delete-objects" "$(one_line "$out")"
        else
            pass "$label: s3api delete-objects"
        fi
    else
        flunk "$label: s3api delete-objects" "$(one_line "$err")"
    fi
    check_backend_empty "$label" "$BUCKET" "$prefix/"
}

# PutObject with aws-cli's default checksum: aws-cli 1.45 sends a CRC32, and
# S3 returns the checksum it verified.
awscli_put_checksum() {
    local label=$1 prefix=$2 out=$WORK_DIR/s3api.out err=$WORK_DIR/awscli.err
    if awscli_run s3api put-object --bucket "$BUCKET" --key "$prefix/put-object.bin" \
        --body "$WORK_DIR/data/small.bin" >"$out" 2>"$err"; then
        if grep -q '"ChecksumCRC32"' "$out"; then
            pass "$label: s3api put-object returns ChecksumCRC32"
        else
            flunk "$label: s3api put-object returns ChecksumCRC32" "$(one_line "$out")"
        fi
    else
        flunk "$label: s3api put-object" "$(one_line "$err")"
        return 0
    fi
    rm -f "$WORK_DIR/put-object.out"
    if awscli_run s3api get-object --checksum-mode ENABLED --bucket "$BUCKET" --key "$prefix/put-object.bin" \
        "$WORK_DIR/put-object.out" >/dev/null 2>"$err"; then
        check_same_file "$label: put-object.bin read back matches SHA-256" "$WORK_DIR/data/small.bin" "$WORK_DIR/put-object.out"
    else
        flunk "$label: get-object of put-object.bin" "$(one_line "$err")"
    fi
    if awscli_run s3api delete-object --bucket "$BUCKET" --key "$prefix/put-object.bin" >/dev/null 2>"$err"; then
        pass "$label: s3api delete-object"
    else
        flunk "$label: s3api delete-object" "$(one_line "$err")"
    fi
}

# Runs the whole workflow with label $1 under prefix $2 of BUCKET.
awscli_workflow() {
    local label=$1 prefix=$2 n_objects
    awscli_make_files
    awscli_cp_single "$label" "$prefix"
    awscli_cp_multipart "$label" "$prefix"
    awscli_sync "$label" "$prefix"
    awscli_metadata "$label" "$prefix"
    n_objects=$(find "$WORK_DIR/data" -type f | wc -l)
    check_sealed "$label" "$BUCKET" "$prefix/" "$n_objects"
    awscli_delete "$label" "$prefix"
}
