# The job logic shared by jobs/*.sbatch (sourced after the site settings): start the ranks with
# the site's launcher, forward the warning signal to them, and requeue the job when they stopped
# at a checkpoint.

# launcher: mpirun or srun with the site's options and the job's task count.
launcher() {
  case "$METAGMM_LAUNCHER" in
    mpirun) echo mpirun $METAGMM_MPIRUN_OPTIONS -np "${SLURM_NTASKS:-1}" ;;
    srun) echo srun $METAGMM_SRUN_OPTIONS -n "${SLURM_NTASKS:-1}" ;;
    *) echo "METAGMM_LAUNCHER=$METAGMM_LAUNCHER: expected mpirun or srun" >&2; return 2 ;;
  esac
}

# Runs COMMAND ... under the launcher. SIGUSR1 (the time-limit warning, pre-emption's user
# signal) and SIGTERM reaching the batch shell go to the launcher, which passes them to every
# rank: metagmm then ends its step, writes a checkpoint and exits with status 3. Sets `status`
# (the launcher's exit status) and `signalled` (1 if a signal came).
run_forwarding_signals() {
  local -a launch
  read -r -a launch <<<"$(launcher)" || return 2
  signalled=0
  child=""
  trap 'signalled=1; [ -n "$child" ] && kill -USR1 "$child" 2>/dev/null' USR1 TERM
  "${launch[@]}" "$@" &
  child=$!
  # `wait` returns when a trapped signal arrives: wait again until the launcher has ended.
  while true; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  trap - USR1 TERM
}

# Ends the job: done, or stopped at a checkpoint (requeued: the next start resumes), or failed.
finish_or_requeue() {
  if [ "$status" -eq 0 ]; then
    echo "== $(date -Is) finished"
    exit 0
  fi
  if [ "$signalled" -eq 1 ] || [ "$status" -eq 3 ]; then
    echo "== $(date -Is) stopped at a checkpoint (status $status); requeueing job ${SLURM_JOB_ID:-?}"
    # A job that was signalled and ends by itself is otherwise marked FAILED, not requeued.
    scontrol requeue "${SLURM_JOB_ID:?}"
    exit 0
  fi
  echo "== $(date -Is) failed with status $status"
  exit "$status"
}
