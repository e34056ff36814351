#!/usr/bin/env bash
# ProtoNet on scikit-learn's handwritten digits (README "ProtoNet on the digits"): imports
# digits.csv.gz with meta-train digits 0-4 and test digits 5-9 (validation: 20% of each train
# digit's images), meta-trains with R ranks (jobs/configs/protonet-digits.ini), and evaluates 5-way
# 1-shot and 5-shot accuracy over 1000 episodes, with and without refinement, beside raw pixels,
# on the test digits and on the held-out images of the train digits.
# Usage: tools/experiments/protonet_digits.sh [RANKS (default 4)] [BUILD (default build/release)]
set -euo pipefail
cd "$(dirname "$0")/../.."
ranks=${1:-4}
build=${2:-build/release}
metagmm=$build/metagmm
digits=$(/usr/bin/python3 -c 'import os, sklearn; print(os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz"))')
out=$build/digits
rm -rf "$out" && mkdir -p "$out"
$metagmm import --csv "$digits" --label-column 64 --class-split 0-4::5-9 --out "$out/digits.h5"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe -np "$ranks" $metagmm train --config jobs/configs/protonet-digits.ini --tasks "$out/digits.h5" \
  --run-dir "$out/run" 2>&1 | grep -e '^metagmm train' -e '^finished' -e '^time'
checkpoint=$out/run/checkpoint-000000000300.h5
for split in test validation; do
  for shots in 1 5; do
    echo
    $metagmm eval --checkpoint "$checkpoint" --split $split --shots $shots --queries 15 --unlabelled 5 \
      --refine-steps 1 --head-tasks $([ $split = test ] && echo 1 || echo 0) --out "$out/eval-$split-$shots"
  done
done
