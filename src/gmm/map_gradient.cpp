#include "metagmm/gmm/map_gradient.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::gmm {

void map_em_step_reverse(const Gmm& at, const Gmm& prior, const Relevance& relevance, double reg_covar,
                         RowMatrixRef support, const Vector& output_adjoint, MapStepAdjoints& adjoints) {
  METAGMM_CHECK(at.shape.covariance == CovarianceType::diag && prior.shape == at.shape, "MAP reverse: diag shapes");
  const Index K = at.shape.components, d = at.shape.dim, n_points = support.rows();
  const Index P = at.shape.parameter_count();
  METAGMM_CHECK(output_adjoint.size() == P && support.cols() == d, "MAP reverse: sizes");
  if (adjoints.prior.size() != P) adjoints.prior.setZero(P);

  // Forward: responsibilities and the statistics about c = the input means. The per-point
  // loops run on raw rows (d is a handful): Eigen's expressions of runtime length 2 cost more
  // than their arithmetic, and this pass runs once per adaptation step of every task.
  const Vector log_w = at.log_weights(), w = log_w.array().exp();
  const RowMatrix& c = at.means;
  const RowMatrix precision = (-2.0 * at.log_sd.array()).exp();
  const Vector log_norm = log_w - at.log_sd.rowwise().sum();
  const double* centres = c.data();
  const double* precisions = precision.data();
  // Point x's offsets y = x - c_k from component k's centre.
  auto offsets = [&](const double* x, Index k, double* y) {
    for (Index j = 0; j < d; ++j) y[j] = x[j] - centres[k * d + j];
  };
  std::vector<double> ys(static_cast<std::size_t>(K * d));  // one point's offsets from every centre, K x d
  RowMatrix gamma(n_points, K);
  for (Index i = 0; i < n_points; ++i) {
    const double* x = support.data() + i * support.outerStride();
    double* g = gamma.data() + i * K;
    double top = -std::numeric_limits<double>::infinity();
    for (Index k = 0; k < K; ++k) {
      double distance = 0.0;
      for (Index j = 0; j < d; ++j) {
        const double y = x[j] - centres[k * d + j];
        distance += y * y * precisions[k * d + j];
      }
      g[k] = log_norm[k] - 0.5 * distance;
      top = std::max(top, g[k]);
    }
    for (Index k = 0; k < K; ++k) g[k] -= top;
  }
  exp_non_positive(gamma.data(), gamma.size());  // the level's vectorised exp
  // As map_maximization_step: 10 epsilons keep an empty component's averages finite.
  Vector n = Vector::Constant(K, 10.0 * std::numeric_limits<double>::epsilon());
  RowMatrix first = RowMatrix::Zero(K, d), second = RowMatrix::Zero(K, d);
  for (Index i = 0; i < n_points; ++i) {
    const double* x = support.data() + i * support.outerStride();
    double* g = gamma.data() + i * K;
    double total = 0.0;
    for (Index k = 0; k < K; ++k) total += g[k];
    const double inverse = 1.0 / total;  // one division per point, not K
    for (Index k = 0; k < K; ++k) {
      g[k] *= inverse;
      n[k] += g[k];
      double* y = ys.data() + k * d;
      offsets(x, k, y);
      for (Index j = 0; j < d; ++j) {
        first(k, j) += g[k] * y[j];
        second(k, j) += g[k] * y[j] * y[j];
      }
    }
  }
  const RowMatrix f = first.array().colwise() / n.array(), q = second.array().colwise() / n.array();
  const double N = n.sum();
  const std::array<double, 3> r = {relevance.weights, relevance.means, relevance.covariances};
  std::array<Vector, 3> alpha;
  for (int b = 0; b < 3; ++b) alpha[b] = n.array() / (n.array() + r[b]);
  const Vector& aw = alpha[0];
  const Vector& am = alpha[1];
  const Vector& av = alpha[2];
  const Vector wp = prior.weights();
  const RowMatrix& mp = prior.means;
  const RowMatrix vp = (2.0 * prior.log_sd.array()).exp();
  const Vector u = aw.cwiseProduct(n) / N + (Vector::Ones(K) - aw).cwiseProduct(wp);
  const double U = u.sum();
  const Vector w_out = u / U;
  const RowMatrix to_prior_centre = mp - c;
  const RowMatrix delta = am.asDiagonal() * f + (Vector::Ones(K) - am).asDiagonal() * to_prior_centre;  // mu' - c
  const RowMatrix data_var = (q.array() - 2.0 * f.array() * delta.array() + delta.array().square()).matrix();
  const RowMatrix dist = to_prior_centre - delta;  // mu^p - mu'
  const RowMatrix v_out = (av.asDiagonal() * data_var +
                           (Vector::Ones(K) - av).asDiagonal() * RowMatrix(vp.array() + dist.array().square()))
                              .array() + reg_covar;

  // Reverse, from the output's adjoint.
  const Vector a_bar = output_adjoint.head(K);
  const RowMatrix mu_out_bar = Eigen::Map<const RowMatrix>(output_adjoint.data() + K, K, d);
  const RowMatrix s_out_bar = Eigen::Map<const RowMatrix>(output_adjoint.data() + K + K * d, K, d);
  const RowMatrix v_bar = (0.5 * s_out_bar.array() / v_out.array()).matrix();  // s' = 0.5 log v'
  const Vector w_bar = a_bar.array() / w_out.array();                          // a' = log w'
  const Vector u_bar = (w_bar.array() - w_bar.dot(w_out)) / U;
  std::array<Vector, 3> alpha_bar;
  alpha_bar[0] = u_bar.cwiseProduct(n / N - wp);
  Vector n_bar = u_bar.cwiseProduct(aw) / N;
  n_bar.array() += -u_bar.dot(aw.cwiseProduct(n)) / (N * N);  // through N = sum_k n_k
  Vector wp_bar = u_bar.cwiseProduct(Vector::Ones(K) - aw);
  // v' = av E + (1 - av)(v^p + dist^2) + reg
  const RowMatrix E_bar = av.asDiagonal() * v_bar;
  alpha_bar[2] = (v_bar.array() * (data_var.array() - vp.array() - dist.array().square())).rowwise().sum();
  const RowMatrix one_minus_av_vbar = (Vector::Ones(K) - av).asDiagonal() * v_bar;
  const RowMatrix vp_bar = one_minus_av_vbar;
  const RowMatrix dist_bar = 2.0 * one_minus_av_vbar.array() * dist.array();
  // dist = (mu^p - c) - delta;  E = q - 2 f delta + delta^2
  RowMatrix mp_bar = dist_bar;
  RowMatrix delta_bar = mu_out_bar - dist_bar + RowMatrix(E_bar.array() * (2.0 * delta.array() - 2.0 * f.array()));
  RowMatrix f_bar = -2.0 * E_bar.array() * delta.array();
  const RowMatrix q_bar = E_bar;
  // delta = am f + (1 - am)(mu^p - c)
  f_bar += am.asDiagonal() * delta_bar;
  mp_bar += (Vector::Ones(K) - am).asDiagonal() * delta_bar;
  alpha_bar[1] = (delta_bar.array() * (f.array() - to_prior_centre.array())).rowwise().sum();
  // f = first / n, q = second / n
  const RowMatrix first_bar = f_bar.array().colwise() / n.array();
  const RowMatrix second_bar = q_bar.array().colwise() / n.array();
  n_bar.array() -= ((f_bar.array() * f.array() + q_bar.array() * q.array()).rowwise().sum()) / n.array();
  // alpha = n / (n + r), r = exp(rho)
  for (int b = 0; b < 3; ++b) {
    const Vector denominator = (n.array() + r[b]).square();
    n_bar.array() += alpha_bar[b].array() * r[b] / denominator.array();
    adjoints.log_relevance[static_cast<std::size_t>(b)] -= r[b] * (alpha_bar[b].array() * n.array() / denominator.array()).sum();
  }
  // The prior's moments from its flat parameters.
  auto prior_logits = adjoints.prior.head(K);
  prior_logits.array() += wp.array() * (wp_bar.array() - wp_bar.dot(wp));
  Eigen::Map<RowMatrix>(adjoints.prior.data() + K, K, d) += mp_bar;
  Eigen::Map<RowMatrix>(adjoints.prior.data() + K + K * d, K, d) += RowMatrix(2.0 * vp.array() * vp_bar.array());

  // Through the statistics to the responsibilities, then to the input parameters.
  adjoints.input.setZero(P);
  auto in_logits = adjoints.input.head(K);
  Eigen::Map<RowMatrix> in_means(adjoints.input.data() + K, K, d);
  Eigen::Map<RowMatrix> in_log_sd(adjoints.input.data() + K + K * d, K, d);
  Vector gamma_bar(K), ell_bar(K);
  double ell_bar_total = 0.0;
  for (Index i = 0; i < n_points; ++i) {
    const double* x = support.data() + i * support.outerStride();
    const double* g = gamma.data() + i * K;
    double mean_bar = 0.0;
    for (Index k = 0; k < K; ++k) {
      double* yk = ys.data() + k * d;
      offsets(x, k, yk);
      double sum = n_bar[k];
      for (Index j = 0; j < d; ++j) sum += first_bar(k, j) * yk[j] + second_bar(k, j) * yk[j] * yk[j];
      gamma_bar[k] = sum;
      mean_bar += g[k] * sum;
    }
    for (Index k = 0; k < K; ++k) {
      const double ell = g[k] * (gamma_bar[k] - mean_bar);
      ell_bar[k] = ell;
      const double* yk = ys.data() + k * d;
      for (Index j = 0; j < d; ++j) {
        const double scaled = yk[j] * precisions[k * d + j];
        in_means(k, j) += ell * scaled;
        in_log_sd(k, j) += ell * (yk[j] * scaled - 1.0);
      }
    }
    in_logits += ell_bar;
    ell_bar_total += ell_bar.sum();
  }
  in_logits -= ell_bar_total * w;
}

}  // namespace metagmm::gmm
