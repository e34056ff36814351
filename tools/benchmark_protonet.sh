#!/usr/bin/env bash
# The ProtoNet benchmark on unseen classes from a fresh clone: installs what is missing (the build
# and test packages, dataset-fashion-mnist), fetches Debian's opencv-doc package with apt-get
# download and extracts LetterRecognition from it (not installed: only its data file is used),
# builds, and runs tools/experiments/benchmark_protonet.py (whose docstring says exactly what
# runs). Writes build/protonet/grid.md; with --write also docs/results.md's ProtoNet section.
# Usage: tools/benchmark_protonet.sh [--write] [--steps N] [--datasets letters,digits-a,...]
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
out=build/protonet
mkdir -p "$out"
bash tools/install_deps.sh test
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
if ! dpkg-query -W -f='${Status}' dataset-fashion-mnist 2>/dev/null | grep -q "install ok installed"; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null
fi
letters=usr/share/doc/opencv-doc/examples/data/letter-recognition.data
if [ ! -s "$out/letter-recognition.data" ]; then
  work=$(mktemp -d)
  (cd "$work" && apt-get download opencv-doc >/dev/null 2>&1 || { $sudo apt-get update -qq && apt-get download opencv-doc >/dev/null; })
  dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb | tar -x -C "$work" "./$letters"
  mv "$work/$letters" "$out/letter-recognition.data"
  rm -rf "$work"
fi
BUILD_TARGET=metagmm bash tools/build.sh build/release >/dev/null
METAGMM=build/release/metagmm /usr/bin/python3 tools/experiments/benchmark_protonet.py --out "$out" "$@"
echo "benchmark_protonet: $(( $(date +%s) - started )) s in all, installing and building included"
