#!/usr/bin/env bash
# aws-cli 2 (/usr/bin/aws, Debian's awscli) through s3seal over HTTP and
# HTTPS with its default transfer settings: "s3 cp" of a 1 MiB file (single
# PUT) and of a 100 MiB file (8 MiB parts, parallel ranged download), "s3
# sync" up and down twice, s3api head-object, list-objects-v2 and
# delete-objects (awscli_workflow.sh). Over HTTP also a 40 MiB upload with
# 5 MiB parts and an "s3 presign" GET URL used with curl. The backend must
# hold only ciphertext.
#
# Usage: bash tests/compat/awscli2.sh (run.sh runs it with the others).
# Exit status: 0 passed, 1 a check failed.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/compat/awscli_workflow.sh
source "$COMPAT_DIR/awscli_workflow.sh"

compat_install_traps

# Uploads 40 MiB with multipart_chunksize 5MB (aws-cli reads MB as MiB), so
# eight parts of 5 MiB, and checks the download and the stored parts.
check_5mib_parts() {
    local label="aws-cli 2 http, 5 MiB parts" key=$1/chunksize-5mib.bin config=$WORK_DIR/aws-5mib.config
    local src=$WORK_DIR/data-5mib.bin out=$WORK_DIR/5mib.out err=$WORK_DIR/awscli.err parts=()
    write_default_aws_config "$config"
    printf '    multipart_chunksize = 5MB\n' >>"$config"
    make_canary_file "$src" $((40 * MIB))
    if AWS_CONFIG_FILE=$config aws_proxy s3 cp --only-show-errors "$src" "s3://$BUCKET/$key" 2>"$err"; then
        pass "$label: upload of 40 MiB"
    else
        flunk "$label: upload of 40 MiB" "$(one_line "$err")"
        return 0
    fi
    if AWS_CONFIG_FILE=$config aws_proxy s3 cp --only-show-errors "s3://$BUCKET/$key" "$out" 2>"$err"; then
        check_same_file "$label: download matches SHA-256" "$src" "$out"
    else
        flunk "$label: download" "$(one_line "$err")"
    fi
    for ((i = 0; i < 8; i++)); do
        parts+=($((5 * MIB)))
    done
    check_stored_layout "$label" "$BUCKET" "$key" "$src" "${parts[@]}"
    check_sealed "$label" "$BUCKET" "$key" 1
    if aws_proxy s3 rm --only-show-errors "s3://$BUCKET/$key" 2>"$err"; then
        pass "$label: s3 rm"
    else
        flunk "$label: s3 rm" "$(one_line "$err")"
    fi
    rm -f "$src" "$out"
}

# An "s3 presign" GET URL used with curl.
check_presign() {
    local label="aws-cli 2 http, s3 presign" key=$1/presign.bin out=$WORK_DIR/presign.out err=$WORK_DIR/awscli.err url status
    if ! awscli_run s3 cp --only-show-errors "$WORK_DIR/data/small.bin" "s3://$BUCKET/$key" 2>"$err"; then
        flunk "$label: upload" "$(one_line "$err")"
        return 0
    fi
    if url=$(awscli_run s3 presign "s3://$BUCKET/$key" --expires-in 300 2>"$err"); then
        status=$(curl -sS -o "$out" -w '%{http_code}' "$url" 2>"$err") || status="curl failed: $(one_line "$err")"
        check_equal "$label: GET with curl returns 200" 200 "$status"
        check_same_file "$label: GET with curl matches SHA-256" "$WORK_DIR/data/small.bin" "$out"
    else
        flunk "$label: s3 presign" "$(one_line "$err")"
    fi
    awscli_run s3 rm --only-show-errors "s3://$BUCKET/$key" 2>"$err" || flunk "$label: s3 rm" "$(one_line "$err")"
}

main() {
    local t_start
    t_start=$(now_us)
    compat_describe "aws-cli 2" "$("$AWS_BIN" --version 2>&1)" \
        "HTTP and HTTPS: s3 cp single and multipart (8 MiB parts), parallel ranged download of 100 MiB, s3 sync up and down twice, s3api head-object, list-objects-v2, delete-objects; HTTP: 5 MiB parts, s3 presign GET with curl"
    compat_setup awscli2

    AWSCLI_CMD=("$AWS_BIN")
    AWSCLI_ENDPOINT=$PROXY_HTTP_ENDPOINT
    timed awscli_workflow "aws-cli 2 http" awscli2-http
    timed check_presign awscli2-http
    timed check_5mib_parts awscli2-http
    AWSCLI_ENDPOINT=$PROXY_HTTPS_ENDPOINT
    timed awscli_workflow "aws-cli 2 https" awscli2-https

    compat_finish "$t_start"
}

main "$@"
