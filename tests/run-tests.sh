#!/usr/bin/env bash
# Builds s3seal and runs every test: the unit tests (ctest), then the
# end-to-end tests in tests/integration against Ceph RGW. They are
# roundtrip.sh, ranges.sh, signing.sh (hand-built requests), objects.sh
# (multipart uploads, versions, copies), recovery.sh (s3seal decrypt of
# objects copied from the backend), plaintext.sh (unencrypted prefixes),
# kms_pkcs11.sh (PKCS#11 keys in SoftHSM2), kms_vault.sh (Vault transit
# provider against a test double), kms_awskms.sh (AWS KMS, served by
# moto), kms_kmip.sh (KMIP keys on a PyKMIP server), ssec.sh
# (customer-provided keys), rotation.sh (master key rotation with s3seal
# rewrap), observability.sh (metrics, health checks and the access log),
# backend_tls.sh (an https:// backend: nginx terminates TLS in front of
# RGW) and lifecycle.sh (limits, timeouts, SIGHUP reload and the graceful
# stop). Then the short modes of tests/faults/faults.sh (backend and client
# faults through a fault relay), tests/faults/tamper.sh (bit flips in stored
# objects, 300 samples) and tests/load/load.sh (20 clients, 1,000 idle
# connections); their long modes are described in tests/faults/README.md.
# Last, tests/compat/run.sh runs the workflows of real S3 clients and
# writes its results table: tests/compat/results.md for the normal build,
# build-asan/compat-results.md for the sanitizer build.
# tests/compat needs the node packages of tests/compat/node: run
# "npm ci --prefix tests/compat/node" once.
#
# Usage: bash tests/run-tests.sh [--sanitize]
#   --sanitize (or S3SEAL_SANITIZE=1) also builds with -DSANITIZE=ON
#   (AddressSanitizer and UndefinedBehaviorSanitizer) in build-asan and runs
#   the same tests with that binary.
#
# Exits non-zero if any stage fails. Prints the time of each stage.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SANITIZE=${S3SEAL_SANITIZE:-0}

usage() {
    printf 'usage: %s [--sanitize]\n' "$0" >&2
    printf '  --sanitize  also build in build-asan with -DSANITIZE=ON and run the tests there\n' >&2
}

note() {
    printf 'run-tests: %s\n' "$*" >&2
}

now_us() {
    local t=$EPOCHREALTIME
    printf '%s' "${t/./}"
}

elapsed_s() {
    local start_us=$1 end_us
    end_us=$(now_us)
    printf '%d.%02d' $(((end_us - start_us) / 1000000)) $((((end_us - start_us) / 10000) % 100))
}

SUMMARY=()
FAILED=0

# Runs stage $1 (a name for the summary) as the command "$@" after it and
# records its result and time. Returns the command's status.
run_stage() {
    local name=$1 t_start rc=0
    shift
    note "=== $name: $*"
    t_start=$(now_us)
    "$@" || rc=$?
    if ((rc == 0)); then
        SUMMARY+=("$(printf '%-34s ok      %8s s' "$name" "$(elapsed_s "$t_start")")")
    else
        SUMMARY+=("$(printf '%-34s FAILED  %8s s  (exit status %d)' "$name" "$(elapsed_s "$t_start")" "$rc")")
        FAILED=1
    fi
    return "$rc"
}

# Configures, builds and tests in build folder $1 with extra cmake arguments
# after it. Later stages are skipped when configure or build fails.
test_build() {
    local build_dir=$1 label=normal results=tests/compat/results.md
    shift
    if [[ $build_dir != build ]]; then
        label="ASan and UBSan ($build_dir)"
        results=$build_dir/compat-results.md
    fi
    run_stage "$build_dir: configure" cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" || return 0
    run_stage "$build_dir: build" cmake --build "$build_dir" --parallel "$(nproc)" || return 0
    run_stage "$build_dir: unit tests (ctest)" \
        ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" || true
    run_stage "$build_dir: integration (roundtrip.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/roundtrip.sh || true
    run_stage "$build_dir: integration (ranges.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/ranges.sh || true
    run_stage "$build_dir: integration (signing.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/signing.sh || true
    run_stage "$build_dir: integration (objects.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/objects.sh || true
    run_stage "$build_dir: integration (recovery.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/recovery.sh || true
    run_stage "$build_dir: integration (plaintext.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/plaintext.sh || true
    run_stage "$build_dir: integration (kms_pkcs11.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/kms_pkcs11.sh || true
    run_stage "$build_dir: integration (kms_awskms.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/kms_awskms.sh || true
    run_stage "$build_dir: integration (kms_vault.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/kms_vault.sh || true
    run_stage "$build_dir: integration (kms_kmip.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/kms_kmip.sh || true
    run_stage "$build_dir: integration (ssec.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/ssec.sh || true
    run_stage "$build_dir: integration (rotation.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/rotation.sh || true
    run_stage "$build_dir: integration (observability.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/observability.sh || true
    run_stage "$build_dir: integration (backend_tls.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/backend_tls.sh || true
    run_stage "$build_dir: integration (lifecycle.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/integration/lifecycle.sh || true
    run_stage "$build_dir: faults (tests/faults/faults.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/faults/faults.sh || true
    run_stage "$build_dir: tamper (tests/faults/tamper.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" TAMPER_SAMPLES=300 bash tests/faults/tamper.sh || true
    run_stage "$build_dir: load (tests/load/load.sh)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/load/load.sh || true
    run_stage "$build_dir: client compatibility (tests/compat)" \
        env S3SEAL_BIN="$build_dir/s3seal" bash tests/compat/run.sh \
        --build-label "$label" --results "$results" || true
}

main() {
    local t_start line
    while (($# > 0)); do
        case $1 in
            --sanitize) SANITIZE=1 ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage
                note "error: unknown argument '$1'"
                exit 2
                ;;
        esac
        shift
    done

    cd "$REPO_ROOT"
    t_start=$(now_us)
    test_build build
    if [[ $SANITIZE == 1 ]]; then
        # Abort on the first error report so that it cannot scroll by unseen.
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
        test_build build-asan -DSANITIZE=ON
    fi

    note "=== summary"
    for line in "${SUMMARY[@]}"; do
        printf '  %s\n' "$line" >&2
    done
    note "total $(elapsed_s "$t_start") s"
    if ((FAILED)); then
        note "FAILED: see the output of the failed stages above"
        exit 1
    fi
    note "all stages passed"
}

main "$@"
