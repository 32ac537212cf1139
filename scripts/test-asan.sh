#!/usr/bin/env bash
# `make test-asan`: builds qengine with AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# test suite; any sanitizer report aborts the process and fails its test.
#   scripts/test-asan.sh [BUILD_DIR] [CTEST_REGEX]
# With CTEST_REGEX only the matching tests (and the programs tests start: qengine, the C example) are
# built and run; .ci/run uses that for a representative subset within the CI time budget.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-asan}"
regex="${2:-}"
jobs="${JOBS:-$(nproc)}"
export QENGINE_SHARED="${QENGINE_SHARED:-$(cd "$root/.." && pwd)/shared}"

# -g1: line tables only, enough for the file:line of every frame in a report, and about 30% less
# compile time than -g (CI builds this tree from scratch).
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g1"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQENGINE_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 $flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 $flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null

# Leaks are errors; reports go to stderr with a stack; the first report ends the process.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

if [ -z "$regex" ]; then
  cmake --build "$build" -j "$jobs"
  cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 1800
else
  targets=$(cd "$root/test" && ls test_*.cpp | sed 's/\.cpp$//' | grep -E "$regex" || true)
  if [ -z "$targets" ]; then
    echo "test-asan: no test matches '$regex'" >&2
    exit 2
  fi
  # shellcheck disable=SC2086
  # The programs the tests start: the CLI and the C API example.
  cmake --build "$build" -j "$jobs" --target qengine qengine_c_example $targets
  cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 1800 -R "$regex"
fi
