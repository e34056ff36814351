#include "metagmm/meta/algorithm.hpp"

#include "metagmm/core/error.hpp"

namespace metagmm::meta {

Index Algorithm::extra_meta_parameters() const {
  Index total = 0;
  for (const ParameterBlock& block : extra_parameters()) total += block.size;
  return total;
}

double mean_gradient_and_loss(std::span<const double> sums, Index count, Index tasks, Vector& meta_gradient) {
  METAGMM_CHECK(static_cast<Index>(sums.size()) == count + 1 && tasks > 0, "contribution sums");
  meta_gradient = Eigen::Map<const Vector>(sums.data(), count) / static_cast<double>(tasks);
  return sums[static_cast<std::size_t>(count)] / static_cast<double>(tasks);
}

}  // namespace metagmm::meta
