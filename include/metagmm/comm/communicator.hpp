#pragma once
// The collective operations the training loop needs, behind a small interface passed in
// explicitly (docs/design.md, "Layers"; after LightGBM/XGBoost): algorithms never communicate,
// they return a local contribution, and the loop reduces once per meta-step. The serial
// implementation makes everything testable without mpirun; only src/comm/mpi.cpp includes
// <mpi.h>.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace metagmm::comm {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Element-wise sum of `buffer` over all ranks, the result on every rank. Integer addition
  // is associative, so the result does not depend on how the ranks' values are grouped; doubles
  // travel as fixed-point limbs (core/exact_sum.hpp).
  virtual void sum(std::span<std::int64_t> buffer) = 0;
  // Copies `text` from `root` to every rank.
  virtual void broadcast(std::string& text, int root) = 0;
  // Ends the whole job (every rank) with `status`, promptly; never returns.
  [[noreturn]] virtual void abort(int status) = 0;
};

// One rank, no communication.
std::unique_ptr<Communicator> make_serial_communicator();

// Initialises MPI for the lifetime of the object (MPI_Init/MPI_Finalize), when the program
// was started by mpirun or srun; otherwise nothing happens and communicator() is serial.
class MpiRuntime {
 public:
  MpiRuntime();
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  // MPI_COMM_WORLD, or a serial communicator if MPI was not started.
  std::unique_ptr<Communicator> communicator() const;
  bool active() const { return active_; }

 private:
  bool active_ = false;
};

// True if environment variables show a launch by mpirun/srun (OpenMPI, PMIx, SLURM).
bool launched_by_mpi();

}  // namespace metagmm::comm
