#!/usr/bin/env bash
# A real single-node SLURM on this machine, for the tests and for trying the job scripts:
# munged, slurmctld and slurmd from Debian's munge and slurm-wlm, started in the background
# (no systemd) with their state, logs and configuration under one directory, and stopped by
# PID. Two partitions: `batch` (default) and `urgent`, whose jobs pre-empt batch jobs by
# requeueing them after sending them SIGUSR1 (SlurmctldParameters=preempt_send_user_signal).
#
# Usage: tools/slurm/slurm_local.sh start [DIR]   prints `export SLURM_CONF=DIR/slurm.conf`
#        tools/slurm/slurm_local.sh stop [DIR]
# DIR defaults to /tmp/metagmm-slurm. Needs root (slurmd runs jobs as their users) and the
# packages: tools/install_deps.sh slurm.
set -euo pipefail
action=${1:-}
dir=${2:-/tmp/metagmm-slurm}
host=$(hostname -s)

stop() {
  for daemon in slurmd slurmctld munged; do
    local pid_file=$dir/$daemon.pid
    [ -f "$pid_file" ] || continue
    local pid
    pid=$(cat "$pid_file")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
  done
  if [ -f "$dir/munge-dir" ]; then
    rm -rf "$(cat "$dir/munge-dir")" "$dir/munge-dir"
  fi
}

case "$action" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac
for tool in munged slurmctld slurmd sbatch; do
  command -v $tool >/dev/null || { echo "slurm_local: $tool not found (bash tools/install_deps.sh slurm)" >&2; exit 2; }
done
stop
mkdir -p "$dir/state" "$dir/spool"
# munged runs as the munge user, which may not reach into DIR (mkdtemp makes it 0700): its
# socket, log and seed live in a directory of their own under /tmp.
munge_dir=$(mktemp -d /tmp/metagmm-munge.XXXXXX)
echo "$munge_dir" >"$dir/munge-dir"
chown munge:munge "$munge_dir"
chmod 755 "$munge_dir"
cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat > "$dir/slurm.conf" <<CONF
ClusterName=metagmm-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits for its old credential to expire before it can start again.
AuthInfo=socket=$munge_dir/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_interval=1
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=600
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=batch Nodes=$host Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=60
PartitionName=urgent Nodes=$host MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
CONF
# munged: as the munge user, its socket where slurm.conf says.
runuser -u munge -- /usr/sbin/munged --socket="$munge_dir/munge.socket" --pid-file="$munge_dir/munged.pid" \
  --log-file="$munge_dir/munged.log" --seed-file="$munge_dir/munged.seed"
for _ in $(seq 50); do [ -S "$munge_dir/munge.socket" ] && break; sleep 0.1; done
cp "$munge_dir/munged.pid" "$dir/munged.pid"
export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && { echo "export SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.1
done
echo "slurm_local: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
stop
exit 1
