#!/usr/bin/env bash
# minio-js (tests/compat/node, installed with npm ci) through s3seal over
# HTTP: putObject of Buffer and stream bodies, a 20 MiB stream uploaded
# multipart in 5 MiB parts, statObject, getObject, getPartialObject (ranged
# GET), listObjects and removeObjects (node/minio.mjs). The backend must
# hold only ciphertext.
#
# Usage: bash tests/compat/minio-js.sh (run.sh runs it with the others).
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
    compat_describe "minio-js" "minio $(node_package_version minio), node $(node --version)" \
        "HTTP: putObject with Buffer and stream bodies, multipart stream upload (5 MiB parts), statObject, getObject, getPartialObject, listObjects, removeObjects"
    compat_setup minio-js
    timed node_workflow minio.mjs "minio-js http" minio
    compat_finish "$t_start"
}

main "$@"
