#!/usr/bin/env bash
# One meta-learning benchmark from start to finish: generates a task set, meta-trains a Reptile
# and a MAML initialisation on it under mpirun, and evaluates both against the baselines on the
# test split (metagmm eval --plot). Used by the main job and by tools/experiments/results.sh.
# Usage: tools/experiments/benchmark_eval.sh TASKS.ini REPTILE.ini MAML.ini OUT_DIR [eval options ...]
# Environment: METAGMM (default build/release/metagmm), RANKS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 4 ] || { echo "usage: $0 TASKS.ini REPTILE.ini MAML.ini OUT_DIR [eval options ...]" >&2; exit 2; }
tasks_config=$1 reptile_config=$2 maml_config=$3 out=$4
shift 4
metagmm=${METAGMM:-build/release/metagmm}
ranks=${RANKS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe -np "$ranks")
# The configuration echo of train and eval is long; the job keeps progress and results.
quiet() { grep --line-buffered -v -e '^[a-z0-9-]* = ' -e '^configuration:' || true; }

mkdir -p "$out"
echo "== task set: $metagmm generate --config $tasks_config --out $out/tasks.h5"
$metagmm generate --config "$tasks_config" --out "$out/tasks.h5" >/dev/null
$metagmm inspect "$out/tasks.h5" | sed -n '2,6p'
for algo in reptile maml; do
  config=$reptile_config; [ $algo = maml ] && config=$maml_config
  echo
  echo "== meta-training, $ranks MPI ranks: ${mpi[*]} $metagmm train --config $config --tasks $out/tasks.h5 --run-dir $out/$algo"
  rm -rf "${out:?}/$algo"
  "${mpi[@]}" $metagmm train --config "$config" --tasks "$out/tasks.h5" --run-dir "$out/$algo" --progress-seconds 2 \
    2>&1 | quiet
done
checkpoint() { ls "$out/$1"/checkpoint-*.h5 | tail -1; }
echo
echo "== evaluation on the test tasks, $ranks MPI ranks:"
echo "   ${mpi[*]} $metagmm eval --checkpoint $(checkpoint reptile) $(checkpoint maml) --out $out/eval --plot $*"
rm -rf "${out:?}/eval"
"${mpi[@]}" $metagmm eval --checkpoint "$(checkpoint reptile)" "$(checkpoint maml)" --out "$out/eval" --plot "$@" 2>&1 |
  grep -v '^eval: '
