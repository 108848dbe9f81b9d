#!/usr/bin/env bash
# Checks shared by the end-to-end tests of the key providers (kms_*.sh):
# uploads and downloads through s3seal, the envelope the backend stores, and
# start-up messages. Source it after lib.sh; the functions use BUCKET,
# WORK_DIR and the helpers of lib.sh.

# Prints the value of expression $2 over the JSON file $1 (bound to d).
json_field() {
    "$PYTHON_BIN" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print("" if v is None else v)' "$1" "$2"
}

# Writes $2 random bytes to $1.
make_file() {
    head -c "$2" /dev/urandom >"$1"
}

# Uploads file $1 as key $2 through s3seal.
put_object() {
    aws_proxy s3 cp --only-show-errors "$1" "s3://$BUCKET/$2"
}

# Checks that key $3 reads back through s3seal as the bytes of file $2.
check_get() {
    local name=$1 file=$2 key=$3 out=$WORK_DIR/get.out
    rm -f "$out"
    if aws_proxy s3 cp --only-show-errors "s3://$BUCKET/$key" "$out" 2>"$WORK_DIR/get.err" && cmp -s "$file" "$out"; then
        pass "$name"
    else
        flunk "$name" "GET failed or returned other bytes: $(one_line "$WORK_DIR/get.err")"
    fi
}

# Checks that reading key $3 through s3seal fails; $2 is its plaintext, or empty.
check_get_fails() {
    local name=$1 file=$2 key=$3 out=$WORK_DIR/get.out
    rm -f "$out"
    if aws_proxy s3 cp --only-show-errors "s3://$BUCKET/$key" "$out" 2>"$WORK_DIR/get.err"; then
        flunk "$name" "GET succeeded$([[ -n $file ]] && cmp -s "$file" "$out" && echo ' with the plaintext')"
    else
        pass "$name"
    fi
}

# Prints the s3seal-kms metadata value that the backend stores for key $1.
backend_kms_id() {
    aws_backend s3api head-object --bucket "$BUCKET" --key "$1" >"$WORK_DIR/raw-head.json"
    json_field "$WORK_DIR/raw-head.json" "(d.get('Metadata') or {}).get('s3seal-kms')"
}

# Copies the s3seal-* metadata of key $2 onto key $1 on the backend, leaving
# the body of $1 in place.
swap_envelope() {
    local target=$1 source=$2 metadata
    aws_backend s3api head-object --bucket "$BUCKET" --key "$source" >"$WORK_DIR/source-head.json"
    metadata=$(json_field "$WORK_DIR/source-head.json" "__import__('json').dumps(d.get('Metadata') or {})")
    aws_backend s3api copy-object --bucket "$BUCKET" --key "$target" --copy-source "$BUCKET/$target" \
        --metadata-directive REPLACE --metadata "$metadata" >/dev/null
}

# Runs "s3seal check-config" with the settings of lib.sh plus "$@" and
# checks that it fails with a message that contains $2.
check_config_fails() {
    local name=$1 expected=$2 out=$WORK_DIR/check-config.out
    shift 2
    if env S3SEAL_BACKEND_URL="$BACKEND_ENDPOINT" S3SEAL_BACKEND_ACCESS_KEY_ID="$BACKEND_ACCESS_KEY" \
        S3SEAL_BACKEND_SECRET_ACCESS_KEY="$BACKEND_SECRET_KEY" S3SEAL_ACCESS_KEY_ID="$CLIENT_ACCESS_KEY" \
        S3SEAL_SECRET_ACCESS_KEY="$CLIENT_SECRET_KEY" "$@" "$(s3seal_bin_path)" check-config >"$out" 2>&1; then
        flunk "$name" "check-config succeeded"
    elif grep -qF -- "$expected" "$out"; then
        pass "$name"
    else
        flunk "$name" "message lacks '$expected': $(one_line "$out")"
    fi
}
