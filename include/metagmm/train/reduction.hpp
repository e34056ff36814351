#pragma once
// What one meta-step sends through its single reduction: the exact sums of the tasks'
// contributions (core/exact_sum.hpp: order-independent, so the result is the same for any
// number of ranks and any sharing of tasks), the stop request (a signal on any rank), rank 0's
// save request, and each rank's adaptation time (how long the reduction waited for the slowest
// rank, and how the next step shares its tasks, train/shares.hpp; nothing computed from it
// reaches the parameters).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "metagmm/comm/communicator.hpp"
#include "metagmm/core/types.hpp"

namespace metagmm::train {

class StepReduction {
 public:
  // `values`: the length of one contribution.
  StepReduction(Index values, int ranks);
  void clear();
  // Adds one task's contribution (exactly `values` long). Throws std::runtime_error naming
  // `what`, the task and (if positive) the meta-step if a value is NaN, infinite or too large to
  // sum exactly (a diverged adaptation).
  void add(std::span<const double> contribution, const char* what, Index task, std::int64_t step = 0);
  void request_stop() { buffer_[stop_] = 1; }
  void request_save() { buffer_[save_] = 1; }
  void set_adapt_seconds(int rank, double seconds);
  // Sums every rank's buffer into every rank's buffer.
  void reduce(comm::Communicator& comm);

  // After reduce():
  const std::vector<double>& sums();  // the contributions' sums, converted once per reduce()
  bool stop_requested() const { return buffer_[stop_] > 0; }
  bool save_requested() const { return buffer_[save_] > 0; }
  double slowest_adapt_seconds() const;
  double adapt_seconds(int rank) const;  // as sent (to the nanosecond)
  std::span<const std::int64_t> adapt_nanoseconds() const;  // every rank's, by rank

 private:
  Index values_;
  std::size_t stop_, save_, times_;
  std::vector<std::int64_t> buffer_;
  std::vector<double> sums_;
  bool converted_ = false;
};

}  // namespace metagmm::train
