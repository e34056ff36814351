#!/usr/bin/env bash
# The main job on the built-in default example: installs what is missing, builds, generates the
# default task set (anchored family, 2-d, 4 components), fits eight of its tasks by EM from
# k-means++ (a table beside the log-likelihood of the true parameters), then meta-trains a
# Reptile initialisation (build/example/run) and a second-order MAML initialisation with learned
# inner step sizes (build/example/maml) on it under mpirun with two ranks, and compares them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh build
BUILD_TARGET=metagmm bash tools/build.sh build/release >/dev/null
metagmm=build/release/metagmm
out=build/example
mkdir -p "$out"
$metagmm generate --config jobs/anchored-2d.ini --out "$out/tasks.h5"
$metagmm inspect "$out/tasks.h5" | head -6
echo
printf "%6s %7s %11s %15s %15s\n" task points iterations "loglik (EM)" "loglik (truth)"
for task in 900 901 902 903 904 905 906 907; do
  report=$($metagmm fit --data "$out/tasks.h5:$task" --components 4 --covariance diag --out "$out/fit_$task.h5")
  points=$(awk '/^data/ {print $(NF-4)}' <<<"$report")
  iterations=$(awk '/^em/ {print $2}' <<<"$report")
  fitted=$(awk '/^loglik/ {print $2}' <<<"$report")
  truth=$(awk '/^truth/ {print $2}' <<<"$report")
  printf "%6s %7s %11s %15s %15s\n" "$task" "$points" "$iterations" "$fitted" "$truth"
done
echo
echo "fitted models and assignments: $out/fit_*.h5, $out/fit_*.assignments.csv"

echo
echo "== meta-training: Reptile, 2 MPI ranks (jobs/reptile-anchored.ini)"
rm -rf "$out/run"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe -np 2 $metagmm train --config jobs/reptile-anchored.ini --tasks "$out/tasks.h5" \
  --run-dir "$out/run" --progress-seconds 1 2>&1 | grep --line-buffered -v -e '^[a-z0-9-]* = ' -e '^configuration:'
echo
echo "validation: mean query log-likelihood per point after 5 adaptation steps, by meta-step"
grep -v '"validation_loglik": null' "$out/run/metrics.jsonl" | sed 's/[{}"]//g'
echo "checkpoints and metrics: $out/run (continue it with: $metagmm train --run-dir $out/run --resume auto --steps 4000)"

echo
echo "== meta-training: second-order MAML with learned step sizes, 2 MPI ranks (jobs/maml-anchored.ini)"
rm -rf "$out/maml"
mpirun --oversubscribe -np 2 $metagmm train --config jobs/maml-anchored.ini --tasks "$out/tasks.h5" \
  --run-dir "$out/maml" --progress-seconds 1 2>&1 | grep --line-buffered -v -e '^[a-z0-9-]* = ' -e '^configuration:'
$metagmm inspect "$out/maml/checkpoint-000000002000.h5" | grep -e '^step sizes' -e '^validation  '
echo
echo "held-out query log-likelihood per point after 5 adaptation steps on 10 support points (validation split):"
for run in run maml; do
  printf "  %-8s %s\n" "$([ $run = run ] && echo reptile || echo maml)" \
    "$(grep -v '"validation_loglik": null' "$out/$run/metrics.jsonl" | tail -1 | sed 's/.*"validation_loglik": \([-0-9.]*\).*/\1/')"
done

echo
echo "== ProtoNet on the warped family (jobs/warped-2d.ini), 2 MPI ranks (jobs/protonet-warped.ini)"
$metagmm generate --config jobs/warped-2d.ini --out "$out/warped.h5"
rm -rf "$out/protonet" "$out/protonet-eval"
mpirun --oversubscribe -np 2 $metagmm train --config jobs/protonet-warped.ini --tasks "$out/warped.h5" \
  --run-dir "$out/protonet" --progress-seconds 1 2>&1 | grep --line-buffered -v -e '^[a-z0-9-]* = ' -e '^configuration:'
echo
echo "held-out tasks: few-shot accuracy, and clustering whole tasks by EM in the embedding against raw points"
$metagmm eval --checkpoint "$out/protonet/checkpoint-000000001500.h5" --out "$out/protonet-eval" \
  --ways 3 --shots 5 --queries 10 --head-tasks 40
