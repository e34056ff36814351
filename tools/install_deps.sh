#!/usr/bin/env bash
# Installs the Debian 12 packages metagmm needs, only those missing (runs as root; uses sudo
# otherwise). Usage: tools/install_deps.sh [build|main|slurm|test|bench]
#   build: compiler, CMake and the libraries (Eigen, HDF5, zlib, netCDF, OpenMPI, Boost, GoogleTest, Benchmark)
#   main:  build + matplotlib (the main job's plot, tools/plot_eval.py)
#   slurm: build + SLURM and munge (a local SLURM, tools/slurm/slurm_local.sh)
#   test:  build + Python with h5py, scikit-learn and scipy (independent references in the tests),
#          matplotlib (the plot is tested), SLURM and munge (the job scripts are tested),
#          qemu-user (the binary runs as an AVX2-only processor would: qemu-x86_64 -cpu Haswell)
#          and lmod (the installed module file is loaded)
#   bench: test + VLFeat (a peer in the EM benchmark) + OpenBLAS (so numpy and scikit-learn,
#          the other peer, use an optimised BLAS rather than the reference one) + PyTorch
#          (the peer in the Reptile benchmark)
set -euo pipefail
profile=${1:-test}
packages=(g++ make cmake pkg-config libeigen3-dev libhdf5-dev hdf5-tools zlib1g-dev libnetcdf-dev libopenmpi-dev
          openmpi-bin libboost-program-options-dev libgtest-dev libbenchmark-dev nlohmann-json3-dev)
case "$profile" in
  build) ;;
  main) packages+=(python3 python3-matplotlib) ;;
  slurm) packages+=(slurm-wlm munge) ;;
  test) packages+=(python3 python3-numpy python3-h5py python3-sklearn python3-scipy python3-matplotlib slurm-wlm munge qemu-user
             lmod) ;;
  bench) packages+=(python3 python3-numpy python3-h5py python3-sklearn python3-matplotlib libvlfeat-dev libopenblas0-pthread
             python3-torch) ;;
  *) echo "usage: $0 [build|main|slurm|test|bench]" >&2; exit 2 ;;
esac
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
