#!/bin/sh
# Measures weak and strong scaling of metagmm train over MPI ranks for the default Reptile and
# MAML configurations (jobs/configs/reptile-anchored.ini, maml-anchored.ini) on the default task
# set; tools/bench/scaling.py turns its output into efficiencies, a table and a plot.
#   weak:   PER_RANK tasks per rank per meta-step (meta-batch PER_RANK x R; default 10)
#   strong: a fixed meta-batch of BATCH (default 160)
#   independent (with INDEPENDENT=1): R one-rank trainings of PER_RANK tasks per step at once,
#           each bound to its own core and sharing nothing: how much the machine itself slows
#           a core when R are busy, the ceiling of any weak scaling on it.
# Each run prints one line: "config=NAME kind=weak|strong ranks=R batch=B steps=S <train's
# timing line>" (independent runs add "copy=I"). With two step counts in STEPS every case runs
# at both, and tools/bench/scaling.py takes the rate of the steps between them: the steady state of a
# long training, without start-up, first reads of tasks and the final checkpoint.
# Usage: tools/bench/scaling.sh WORK_DIR [RANKS...]          (default ranks: 1 2 4 8 16)
# Environment: BUNDLE=DIR runs a tools/device/make_bundle.sh bundle (a machine without our
# packages); otherwise $METAGMM (default build/release/metagmm) and $MPIRUN (default mpirun).
# STEPS (default 2000; or "S1 S2"), PER_RANK, BATCH, CONFIGS (default "reptile maml"), KINDS (default "weak strong"; empty: none),
# INDEPENDENT=1, MPI_ARGS (added to mpirun's), GENERATE_ARGS (added to generate's).
# POSIX sh: it runs on machines with nothing else installed.
set -eu
work=$1; shift
ranks=${*:-1 2 4 8 16}
step_counts=${STEPS:-2000}
per_rank=${PER_RANK:-10}
strong_batch=${BATCH:-160}
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"
if [ -n "${BUNDLE:-}" ]; then
  bundle=$(cd "$BUNDLE" && pwd)
  metagmm="$bundle/run.sh metagmm" mpirun="$bundle/run.sh mpirun"
  # Ranks start through the bundled loader directly: mpirun points LD_LIBRARY_PATH at the
  # bundle, which a shell of the host (run.sh) must not load.
  rank="$bundle/lib/ld-linux-x86-64.so.2 --library-path $bundle/lib $bundle/bin/metagmm"
  export PMIX_MCA_pcompress_base_silence_warning=1
else
  metagmm=${METAGMM:-$repo/build/release/metagmm} mpirun=${MPIRUN:-mpirun}
  rank=$metagmm
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
cores=$(nproc)
echo "machine: $cores cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); steps per run: $step_counts"
# shellcheck disable=SC2086 # GENERATE_ARGS is a list of words
$metagmm generate --config "$repo/jobs/configs/anchored-2d.ini" ${GENERATE_ARGS:-} --out "$work/tasks.h5" >/dev/null

# train CONFIG BATCH STEPS RUN_DIR [PROGRAM...]: one training; prints its timing line.
train() {
  train_config=$1 train_batch=$2 train_steps=$3 run_dir=$4
  shift 4
  rm -rf "$run_dir"
  "$@" train --config "$repo/jobs/configs/$train_config-anchored.ini" --tasks "$work/tasks.h5" --run-dir "$run_dir" \
    --meta-batch "$train_batch" --steps "$train_steps" --progress-seconds 1000 2>"$run_dir.err" | tail -1
}
# say LABEL LINE RUN_DIR: one output line, or why the run gave none.
say() {
  if [ -n "$2" ]; then echo "$1 $2"; else echo "$1 failed: $(tail -3 "$3.err" | tr '\n' ' ')"; fi
}

for config in ${CONFIGS:-reptile maml}; do
  for r in $ranks; do
    binding="--bind-to core --map-by core"
    [ "$r" -le "$cores" ] || binding="--oversubscribe"
    for steps in $step_counts; do
      for kind in ${KINDS-weak strong}; do
        batch=$strong_batch
        [ $kind = strong ] || batch=$((per_rank * r))
        # shellcheck disable=SC2086 # the launcher and its options are lists of words
        line=$(train $config $batch "$steps" "$work/run" $mpirun $binding ${MPI_ARGS:-} -np "$r" $rank) || true
        say "config=$config kind=$kind ranks=$r batch=$batch steps=$steps" "$line" "$work/run"
      done
      [ "${INDEPENDENT:-0}" = 1 ] || continue
      i=0
      while [ $i -lt "$r" ]; do
        pin=""
        command -v taskset >/dev/null && [ "$r" -le "$cores" ] && pin="taskset -c $i"
        # shellcheck disable=SC2086
        (train $config "$per_rank" "$steps" "$work/alone$i" $pin $metagmm >"$work/alone$i.line" || true) &
        i=$((i + 1))
      done
      wait
      i=0
      while [ $i -lt "$r" ]; do
        say "config=$config kind=independent ranks=$r batch=$per_rank steps=$steps copy=$i" \
          "$(cat "$work/alone$i.line")" "$work/alone$i"
        i=$((i + 1))
      done
    done
  done
done
