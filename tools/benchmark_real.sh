#!/usr/bin/env bash
# The real-data benchmark from a fresh clone: installs what is missing (the build and test
# packages, the two data packages ferret-datasets and dataset-fashion-mnist), builds, imports the
# Levitus ocean climatology and Fashion-MNIST with metagmm import, meta-trains the learners and
# evaluates them against the classical baselines (tools/experiments/benchmark_real.py, whose
# docstring says exactly what runs). Writes build/real/grid.md and build/real/real-levitus.png;
# with --write also docs/results.md's real-data section and docs/results/real-levitus.png.
# Usage: tools/benchmark_real.sh [--write] [--steps N] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash tools/install_deps.sh test
missing=()
for package in ferret-datasets dataset-fashion-mnist; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
BUILD_TARGET=metagmm bash tools/build.sh build/release >/dev/null
METAGMM=build/release/metagmm /usr/bin/python3 tools/experiments/benchmark_real.py "$@"
echo "benchmark_real: $(( $(date +%s) - started )) s in all, installing and building included"
