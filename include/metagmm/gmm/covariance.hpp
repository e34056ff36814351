#pragma once
// What each covariance structure is, in one table (docs/extending.md, "A covariance type"): its
// name, how many parameters a component has, the columns of its per-component variances, and
// the shape of its stored covariances. Files and M-steps read these from here; what still
// branches on the type (the parametrisation, the statistics pass and its kernels, the gradient,
// sampling) is listed in docs/extending.md.
#include <cstdint>
#include <string_view>
#include <vector>

#include "metagmm/core/types.hpp"
#include "metagmm/gmm/params.hpp"

namespace metagmm::gmm {

struct CovarianceTraits {
  CovarianceType type;
  const char* name;  // "diag", "spherical", "full"
  bool full_matrix;  // a d x d matrix per component; otherwise variances
  // Parameters of one component's covariance part in the flat vector, in dimension d.
  Index (*parameters)(Index dim);
  // Columns of one component's variances (diag: d, spherical: 1); 0 for a full matrix.
  Index (*variance_columns)(Index dim);
};

// Every covariance type, in the order options list them.
const std::vector<CovarianceTraits>& covariance_types();
const CovarianceTraits& covariance_traits(CovarianceType type);
// Per-coordinate variances (K x d) reduced to the type's columns: as they are, or their mean.
RowMatrix restrict_variances(CovarianceType type, const RowMatrix& variances);
// The shape of K components' stored covariances in d dimensions: [K, d, d], [K, d] or [K].
std::vector<std::uint64_t> stored_covariance_dims(CovarianceType type, Index components, Index dim);

}  // namespace metagmm::gmm
