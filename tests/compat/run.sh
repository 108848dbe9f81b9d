#!/usr/bin/env bash
# Runs the client compatibility scripts of tests/compat against one Ceph RGW
# and two s3seal processes (HTTP and HTTPS) that this runner starts for all
# of them. Then writes a Markdown table of the results: client, version seen
# at run time, workflows, result and script.
#
# Usage: bash tests/compat/run.sh [--results FILE] [--build-label TEXT] [CLIENT...]
#   CLIENT        a script name without ".sh" (awscli2, s3fs, ...); all when
#                 none is given
#   --results     where to write the table (tests/compat/results.md)
#   --build-label the build named in the table's heading ("normal")
# Environment: as for tests/integration/lib.sh (S3SEAL_BIN, RGW_PORT, ...).
#
# Exit status: 0 when every script passed or cannot run here, 1 otherwise.
# tests/compat/update-readme.py copies the table into README.md.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_CLIENTS=(awscli2 awscli1 boto3 boto3-debian s3cmd rclone restic sdk-js-v3 minio-js s3fs)
RESULTS_FILE=$COMPAT_DIR/results.md
BUILD_LABEL=normal
CLIENTS=()
ROWS=()
RUN_FAILED=0

usage() {
    printf 'usage: %s [--results FILE] [--build-label TEXT] [CLIENT...]\n' "$0" >&2
    printf 'clients: %s\n' "${ALL_CLIENTS[*]}" >&2
}

# Prints the value of the "# NAME: " line in script output file $2.
output_field() {
    sed -n "s/^# $1: //p" "$2" | head -n 1
}

# Escapes a value for a Markdown table cell.
cell() {
    local value=${1//|/\\|}
    printf '%s' "${value//$'\n'/ }"
}

# Prints the first three checks in output file $1 that match pattern $2,
# each cut to 120 characters. A known limitation loses its detail, a failed
# check keeps the start of it.
check_names() {
    local lines
    if [[ $2 == *TODO* ]]; then
        lines=$(grep -E "$2" "$1" || true)
    else
        lines=$(grep -E "$2" "$1" | grep -v ' # TODO ' || true)
    fi
    printf '%s\n' "$lines" | head -n 3 | sed -E 's/^not ok - //; s/: [^:]* # TODO .*$//' | cut -c1-120 |
        paste -sd ';' | sed 's/;/; /g'
}

# Runs client script $1 and adds its row to ROWS.
run_client() {
    local client=$1 script=tests/compat/$1.sh out=$WORK_DIR/$1.out rc=0 t_start result
    local n_ok n_bad n_known version workflows name
    note "=== $client"
    t_start=$(now_us)
    COMPAT_ENV_FILE=$WORK_DIR/compat.env bash "$REPO_ROOT/$script" >"$out" 2>"$WORK_DIR/$client.err" || rc=$?
    cat "$out"
    n_ok=$(grep -c '^ok - ' "$out" || true)
    n_bad=$(grep '^not ok - ' "$out" | grep -c -v ' # TODO ' || true)
    n_known=$(grep -c '^not ok - .* # TODO ' "$out" || true)
    name=$(output_field client "$out")
    version=$(output_field version "$out")
    workflows=$(output_field workflows "$out")

    if ((rc == COMPAT_CANNOT_RUN)); then
        result="cannot run here: $(output_field 'cannot run here' "$out")"
    elif ((rc == 0 && n_bad == 0 && n_ok > 0)); then
        result="passed ($n_ok checks)"
        if ((n_known > 0)); then
            result="passed ($n_ok checks) with $n_known known limitations: $(check_names "$out" ' # TODO ')"
        fi
    else
        RUN_FAILED=1
        result="FAILED ($n_bad of $((n_ok + n_bad + n_known)) checks, exit status $rc): $(check_names "$out" '^not ok - ')"
        if ((n_bad == 0)); then
            result="FAILED (exit status $rc): $(tail -n 3 "$WORK_DIR/$client.err" | tr '\n' ' ' | cut -c1-300)"
        fi
        tail -n 40 "$WORK_DIR/$client.err" >&2
    fi
    note "$client: $result, $(elapsed_s "$t_start") s"
    ROWS+=("| $(cell "${name:-$client}") | $(cell "${version:-unknown}") | $(cell "$workflows") | $(cell "$result") | \`$script\` |")
}

write_results() {
    local seconds=$1 commit rgw_version tmp=$RESULTS_FILE.tmp row
    commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -v 'results.md$' || true) ]]; then
        commit="$commit with uncommitted changes"
    fi
    rgw_version="Ceph RGW $(radosgw --version 2>/dev/null | awk '{print $3; exit}')"
    [[ $BACKEND_KIND == external ]] && rgw_version="$BACKEND_ENDPOINT"
    {
        # shellcheck disable=SC2016 # the backquotes are Markdown code spans
        printf 'Produced by `bash tests/compat/run.sh` on %s, commit %s, %s build of s3seal (`%s`), backend %s; the suite took %s s.\n\n' \
            "$(date -u '+%Y-%m-%d %H:%M UTC')" "$commit" "$BUILD_LABEL" "$(s3seal_bin_path)" "$rgw_version" "$seconds"
        printf '| Client | Version | Workflows | Result | Script |\n'
        printf '|--------|---------|-----------|--------|--------|\n'
        for row in "${ROWS[@]}"; do
            printf '%s\n' "$row"
        done
    } >"$tmp"
    mv "$tmp" "$RESULTS_FILE"
    note "wrote $RESULTS_FILE"
}

main() {
    local t_start client
    while (($# > 0)); do
        case $1 in
            --results)
                RESULTS_FILE=$2
                shift
                ;;
            --build-label)
                BUILD_LABEL=$2
                shift
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            -*)
                usage
                fail "unknown option '$1'"
                ;;
            *)
                [[ -f $COMPAT_DIR/$1.sh && " ${ALL_CLIENTS[*]} " == *" $1 "* ]] || {
                    usage
                    fail "unknown client '$1'"
                }
                CLIENTS+=("$1")
                ;;
        esac
        shift
    done
    ((${#CLIENTS[@]} > 0)) || CLIENTS=("${ALL_CLIENTS[@]}")

    t_start=$(now_us)
    testlib_init compat-run
    s3seal_check_bin
    compat_install_traps
    backend_start
    compat_start_proxies
    compat_write_env "$WORK_DIR/compat.env"

    for client in "${CLIENTS[@]}"; do
        run_client "$client"
    done

    # The shared s3seal processes must stop cleanly and log no sanitizer
    # report; these checks belong to no single client.
    compat_stop_proxies
    if ((failures > 0)); then
        RUN_FAILED=1
    fi
    write_results "$(elapsed_s "$t_start")"
    cat "$RESULTS_FILE"
    ((RUN_FAILED == 0)) || exit 1
}

main "$@"
