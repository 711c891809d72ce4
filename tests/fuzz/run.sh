#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang++ (ASan + UBSan) in a
# build directory of their own and runs each for a bounded time over a copy of
# its seed corpus. Exits non-zero when a target crashes, fails a check, trips
# a sanitizer or times out; the input that did it is kept in the artifacts
# directory.
#
#   tests/fuzz/run.sh [target...]     targets: fuzz_codec_v311 fuzz_codec_v5 fuzz_config
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz/ at the repository root)
#   FUZZ_JOBS       parallel compile jobs (default 2)
#   FUZZ_ARTIFACTS  where crashing inputs go (default $FUZZ_BUILD_DIR/artifacts)
#
# Reproduce a crash:  $FUZZ_BUILD_DIR/bin/<target> <artifact file>
# Needs clang++ and libclang-rt-14-dev: tools/bootstrap.sh test
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${FUZZ_JOBS:-2}"
artifacts="${FUZZ_ARTIFACTS:-$build/artifacts}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_codec_v311 fuzz_codec_v5 fuzz_config)

compiler="$(command -v clang++ || command -v clang++-14 || true)"
if [ -z "$compiler" ]; then
  echo "fuzz: clang++ not found; install it with tools/bootstrap.sh test" >&2
  exit 1
fi

start=$SECONDS
mkdir -p "$build"
if ! { cmake -S "$here" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" &&
       cmake --build "$build" -j "$jobs" --target "${targets[@]}"; } >"$build/build.log" 2>&1; then
  echo "fuzz: building the targets failed; log tail:" >&2
  tail -n 40 "$build/build.log" >&2
  exit 1
fi
echo "fuzz: built ${targets[*]} in $((SECONDS - start)) s"

work="$(mktemp -d "${TMPDIR:-/tmp}/tidegate-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

failed=()
for target in "${targets[@]}"; do
  corpus_name="${target#fuzz_}"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096
        -print_final_stats=1 -artifact_prefix="$artifacts/$target-")
  [ -f "$here/${corpus_name}.dict" ] && args+=(-dict="$here/${corpus_name}.dict")
  # The fuzzer adds what it finds to its first corpus directory: a copy, not the repository.
  mkdir -p "$work/$corpus_name"
  cp "$here/corpus/$corpus_name"/* "$work/$corpus_name/"
  log="$work/$target.log"
  status=0
  "$build/bin/$target" "${args[@]}" "$work/$corpus_name" >"$log" 2>&1 || status=$?
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $target ok: $(stat number_of_executed_units) runs in ${seconds} s," \
      "$(stat average_exec_per_sec) exec/s, $(ls "$work/$corpus_name" | wc -l) corpus files," \
      "peak RSS $(stat peak_rss_mb) MB"
  else
    echo "fuzz: $target FAILED (exit $status); log tail:"
    tail -n 60 "$log"
    echo "fuzz: crashing input kept in $artifacts/ (reproduce: $build/bin/$target <file>)"
    failed+=("$target")
  fi
done

echo "fuzz: done in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures: ${failed[*]}" >&2
  exit 1
fi
