#include "metagmm/gmm/gradient.hpp"

#include "metagmm/core/error.hpp"

namespace metagmm::gmm {

Vector loss_gradient(const Gmm& gmm, const Statistics& stats) {
  const Index K = gmm.shape.components, d = gmm.shape.dim;
  const double scale = 1.0 / static_cast<double>(stats.points);
  const Vector& n_k = stats.weight_sum;
  Vector gradient(gmm.shape.parameter_count());
  Index at = 0;

  // d/da_k: pi_k - n_k / N (softmax of the logits).
  gradient.segment(at, K) = gmm.weights() - scale * n_k;
  at += K;

  // Moments about the means from moments about the centres c (o = mu - c):
  //   m1 = sum r (x - mu) = first - n o,
  //   m2 = sum r (x - mu)^2 = second - 2 o first + n o^2                  (diag/spherical),
  //   C = sum r (x - mu)(x - mu)^T = scatter - first o^T - o first^T + n o o^T  (full).
  const RowMatrix offset = gmm.means - stats.centers;
  const RowMatrix m1 = stats.first - (offset.array().colwise() * n_k.array()).matrix();
  if (gmm.shape.covariance == CovarianceType::full) {
    // log N = -|U^T (x - mu)|^2 / 2 + sum_j log U_jj + const, so
    //   d/dmu = U U^T (x - mu),  d/dU_ij = -(C U)_ij (i < j),  d/dlog U_jj = -(C U)_jj U_jj + 1.
    for (Index k = 0; k < K; ++k, at += d) {
      const Matrix& u = gmm.prec_chol[k];
      gradient.segment(at, d) = -scale * (u * (u.transpose() * m1.row(k).transpose()));
    }
    for (Index k = 0; k < K; ++k) {
      const Matrix& u = gmm.prec_chol[k];
      const Vector o = offset.row(k).transpose(), first = stats.first.row(k).transpose();
      const Matrix c = stats.scatter[k] - first * o.transpose() - o * first.transpose() + n_k[k] * o * o.transpose();
      const Matrix cu = c * u.triangularView<Eigen::Upper>();
      for (Index i = 0; i < d; ++i)
        for (Index j = i; j < d; ++j)
          gradient[at++] = i == j ? scale * (cu(i, i) * u(i, i) - n_k[k]) : scale * cu(i, j);
    }
  } else {
    const RowMatrix m2 = (stats.second.array() - 2.0 * offset.array() * stats.first.array() +
                          offset.array().square().colwise() * n_k.array()).matrix();
    const bool diag = gmm.shape.covariance == CovarianceType::diag;
    RowMatrix precision(K, d);
    for (Index k = 0; k < K; ++k) {
      if (diag) {
        precision.row(k) = (-2.0 * gmm.log_sd.row(k).array()).exp().matrix();
      } else {
        precision.row(k).setConstant(std::exp(-2.0 * gmm.log_sd(k, 0)));
      }
    }
    // d/dmu = P (x - mu);  d/dlog sd_j = P_j (x_j - mu_j)^2 - 1 (summed over j if spherical).
    for (Index k = 0; k < K; ++k, at += d) {
      gradient.segment(at, d) = -scale * (precision.row(k).array() * m1.row(k).array()).transpose();
    }
    for (Index k = 0; k < K; ++k) {
      const Eigen::ArrayXd weighted = (precision.row(k).array() * m2.row(k).array()).transpose();
      if (diag) {
        gradient.segment(at, d) = -scale * (weighted - n_k[k]);
        at += d;
      } else {
        gradient[at++] = -scale * (weighted.sum() - static_cast<double>(d) * n_k[k]);
      }
    }
  }
  METAGMM_CHECK(at == gradient.size(), "gradient: layout mismatch");
  return gradient;
}

double loss_and_gradient(const Gmm& gmm, RowMatrixRef points, Evaluator& evaluator,
                         Vector& gradient) {
  const Statistics& stats = evaluator.statistics(gmm, points);
  gradient = loss_gradient(gmm, stats);
  return -stats.log_likelihood_sum / static_cast<double>(stats.points);
}

}  // namespace metagmm::gmm
