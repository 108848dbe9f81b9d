#!/usr/bin/env bash
# The AWS SDK for JavaScript v3 (tests/compat/node, installed with npm ci)
# through s3seal over HTTP with the SDK's default checksums: PutObject of
# Buffer and stream bodies, @aws-sdk/lib-storage multipart upload in 5 MiB
# parts, GetObject with and without Range, ListObjectsV2 and DeleteObjects
# (node/sdkv3.mjs). The backend must hold only ciphertext.
#
# Usage: bash tests/compat/sdk-js-v3.sh (run.sh runs it with the others).
# Exit status: 0 passed, 1 a check failed.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/compat/node_workflow.sh
source "$COMPAT_DIR/node_workflow.sh"

compat_install_traps

main() {
    local t_start
    t_start=$(now_us)
    node_check_packages
    compat_describe "AWS SDK for JavaScript v3" \
        "@aws-sdk/client-s3 $(node_package_version @aws-sdk/client-s3), @aws-sdk/lib-storage $(node_package_version @aws-sdk/lib-storage), node $(node --version)" \
        "HTTP, default CRC32 checksums: PutObject with Buffer and stream bodies, lib-storage multipart upload (5 MiB parts), GetObject with and without Range, ListObjectsV2, DeleteObjects"
    compat_setup sdk-js-v3
    timed node_workflow sdkv3.mjs "sdk-js-v3 http" sdkv3
    compat_finish "$t_start"
}

main "$@"
