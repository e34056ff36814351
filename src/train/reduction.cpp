#include "metagmm/train/reduction.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "metagmm/core/error.hpp"
#include "metagmm/core/exact_sum.hpp"

namespace metagmm::train {

StepReduction::StepReduction(Index values, int ranks)
    : values_(values),
      stop_(static_cast<std::size_t>(values) * exact::kLimbs),
      save_(stop_ + 1),
      times_(save_ + 1),
      buffer_(times_ + static_cast<std::size_t>(ranks), 0),
      sums_(static_cast<std::size_t>(values)) {}

void StepReduction::clear() {
  std::fill(buffer_.begin(), buffer_.end(), 0);
  converted_ = false;
}

void StepReduction::add(std::span<const double> contribution, const char* what, Index task, std::int64_t step) {
  METAGMM_CHECK(static_cast<Index>(contribution.size()) == values_, "contribution length");
  for (std::size_t i = 0; i < contribution.size(); ++i) {
    if (!exact::accumulate(contribution[i], buffer_.data() + i * exact::kLimbs)) {
      // The message is built only here: add() runs for every task of every step.
      throw std::runtime_error(std::string(what) + " of task " + std::to_string(task) +
                               (step > 0 ? " at step " + std::to_string(step) : std::string()) +
                               " is NaN, Inf or beyond 2^79: the adaptation diverged (lower --inner-lr or --inner-steps)");
    }
  }
}

void StepReduction::set_adapt_seconds(int rank, double seconds) {
  buffer_[times_ + static_cast<std::size_t>(rank)] = std::llround(seconds * 1e9);
}

void StepReduction::reduce(comm::Communicator& comm) {
  comm.sum(buffer_);
  converted_ = false;
}

const std::vector<double>& StepReduction::sums() {
  if (!converted_) {
    for (Index i = 0; i < values_; ++i)
      sums_[static_cast<std::size_t>(i)] = exact::to_double(buffer_.data() + i * exact::kLimbs);
    converted_ = true;
  }
  return sums_;
}

double StepReduction::adapt_seconds(int rank) const {
  return static_cast<double>(buffer_[times_ + static_cast<std::size_t>(rank)]) * 1e-9;
}

std::span<const std::int64_t> StepReduction::adapt_nanoseconds() const {
  return std::span<const std::int64_t>(buffer_).subspan(times_);
}

double StepReduction::slowest_adapt_seconds() const {
  return static_cast<double>(*std::max_element(buffer_.begin() + static_cast<std::ptrdiff_t>(times_), buffer_.end())) *
         1e-9;
}

}  // namespace metagmm::train
