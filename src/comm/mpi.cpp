// The only file that includes <mpi.h> (docs/design.md, "Layers").
// The C API only: Open MPI 4 and MPICH would otherwise pull in the C++ bindings (removed in
// Open MPI 5), which need libmpi_cxx; metagmm links MPI::MPI_C.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdlib>

#include "metagmm/comm/communicator.hpp"
#include "metagmm/core/error.hpp"

namespace metagmm::comm {
namespace {

void check(int status, const char* what) {
  METAGMM_CHECK(status == MPI_SUCCESS, std::string("MPI call failed: ") + what);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void sum(std::span<std::int64_t> buffer) override {
    // Chunked so that counts above INT_MAX elements still work.
    constexpr std::size_t kChunk = INT_MAX / 2;
    for (std::size_t start = 0; start < buffer.size(); start += kChunk) {
      const int count = static_cast<int>(std::min(kChunk, buffer.size() - start));
      check(MPI_Allreduce(MPI_IN_PLACE, buffer.data() + start, count, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
    }
  }

  void broadcast(std::string& text, int root) override {
    long long length = static_cast<long long>(text.size());
    check(MPI_Bcast(&length, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast");
    METAGMM_CHECK(length < INT_MAX, "broadcast text too long");
    text.resize(static_cast<std::size_t>(length));
    check(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, root, MPI_COMM_WORLD), "MPI_Bcast");
  }

  [[noreturn]] void abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);  // MPI_Abort does not return; this is for the compiler
  }

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

MpiRuntime::MpiRuntime() {
  if (!launched_by_mpi()) return;
  check(MPI_Init(nullptr, nullptr), "MPI_Init");
  active_ = true;
}

MpiRuntime::~MpiRuntime() {
  if (active_) MPI_Finalize();
}

std::unique_ptr<Communicator> MpiRuntime::communicator() const {
  if (!active_) return make_serial_communicator();
  return std::make_unique<MpiCommunicator>();
}

}  // namespace metagmm::comm
