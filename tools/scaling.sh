#!/bin/sh
# Measures weak and strong scaling of metagmm train over MPI ranks for the default Reptile and
# MAML configurations (jobs/configs/reptile-anchored.ini, maml-anchored.ini) on the default task
# set; tools/scaling.py turns its output into efficiencies, a table and a plot.
#   weak:   PER_RANK tasks per rank per meta-step (meta-batch PER_RANK x R; default 10)
#   strong: a fixed meta-batch of BATCH (default 160)
# Each run prints one line: "config=NAME kind=weak|strong ranks=R batch=B <train's timing line>".
# Usage: tools/scaling.sh WORK_DIR [RANKS...]          (default ranks: 1 2 4 8 16)
# Environment: BUNDLE=DIR runs a tools/device/make-bundle.sh bundle (a machine without our
# packages); otherwise build/release/metagmm and mpirun. STEPS (default 2000) per run,
# PER_RANK, BATCH.
# POSIX sh: it runs on machines with nothing else installed.
set -eu
work=$1; shift
ranks=${*:-1 2 4 8 16}
steps=${STEPS:-2000}
per_rank=${PER_RANK:-10}
strong_batch=${BATCH:-160}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work"
if [ -n "${BUNDLE:-}" ]; then
  bundle=$(cd "$BUNDLE" && pwd)
  metagmm="$bundle/run.sh metagmm" mpirun="$bundle/run.sh mpirun"
  # Ranks start through the bundled loader directly: mpirun points LD_LIBRARY_PATH at the
  # bundle, which a shell of the host (run.sh) must not load.
  rank="$bundle/lib/ld-linux-x86-64.so.2 --library-path $bundle/lib $bundle/bin/metagmm"
  export PMIX_MCA_pcompress_base_silence_warning=1
else
  metagmm=$repo/build/release/metagmm mpirun=mpirun rank=$metagmm
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
cores=$(nproc)
echo "machine: $cores cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $steps steps per run"
$metagmm generate --config "$repo/jobs/configs/anchored-2d.ini" --out "$work/tasks.h5" >/dev/null
for config in reptile maml; do
  for r in $ranks; do
    binding="--bind-to core --map-by core"
    [ "$r" -le "$cores" ] || binding="--oversubscribe"
    for kind in weak strong; do
      batch=$strong_batch
      [ $kind = strong ] || batch=$((per_rank * r))
      rm -rf "$work/run"
      line=$($mpirun $binding -np "$r" $rank train --config "$repo/jobs/configs/$config-anchored.ini" \
        --tasks "$work/tasks.h5" --run-dir "$work/run" --meta-batch $batch --steps "$steps" \
        --progress-seconds 1000 2>"$work/err" | tail -1) || true
      [ -n "$line" ] || line="failed: $(tail -3 "$work/err" | tr '\n' ' ')"
      echo "config=$config kind=$kind ranks=$r batch=$batch $line"
    done
  done
done
