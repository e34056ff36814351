#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test twice: an optimised
# build (the portable default; it also compiles the libraries for x86-64-v4 as a compile-only
# check), and a build under AddressSanitizer + UndefinedBehaviorSanitizer. Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh test
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Any sanitizer report, leaks included, fails the run.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== release build"
bash tools/build.sh build/release
(cd build/release && ctest --output-on-failure -j "$(nproc)")

echo "== sanitizer build (ASan + UBSan)"
bash tools/build.sh build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMETAGMM_SANITIZE=ON -DMETAGMM_BENCHMARKS=OFF \
  -DMETAGMM_ISA_CHECKS=OFF
(cd build/asan && ctest --output-on-failure -j "$(nproc)")
