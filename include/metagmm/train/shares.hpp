#pragma once
// How a meta-step's tasks are shared among the ranks.
//
// Every meta-step waits for its slowest rank, and ranks do not run at one speed: on a virtual
// machine or a shared node some cores are persistently slower than others (one measured 16-core
// VM ran the same one-rank training 1.6 times faster on some cores than on others), and a job
// may span nodes of different kinds. BalancedShares gives each rank a share of the meta-batch in
// proportion to its measured speed, so that all ranks finish a step at about the same time.
//
// The split never changes a result: the contributions are summed exactly and in any order
// (core/exact_sum.hpp), so the meta-parameters are the same bits for every split. It only moves
// work. Every rank computes the same split from the same numbers (the adaptation times that
// each step's single reduction already carries), in integer arithmetic so that no rounding can
// differ between ranks.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "metagmm/core/types.hpp"

namespace metagmm::train {

// Equal shares: [begin, end) of `tasks` for `rank`, contiguous, sizes differing by at most one.
std::pair<Index, Index> share_of(Index tasks, int rank, int ranks);

class BalancedShares {
 public:
  // Starts with equal shares. With fewer tasks than ranks it keeps them: a rank without a task
  // cannot be timed.
  BalancedShares(Index tasks, int ranks);
  std::pair<Index, Index> range(int rank) const;
  // After a step in which rank r spent nanoseconds[r] adapting its current share: updates each
  // rank's smoothed cost per task and re-splits in proportion to the speeds.
  void update(std::span<const std::int64_t> nanoseconds);

 private:
  Index tasks_;
  int ranks_;
  std::vector<Index> bounds_;              // rank r owns [bounds_[r], bounds_[r + 1])
  std::vector<std::int64_t> cost_;         // smoothed nanoseconds per task, in 1/16 ns; 0: not yet timed
  std::vector<__int128> cumulative_;       // update()'s scratch: summed speeds (kept, so steps allocate nothing)
};

}  // namespace metagmm::train
