#!/usr/bin/env bash
# Checks the command line of the s3seal binary; ctest runs it. --version
# must print the build facts. Every command must have a --help of the same
# shape, which "s3seal help COMMAND" repeats. Usage errors must exit 2 and
# point to --help, and docs/OPERATIONS.md must list each command's exit
# statuses.
#
# Usage: bash tests/cli/cli.sh S3SEAL_BINARY
set -uo pipefail

BIN=${1:?usage: cli.sh S3SEAL_BINARY}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COMMANDS=(serve check-config keygen inspect decrypt rewrap version)
WORK=$(mktemp -d /tmp/s3seal-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0

check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf 'cli: FAILED: %s\n' "$name"
    fi
}
# run ARGS...: runs the binary with an empty S3SEAL_* environment; sets rc, out, err.
run() {
    local v
    local -a unset_args=()
    for v in $(compgen -e | grep '^S3SEAL_'); do
        unset_args+=(-u "$v")
    done
    env "${unset_args[@]}" "$BIN" "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    out=$(cat "$WORK/out")
    err=$(cat "$WORK/err")
}

# --version and version: the version line, then the build facts.
run --version
check "--version exits 0" test "$rc" = 0
check "--version starts with 's3seal X.Y.Z'" grep -Eq '^s3seal [0-9]+\.[0-9]+\.[0-9]+$' <<<"${out%%$'\n'*}"
for fact in "commit: " "build type: " "OpenSSL: " "libevent: " "libcurl: " "llhttp: "; do
    check "--version prints '$fact'" grep -q "^$fact" <<<"$out"
done
version_out=$out
run version
check "'version' prints the same as '--version'" test "$out" = "$version_out"

# Every command: --help on stdout with exit 0, the same text from "help COMMAND".
run --help
usage=$out
check "--help exits 0" test "$rc" = 0
for cmd in "${COMMANDS[@]}"; do
    run "$cmd" --help
    check "$cmd --help exits 0" test "$rc" = 0
    check "$cmd --help starts with 'Usage: s3seal $cmd'" grep -q "^Usage: s3seal $cmd" <<<"${out%%$'\n'*}"
    check "$cmd --help states the exit statuses" grep -q '^Exit status: ' <<<"$out"
    check "$cmd --help writes nothing to stderr" test -z "$err"
    help_out=$out
    run help "$cmd"
    check "'help $cmd' prints '$cmd --help'" test "$out" = "$help_out"
    check "the top-level usage lists $cmd" grep -q "^  $cmd" <<<"$usage"
    check "docs/OPERATIONS.md lists the exit statuses of $cmd" \
        grep -q "^| \`s3seal $cmd\`" "$REPO_ROOT/docs/OPERATIONS.md"
done

# Usage errors: exit 2, one pointer to the command's --help, no help text dump.
for cmd in "${COMMANDS[@]}"; do
    if [[ $cmd == version ]]; then
        run "$cmd" unexpected-word
    else
        run "$cmd" --no-such-option
    fi
    check "$cmd with a bad option exits 2" test "$rc" = 2
    check "$cmd with a bad option points to '$cmd --help'" grep -q "see 's3seal $cmd --help'" <<<"$err"
    check "$cmd with a bad option does not dump the help" test "$(grep -c '^Usage:' <<<"$err")" = 0
done
run no-such-command
check "an unknown command exits 2" test "$rc" = 2
check "an unknown command is named in the error" grep -q "unknown command 'no-such-command'" <<<"$err"
run
check "no command exits 2" test "$rc" = 2

# keygen: the errors name the value and what to do.
run keygen
check "keygen without --out exits 2" test "$rc" = 2
check "keygen without --out names the option" grep -q "missing --out FILE" <<<"$err"
run keygen --out "$WORK/master.key"
check "keygen writes a key file" test "$rc" = 0
check "the key file has mode 0600" test "$(stat -c %a "$WORK/master.key")" = 600
run keygen --out "$WORK/master.key"
check "keygen refuses an existing file with exit 1" test "$rc" = 1
check "keygen names the existing file" grep -q "$WORK/master.key already exists" <<<"$err"
run keygen --out "$WORK/other.key" --key-id 'bad id'
check "keygen names an invalid key id" grep -q "invalid key id 'bad id'" <<<"$err"

# check-config: exit 1 with the missing setting named.
run check-config
check "check-config without settings exits 1" test "$rc" = 1
check "check-config names the missing setting" grep -q "S3SEAL_BACKEND_URL" <<<"$err"

printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
