# Site settings for metagmm's SLURM jobs (jobs/*.sbatch source this file). The job logic stays in
# the .sbatch scripts; everything that differs between clusters lives here. For a new cluster,
# copy this file to jobs/env/<site>.sh, edit it, and submit with METAGMM_SITE=jobs/env/<site>.sh
# (sbatch passes the submitting shell's environment to the job).

# Modules, if the cluster uses them (metagmm needs OpenMPI 4, HDF5 1.10, Boost and Eigen at
# build time, OpenMPI and HDF5 at run time):
# module load openmpi/4.1 hdf5/1.10
# An installed metagmm (cmake --install) comes with its own module: module load metagmm

# The binary: the module's (METAGMM), else one built in this checkout with tools/build.sh
# build/release, else metagmm on PATH. One portable build runs on every x86-64-v3 node and
# chooses its kernels per node at start-up: build it once, anywhere.
if [ -z "${METAGMM:-}" ]; then
  if [ -x "$PWD/build/release/metagmm" ]; then METAGMM=$PWD/build/release/metagmm; else METAGMM=$(command -v metagmm || echo metagmm); fi
fi
export METAGMM

# How ranks are started: mpirun (OpenMPI reads the allocation from SLURM) or srun (direct
# launch; Debian's OpenMPI supports it only through PMIx: srun --mpi=pmix).
export METAGMM_LAUNCHER=${METAGMM_LAUNCHER:-mpirun}
export METAGMM_MPIRUN_OPTIONS=${METAGMM_MPIRUN_OPTIONS:-}
export METAGMM_SRUN_OPTIONS=${METAGMM_SRUN_OPTIONS:---mpi=pmix}

# One rank per core: metagmm does not start threads, and neither should a BLAS under it.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# Parallel file systems (Lustre, GPFS, NFS) often lack the POSIX locks HDF5 takes by default;
# metagmm never has two writers on one file, so locking can be off.
export HDF5_USE_FILE_LOCKING=FALSE

# Where sweeps put their run directories (a scratch file system on most clusters).
export METAGMM_SCRATCH=${METAGMM_SCRATCH:-$PWD/runs}
