#!/bin/sh
# Weak scaling of metagmm train over MPI ranks with the self-contained bundle of
# tools/device/make_bundle.sh (for a machine without our packages). 10 tasks per rank per
# meta-step, default validation and checkpoint settings; prints each run's timing line.
# Usage: tools/device/scaling.sh BUNDLE WORK_DIR [RANKS...]   (default ranks: 1 2 4 8 16)
set -eu
bundle=$(cd "$1" && pwd) work=$2; shift 2
ranks=${*:-1 2 4 8 16}
mkdir -p "$work"
run="$bundle/run.sh"
# Ranks start through the bundled loader directly: mpirun points LD_LIBRARY_PATH at the bundle,
# which a shell of the host (run.sh) must not load.
rank="$bundle/lib/ld-linux-x86-64.so.2 --library-path $bundle/lib $bundle/bin/metagmm"
export PMIX_MCA_pcompress_base_silence_warning=1
echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for case in "small 4 2 200 3000" "large 16 32 1000 200"; do
  set -- $case
  name=$1 components=$2 dim=$3 support=$4 steps=$5
  tasks="$work/$name.h5"
  "$run" metagmm generate --family anchored --dim "$dim" --components "$components" --tasks 400 \
    --points "$((support + 20)):$((support + 20))" --seed 1 --out "$tasks" > /dev/null
  echo "== $name: K=$components d=$dim N=$support, 5 inner SGD steps, 10 tasks per rank per step"
  for r in $ranks; do
    rm -rf "$work/run-$name-$r"
    line=$("$run" mpirun --bind-to core --map-by core -np "$r" $rank train --tasks "$tasks" \
      --run-dir "$work/run-$name-$r" --components "$components" --support "$support" --query 20 \
      --meta-batch $((10 * r)) --inner-steps 5 --inner-lr 0.1 --steps "$steps" 2>"$work/err-$name-$r" | tail -1) || true
    [ -n "$line" ] || line="failed: $(tail -3 "$work/err-$name-$r")"
    echo "ranks $r: $line"
  done
done
