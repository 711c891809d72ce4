#!/usr/bin/env bash
# Builds tidegate with AddressSanitizer and UndefinedBehaviorSanitizer in
# build-asan/ and runs the unit and system tests against it. A sanitizer
# report aborts the process, so it fails the test that caused it. The fuzz
# test already runs its targets under ASan+UBSan and is not repeated here.
#
#   tools/sanitize.sh [build|test]    default: both; CI builds in the
#                                     background while other tests run (.ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
step="${1:-all}"
case "$step" in all|build|test) ;; *) echo "usage: sanitize.sh [build|test]" >&2; exit 2 ;; esac
if [ "$step" != test ]; then
  flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS="-O1 $flags" -DCMAKE_EXE_LINKER_FLAGS="$flags"
  cmake --build build-asan -j2
fi
if [ "$step" != build ]; then
  export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:halt_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  ctest --test-dir build-asan --output-on-failure -E '^fuzz$'
fi
