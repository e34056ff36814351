#include "metagmm/gmm/map.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/gmm/covariance.hpp"

namespace metagmm::gmm {

void Relevance::validate() const {
  for (const double r : {weights, means, covariances})
    if (!(r >= 0.0) || !std::isfinite(r)) throw SettingError("relevance", "expected factors >= 0");
}

std::optional<Relevance> Relevance::try_parse(const std::string& text) {
  const auto parts = parse_number_list(text, ':');
  const bool valid = parts && std::all_of(parts->begin(), parts->end(), [](double r) { return r >= 0.0; });
  if (!valid || (parts->size() != 1 && parts->size() != 3)) return std::nullopt;
  if (parts->size() == 1) return Relevance{(*parts)[0], (*parts)[0], (*parts)[0]};
  return Relevance{(*parts)[0], (*parts)[1], (*parts)[2]};
}

Relevance Relevance::parse(const std::string& text, const std::string& what) {
  if (const auto relevance = try_parse(text)) return *relevance;
  throw InputError(what + ": expected a relevance factor >= 0, or three as WEIGHTS:MEANS:COVARIANCES, got '" + text + "'");
}

std::string Relevance::to_string() const {
  return shortest_text(weights) + ":" + shortest_text(means) + ":" + shortest_text(covariances);
}

Gmm map_maximization_step(const Statistics& stats, const Gmm& prior, const Relevance& r, double reg_covar) {
  const Index K = stats.weight_sum.size(), d = stats.centers.cols();
  METAGMM_CHECK(prior.shape.components == K && prior.shape.dim == d, "MAP step: prior shape");
  const GmmMoments p = to_moments(prior);
  // As maximization_step: 10 epsilons keep an empty component's averages finite (its alpha is 0).
  const Vector n = stats.weight_sum.array() + 10.0 * std::numeric_limits<double>::epsilon();
  const auto alpha = [&n](double relevance) { return Vector(n.array() / (n.array() + relevance)); };
  const Vector aw = alpha(r.weights), am = alpha(r.means), av = alpha(r.covariances);
  GmmMoments m;
  m.covariance = prior.shape.covariance;
  m.weights = aw.cwiseProduct(n) / n.sum() + (Vector::Ones(K) - aw).cwiseProduct(p.weights);
  m.weights /= m.weights.sum();
  const RowMatrix data_shift = stats.first.array().colwise() / n.array();  // E[x] - c
  m.means = am.asDiagonal() * (stats.centers + data_shift);
  m.means += (Vector::Ones(K) - am).asDiagonal() * p.means;
  const RowMatrix shift = m.means - stats.centers;  // adapted mean - c
  const RowMatrix to_prior = p.means - m.means;     // d_k
  if (m.covariance == CovarianceType::full) {
    for (Index k = 0; k < K; ++k) {
      // E[(x - mu)(x - mu)^T] from the scatter about c: S/n - f delta^T - delta f^T + delta delta^T.
      const Vector f = data_shift.row(k).transpose(), delta = shift.row(k).transpose();
      const Matrix data = stats.scatter[k] / n[k] - f * delta.transpose() - delta * f.transpose() +
                          delta * delta.transpose();
      const Vector dk = to_prior.row(k).transpose();
      Matrix cov = av[k] * data + (1.0 - av[k]) * (p.covariances[static_cast<std::size_t>(k)] + dk * dk.transpose());
      cov.diagonal().array() += reg_covar;
      m.covariances.push_back(std::move(cov));
    }
  } else {
    // Per coordinate: E[(x - mu)^2] = second/n - 2 f delta + delta^2.
    const RowMatrix data = (stats.second.array().colwise() / n.array() - 2.0 * data_shift.array() * shift.array() +
                            shift.array().square()).matrix();
    RowMatrix prior_variances(K, d);
    for (Index k = 0; k < K; ++k) {
      const Index columns = p.variances.cols();
      for (Index j = 0; j < d; ++j) prior_variances(k, j) = p.variances(k, columns == 1 ? 0 : j);
    }
    const RowMatrix variances =
        (av.asDiagonal() * data + (Vector::Ones(K) - av).asDiagonal() *
                                      RowMatrix(prior_variances.array() + to_prior.array().square()))
            .array() + reg_covar;
    m.variances = restrict_variances(m.covariance, variances);
  }
  return from_moments(m);
}

double map_em_step(Gmm& gmm, const Gmm& prior, RowMatrixRef points, const Relevance& relevance, double reg_covar,
                   Evaluator& evaluator) {
  const Statistics& stats = evaluator.statistics(gmm, points);
  const double mean_log_likelihood = stats.log_likelihood_sum / static_cast<double>(stats.points);
  gmm = map_maximization_step(stats, prior, relevance, reg_covar);
  return mean_log_likelihood;
}

EmResult fit_map(Gmm& gmm, const Gmm& prior, RowMatrixRef points, const EmOptions& options, const Relevance& relevance,
                 Evaluator& evaluator) {
  relevance.validate();
  return iterate_to_convergence(gmm, points, options, evaluator, [&] {
    return map_em_step(gmm, prior, points, relevance, options.reg_covar, evaluator);
  });
}

}  // namespace metagmm::gmm
