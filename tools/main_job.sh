#!/usr/bin/env bash
# The main job on the built-in default example: installs what is missing, builds, generates the
# default task set (jobs/configs/anchored-2d.ini: anchored family, 2-d, 4 components, 700 test tasks),
# meta-trains a Reptile and a second-order MAML initialisation (learned inner step sizes) on it
# under mpirun with two ranks, evaluates both on the test tasks against EM from k-means++ and
# random starts, the pooled model (EM and MAP) and the true parameters, prints the table and
# writes the plot (build/example/eval/loglik.png). Then fits one new task from the MAML
# initialisation (the way to use a trained model) and runs ProtoNet on the warped family.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh main
BUILD_TARGET=metagmm bash tools/build.sh build/release >/dev/null
metagmm=build/release/metagmm
out=build/example
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
METAGMM=$metagmm bash tools/experiments/benchmark_eval.sh jobs/configs/anchored-2d.ini jobs/configs/reptile-anchored.ini jobs/configs/maml-anchored.ini "$out"

echo
echo "== using the model: a new task fitted from the MAML initialisation by its own 5 adaptation steps"
maml=$(ls "$out"/maml/checkpoint-*.h5 | tail -1)
task=$(h5dump -d /task -s 0 -c 1 "$out/eval/eval.h5" | awk '/\(0\):/ {print $2}')
echo "   $metagmm fit --data $out/tasks.h5:$task --init $maml --out $out/fit_new.h5"
$metagmm fit --data "$out/tasks.h5:$task" --init "$maml" --out "$out/fit_new.h5"

echo
echo "== ProtoNet on the warped family (jobs/configs/warped-2d.ini), 2 MPI ranks (jobs/configs/protonet-warped.ini)"
$metagmm generate --config jobs/configs/warped-2d.ini --out "$out/warped.h5" >/dev/null
rm -rf "$out/protonet" "$out/protonet-eval"
mpirun --oversubscribe -np 2 $metagmm train --config jobs/configs/protonet-warped.ini --tasks "$out/warped.h5" \
  --run-dir "$out/protonet" --progress-seconds 2 2>&1 | grep --line-buffered -v -e '^[a-z0-9-]* = ' -e '^configuration:'
echo
echo "held-out tasks: few-shot accuracy, and clustering whole tasks by EM in the embedding against raw points"
$metagmm eval --checkpoint "$out/protonet/checkpoint-000000001500.h5" --out "$out/protonet-eval" \
  --ways 3 --shots 5 --queries 10 --head-tasks 40
