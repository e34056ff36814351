#include "metagmm/gmm/covariance.hpp"

#include "metagmm/core/error.hpp"

namespace metagmm::gmm {

const std::vector<CovarianceTraits>& covariance_types() {
  static const std::vector<CovarianceTraits> types = {
      {CovarianceType::diag, "diag", false, [](Index d) { return d; }, [](Index d) { return d; }},
      {CovarianceType::spherical, "spherical", false, [](Index) -> Index { return 1; }, [](Index) -> Index { return 1; }},
      {CovarianceType::full, "full", true, [](Index d) { return d * (d + 1) / 2; }, [](Index) -> Index { return 0; }},
  };
  return types;
}

const CovarianceTraits& covariance_traits(CovarianceType type) {
  for (const CovarianceTraits& traits : covariance_types())
    if (traits.type == type) return traits;
  METAGMM_CHECK(false, "unknown covariance type");
}

RowMatrix restrict_variances(CovarianceType type, const RowMatrix& variances) {
  const Index columns = covariance_traits(type).variance_columns(variances.cols());
  METAGMM_CHECK(columns == variances.cols() || columns == 1, "restrict_variances: a variance type");
  return columns == variances.cols() ? variances : RowMatrix(variances.rowwise().mean());
}

std::vector<std::uint64_t> stored_covariance_dims(CovarianceType type, Index components, Index dim) {
  const auto K = static_cast<std::uint64_t>(components), d = static_cast<std::uint64_t>(dim);
  const CovarianceTraits& traits = covariance_traits(type);
  if (traits.full_matrix) return {K, d, d};
  return traits.variance_columns(dim) == 1 ? std::vector<std::uint64_t>{K} : std::vector<std::uint64_t>{K, d};
}

}  // namespace metagmm::gmm
