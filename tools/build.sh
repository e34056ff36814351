#!/usr/bin/env bash
# Configures and builds one build directory, with the tests and benchmarks (a plain build of
# the binary alone: cmake -S . -B build && cmake --build build).
# Usage: [BUILD_TARGET=target] tools/build.sh DIR [cmake options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON -DMETAGMM_BENCHMARKS=ON "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${BUILD_TARGET:-all}"
