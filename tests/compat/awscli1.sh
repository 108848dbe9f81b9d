#!/usr/bin/env bash
# aws-cli 1.45 (the pyenv Python's awscli, run as "python3 -m awscli")
# through s3seal over HTTP and HTTPS, with its default CRC32 checksums and
# default transfer settings: the workflow of awscli_workflow.sh (as for
# aws-cli 2) and an s3api put-object that must return ChecksumCRC32. The
# backend must hold only ciphertext.
#
# Usage: bash tests/compat/awscli1.sh (run.sh runs it with the others).
# Exit status: 0 passed, 1 a check failed.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/compat/awscli_workflow.sh
source "$COMPAT_DIR/awscli_workflow.sh"

compat_install_traps

main() {
    local t_start version
    t_start=$(now_us)
    version=$("$PY_CLIENTS" -m awscli --version 2>&1) ||
        fail "'$PY_CLIENTS -m awscli' does not run; install awscli 1.x into the pyenv Python: $version"
    compat_describe "aws-cli 1" "$version" \
        "HTTP and HTTPS, default CRC32 checksums: s3api put-object, s3 cp single and multipart (8 MiB parts), parallel ranged download of 100 MiB, s3 sync up and down twice, s3api head-object, list-objects-v2, delete-objects"
    compat_setup awscli1

    AWSCLI_CMD=("$PY_CLIENTS" -m awscli)
    for scheme in http https; do
        if [[ $scheme == http ]]; then
            AWSCLI_ENDPOINT=$PROXY_HTTP_ENDPOINT
        else
            AWSCLI_ENDPOINT=$PROXY_HTTPS_ENDPOINT
        fi
        awscli_make_files
        timed awscli_put_checksum "aws-cli 1 $scheme" "awscli1-$scheme"
        timed awscli_workflow "aws-cli 1 $scheme" "awscli1-$scheme"
    done

    compat_finish "$t_start"
}

main "$@"
