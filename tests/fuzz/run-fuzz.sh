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
# every target of tests/fuzz/CMakeLists.txt, each with a seed corpus in tests/fuzz/corpus/<target>/
targets=(
    fuzz_aws_chunked fuzz_sigv4_canonical fuzz_request_head fuzz_range fuzz_list_xml fuzz_multipart_xml
    fuzz_envelope fuzz_admin_meta fuzz_chunk_stream fuzz_ssec fuzz_part_search fuzz_kmip_ttlv
)
jobs="$(nproc)"
jobs=$((jobs > 2 ? 2 : jobs))
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

status=0
for target in "${targets[@]}"; do
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
