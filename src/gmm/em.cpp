#include "metagmm/gmm/em.hpp"

#include <cmath>
#include <limits>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/covariance.hpp"

namespace metagmm::gmm {

void EmOptions::validate() const {
  if (max_iterations < 1) throw SettingError("max-iter", "expected an integer >= 1");
  if (!(tolerance >= 0.0) || !std::isfinite(tolerance)) throw SettingError("tol", "expected a finite number >= 0");
  if (!(reg_covar >= 0.0) || !std::isfinite(reg_covar)) throw SettingError("reg-covar", "expected a finite number >= 0");
}

Gmm maximization_step(const Statistics& stats, CovarianceType covariance, double reg_covar) {
  const Index K = stats.weight_sum.size();
  // scikit-learn adds 10 machine epsilons to every n_k so that an empty component divides
  // by a tiny number rather than zero; weights are then n_k / sum n_k.
  const Vector n_k = stats.weight_sum.array() + 10.0 * std::numeric_limits<double>::epsilon();
  GmmMoments m;
  m.covariance = covariance;
  m.weights = n_k / n_k.sum();
  const RowMatrix shift = stats.first.array().colwise() / n_k.array();  // new mean - centre
  m.means = stats.centers + shift;
  if (covariance == CovarianceType::full) {
    for (Index k = 0; k < K; ++k) {
      // sum r (x - mu)(x - mu)^T / n_k about the new mean, from the scatter about the centre.
      const double raw_share = stats.weight_sum[k] / n_k[k];
      Matrix cov = stats.scatter[k] / n_k[k] -
                   (2.0 - raw_share) * shift.row(k).transpose() * shift.row(k);
      cov.diagonal().array() += reg_covar;
      m.covariances.push_back(std::move(cov));
    }
  } else {
    RowMatrix variances = (stats.second.array().colwise() / n_k.array() -
                           shift.array().square() + reg_covar).matrix();
    m.variances = restrict_variances(covariance, variances);
  }
  return from_moments(m);
}

double em_step(Gmm& gmm, RowMatrixRef points, double reg_covar, Evaluator& evaluator) {
  const Statistics& stats = evaluator.statistics(gmm, points);
  const double mean_log_likelihood = stats.log_likelihood_sum / static_cast<double>(stats.points);
  gmm = maximization_step(stats, gmm.shape.covariance, reg_covar);
  return mean_log_likelihood;
}

EmResult iterate_to_convergence(Gmm& gmm, RowMatrixRef points, const EmOptions& options, Evaluator& evaluator,
                                const std::function<double()>& step) {
  options.validate();
  EmResult result;
  double previous = -std::numeric_limits<double>::infinity();
  for (int iteration = 1; iteration <= options.max_iterations; ++iteration) {
    const double current = step();
    result.history.push_back(current);
    result.iterations = iteration;
    if (std::abs(current - previous) < options.tolerance) {
      result.converged = true;
      break;
    }
    previous = current;
  }
  result.mean_log_likelihood = evaluator.mean_log_likelihood(gmm, points);
  return result;
}

EmResult fit_em(Gmm& gmm, RowMatrixRef points, const EmOptions& options, Evaluator& evaluator) {
  return iterate_to_convergence(gmm, points, options, evaluator,
                                [&] { return em_step(gmm, points, options.reg_covar, evaluator); });
}

}  // namespace metagmm::gmm
