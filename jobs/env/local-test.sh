# Site settings for the single-node SLURM of tools/slurm/slurm_local.sh (the test suite's): the
# defaults, plus what running as root with more ranks than cores needs.
source "$(dirname "${BASH_SOURCE[0]}")/default.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Waiting ranks yield the core (an oversubscribed node would otherwise spin).
export OMPI_MCA_mpi_yield_when_idle=1
export METAGMM_MPIRUN_OPTIONS="--oversubscribe ${METAGMM_MPIRUN_OPTIONS:-}"
export METAGMM_SRUN_OPTIONS="--mpi=pmix --overcommit"
