#include "metagmm/gmm/sample.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace metagmm::gmm {

RowMatrix sample(const Gmm& gmm, Index n, RandomStream& random, IntVector* labels) {
  const Index K = gmm.shape.components, d = gmm.shape.dim;
  Vector cumulative = gmm.weights();
  std::partial_sum(cumulative.data(), cumulative.data() + K, cumulative.data());
  RowMatrix points(n, d);
  if (labels) labels->resize(n);
  Vector z(d);
  for (Index i = 0; i < n; ++i) {
    const double u = random.uniform() * cumulative[K - 1];
    const Index k = std::min<Index>(std::upper_bound(cumulative.data(), cumulative.data() + K, u) - cumulative.data(), K - 1);
    for (Index j = 0; j < d; ++j) z[j] = random.normal();
    switch (gmm.shape.covariance) {
      case CovarianceType::diag:
        points.row(i) = gmm.means.row(k).array() + gmm.log_sd.row(k).array().exp() * z.transpose().array();
        break;
      case CovarianceType::spherical:
        points.row(i) = gmm.means.row(k) + std::exp(gmm.log_sd(k, 0)) * z.transpose();
        break;
      case CovarianceType::full:
        // Sigma = U^-T U^-1, so U^-T z has covariance Sigma.
        points.row(i) = gmm.means.row(k) +
                        gmm.prec_chol[k].transpose().triangularView<Eigen::Lower>().solve(z).transpose();
        break;
    }
    if (labels) (*labels)[i] = static_cast<std::int32_t>(k);
  }
  return points;
}

}  // namespace metagmm::gmm
