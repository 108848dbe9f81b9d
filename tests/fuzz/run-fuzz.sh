#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan in build-fuzz/ at
# the repository root, then runs each target for the given number of
# seconds (default 30) on a copy of its seed corpus. New inputs go to
# build-fuzz/corpus/<target>/, crashes to build-fuzz/crashes/<target>/.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build-fuzz"

CC=clang cmake -S "$root" -B "$build" -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_aws_chunked fuzz_sigv4_canonical

status=0
for target in fuzz_aws_chunked fuzz_sigv4_canonical; do
    corpus="$build/corpus/$target"
    crashes="$build/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    cp -n "$root/tests/fuzz/corpus/$target/"* "$corpus/" 2>/dev/null || true
    echo "== $target for ${seconds}s"
    if ! "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=70000 \
        -artifact_prefix="$crashes/" "$corpus"; then
        echo "$target found a failure; see $crashes" >&2
        status=1
    fi
done
exit "$status"
