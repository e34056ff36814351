#include "metagmm/train/shares.hpp"

#include <algorithm>

#include "metagmm/core/error.hpp"

namespace metagmm::train {
namespace {

// The cost estimate follows each step's measurement with weight 1/8: per-step jitter (a few
// tens of percent on a VM) averages out within a few steps, a persistent difference is
// followed within about 20.
constexpr std::int64_t kSmoothing = 8;
constexpr std::int64_t kFixedPoint = 16;  // costs in 1/16 ns per task: sub-nanosecond resolution

}  // namespace

std::pair<Index, Index> share_of(Index tasks, int rank, int ranks) {
  const Index R = ranks, r = rank;
  return {tasks * r / R, tasks * (r + 1) / R};
}

BalancedShares::BalancedShares(Index tasks, int ranks)
    : tasks_(tasks), ranks_(ranks), bounds_(static_cast<std::size_t>(ranks) + 1), cost_(static_cast<std::size_t>(ranks), 0) {
  METAGMM_CHECK(ranks >= 1 && tasks >= 0, "shares of a meta-batch");
  for (int r = 0; r < ranks; ++r) bounds_[static_cast<std::size_t>(r)] = share_of(tasks, r, ranks).first;
  bounds_.back() = tasks;
}

std::pair<Index, Index> BalancedShares::range(int rank) const {
  const auto r = static_cast<std::size_t>(rank);
  return {bounds_[r], bounds_[r + 1]};
}

void BalancedShares::update(std::span<const std::int64_t> nanoseconds) {
  METAGMM_CHECK(static_cast<int>(nanoseconds.size()) == ranks_, "one time per rank");
  if (tasks_ < ranks_ || ranks_ == 1) return;
  for (std::size_t r = 0; r < cost_.size(); ++r) {
    const Index count = bounds_[r + 1] - bounds_[r];
    const std::int64_t sample = std::max<std::int64_t>(1, nanoseconds[r] * kFixedPoint / count);
    cost_[r] = cost_[r] == 0 ? sample : std::max<std::int64_t>(1, cost_[r] + (sample - cost_[r]) / kSmoothing);
  }
  // Speed ~ 1 / cost, scaled so that the slowest rank's is 2^20 (a resolution of 1e-6) and
  // summed in 128 bits: no product below can overflow.
  const std::int64_t slowest = *std::max_element(cost_.begin(), cost_.end());
  cumulative_.assign(cost_.size() + 1, 0);
  for (std::size_t r = 0; r < cost_.size(); ++r)
    cumulative_[r + 1] = cumulative_[r] + (static_cast<__int128>(slowest) << 20) / cost_[r];
  // Every rank keeps at least one task (to stay timed); the rest is split by cumulative speed,
  // each boundary rounded to the nearest task.
  const __int128 spare = tasks_ - ranks_, total = cumulative_.back();
  for (std::size_t r = 1; r < cost_.size(); ++r)
    bounds_[r] = static_cast<Index>(r) + static_cast<Index>((spare * cumulative_[r] + total / 2) / total);
}

}  // namespace metagmm::train
