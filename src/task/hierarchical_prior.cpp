#include "metagmm/task/hierarchical_prior.hpp"

#include <algorithm>
#include <cmath>

#include "metagmm/core/error.hpp"
// The coupled estimate's eigenvalue floor, the one user of Eigen's eigensolvers, so included
// here (with core/eigen.hpp's guard against GCC's false positives) rather than everywhere.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Eigenvalues>
#pragma GCC diagnostic pop
#include "metagmm/core/random.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/init.hpp"

namespace metagmm::task {
namespace {

// Near the optimum the log-likelihood changes by the square of the parameters' change, so a tolerance
// of 1e-12 per point leaves the fits ~1e-6 from the fixed point: one EM iteration more or less
// then moves the estimate by far less than its own sampling error.
constexpr double kFitTolerance = 1e-12;
constexpr int kFitIterations = 1000;

double mean(const std::vector<double>& x) {
  double sum = 0.0;
  for (const double v : x) sum += v;
  return sum / static_cast<double>(x.size());
}

double variance(const std::vector<double>& x) {  // with T - 1 in the denominator
  const double m = mean(x);
  double sum = 0.0;
  for (const double v : x) sum += (v - m) * (v - m);
  return sum / static_cast<double>(x.size() - 1);
}

}  // namespace

gmm::HierarchicalPrior estimate_prior_from_fits(const std::vector<gmm::Gmm>& fits, const std::vector<Index>& sizes,
                                                const HierarchicalPriorLimits& limits) {
  METAGMM_CHECK(fits.size() == sizes.size() && fits.size() >= 2, "estimate_prior_from_fits: at least two fits");
  const gmm::GmmShape shape = fits.front().shape;
  const Index K = shape.components, d = shape.dim;
  const std::size_t T = fits.size();
  gmm::HierarchicalPrior prior(shape);
  std::vector<Vector> weights(T);
  std::vector<RowMatrix> variances(T);
  for (std::size_t t = 0; t < T; ++t) {
    METAGMM_CHECK(fits[t].shape == shape, "estimate_prior_from_fits: one shape");
    weights[t] = fits[t].weights();
    variances[t] = (2.0 * fits[t].log_sd.array()).exp();
  }
  std::vector<double> mu(T), sampling(T), within(T), log_v(T), log_noise(T);
  for (Index k = 0; k < K; ++k) {
    for (Index j = 0; j < d; ++j) {
      for (std::size_t t = 0; t < T; ++t) {
        const double n = std::max(static_cast<double>(sizes[t]) * weights[t][k], 2.0);
        const double v = variances[t](k, j);
        mu[t] = fits[t].means(k, j);
        sampling[t] = v / n;
        within[t] = v * n / (n - 1.0);
        log_v[t] = std::log(v);
        log_noise[t] = 2.0 / (n - 1.0);
      }
      prior.mean(k, j) = mean(mu);
      prior.within_variance(k, j) = mean(within);
      prior.between_variance(k, j) =
          std::max(variance(mu) - mean(sampling), limits.min_between_ratio * prior.within_variance(k, j));
      const double spread = variance(log_v) - mean(log_noise);
      prior.strength(k, j) = std::clamp(spread > 0.0 ? 2.0 / spread : limits.max_strength, limits.min_strength,
                                        limits.max_strength);
    }
  }
  Vector wbar = Vector::Zero(K), noise = Vector::Zero(K), spread = Vector::Zero(K);
  for (std::size_t t = 0; t < T; ++t) wbar += weights[t];
  wbar /= static_cast<double>(T);
  for (std::size_t t = 0; t < T; ++t) {
    spread.array() += (weights[t] - wbar).array().square();
    noise.array() += weights[t].array() * (1.0 - weights[t].array()) / static_cast<double>(sizes[t]);
  }
  spread /= static_cast<double>(T - 1);
  noise /= static_cast<double>(T);
  const double excess = (spread - noise).cwiseMax(0.0).sum();
  const double total = (wbar.array() * (1.0 - wbar.array())).sum();
  const double A = excess > 0.0 ? total / excess - 1.0 : limits.max_concentration;
  prior.concentration = std::clamp(A, limits.min_concentration, limits.max_concentration) * wbar / wbar.sum();
  prior.first_variance = prior.within_variance + prior.between_variance;
  return prior;
}

gmm::HierarchicalPrior estimate_coupled_prior_from_fits(const std::vector<gmm::Gmm>& fits,
                                                        const std::vector<Index>& sizes,
                                                        const HierarchicalPriorLimits& limits) {
  gmm::HierarchicalPrior prior = estimate_prior_from_fits(fits, sizes, limits).with_coupling();
  const Index K = prior.shape.components, d = prior.shape.dim, Kd = K * d;
  const auto stacked = [Kd](const RowMatrix& x) { return Eigen::Map<const Vector>(x.data(), Kd); };
  const Vector centre = stacked(prior.mean);
  Matrix covariance = Matrix::Zero(Kd, Kd);
  Vector sampling = Vector::Zero(Kd);
  for (std::size_t t = 0; t < fits.size(); ++t) {
    const Vector u = stacked(fits[t].means) - centre;
    covariance.noalias() += u * u.transpose();
    const Vector weights = fits[t].weights();
    for (Index k = 0; k < K; ++k) {  // the same per-task sampling noise v / n as the independent estimate
      const double n = std::max(static_cast<double>(sizes[t]) * weights[k], 2.0);
      sampling.segment(k * d, d).array() += (2.0 * fits[t].log_sd.row(k).transpose().array()).exp() / n;
    }
  }
  covariance /= static_cast<double>(fits.size() - 1);
  covariance.diagonal() -= sampling / static_cast<double>(fits.size());
  const Eigen::SelfAdjointEigenSolver<Matrix> eigen(covariance);
  const double floor = std::max(limits.min_between_ratio * prior.within_variance.minCoeff(),
                                eigen.eigenvalues().maxCoeff() / limits.max_coupled_condition);
  covariance = eigen.eigenvectors() * eigen.eigenvalues().cwiseMax(floor).asDiagonal() * eigen.eigenvectors().transpose();
  const Eigen::LLT<Matrix> factor(covariance);
  if (factor.info() != Eigen::Success) throw NumericError("the coupled prior's covariance is not positive definite");
  const Matrix lower = factor.matrixL();
  Eigen::Map<Vector>(prior.between_variance.data(), Kd) = lower.diagonal().array().square();
  prior.mean_coupling = lower.triangularView<Eigen::StrictlyLower>();
  Eigen::Map<Vector>(prior.first_variance.data(), Kd) = stacked(prior.within_variance) + covariance.diagonal();
  return prior;
}

TaskFits fit_tasks_from_pooled(TaskSource& source, Split split, const gmm::Gmm& pooled, double reg_covar) {
  if (pooled.shape.covariance != gmm::CovarianceType::diag)
    throw InputError("the hierarchical prior is for diagonal covariances; the pooled model is " +
                     gmm::to_string(pooled.shape.covariance));
  const std::vector<Index>& tasks = source.tasks_in(split);
  const auto count = static_cast<Index>(tasks.size());
  if (count < kMinPriorTasks) {
    throw InputError(source.describe() + ": " + std::to_string(count) + " " + split_name(split) +
                     " tasks, but the hierarchical prior needs at least " + std::to_string(kMinPriorTasks) +
                     " (its between-task variances are estimated from them)");
  }
  gmm::EmOptions em;
  em.reg_covar = reg_covar;
  em.tolerance = kFitTolerance;
  em.max_iterations = kFitIterations;
  gmm::Evaluator evaluator;
  TaskFits result;
  result.fits.reserve(tasks.size());
  for (const Index task : tasks) {
    const RowMatrix& points = source.points(task);
    if (points.rows() < 2 * pooled.shape.components) {
      throw InputError(source.describe() + ": task " + std::to_string(task) + " has " + std::to_string(points.rows()) +
                       " points, too few to fit " + std::to_string(pooled.shape.components) + " components");
    }
    gmm::Gmm fit = pooled;
    gmm::fit_em(fit, points, em, evaluator);
    result.fits.push_back(std::move(fit));
    result.sizes.push_back(points.rows());
  }
  result.description = "estimated from the " + std::to_string(count) + " " + split_name(split) +
                       " tasks, each fitted by EM from the pooled model";
  return result;
}

gmm::HierarchicalPrior estimate_hierarchical_prior(const TaskFits& fits, bool coupled, std::string& description) {
  description = fits.description + (coupled ? ", their means' covariance in full" : "");
  return coupled ? estimate_coupled_prior_from_fits(fits.fits, fits.sizes) : estimate_prior_from_fits(fits.fits, fits.sizes);
}

gmm::HierarchicalPrior estimate_hierarchical_prior(TaskSource& source, Split split, const gmm::Gmm& pooled,
                                                   double reg_covar, std::string& description, bool coupled) {
  return estimate_hierarchical_prior(fit_tasks_from_pooled(source, split, pooled, reg_covar), coupled, description);
}

gmm::Gmm fit_pooled_model(TaskSource& source, Split split, const gmm::GmmShape& shape, double reg_covar,
                          std::uint64_t seed, std::string& description) {
  const PooledTasks pooled = pool_split(source, split);
  RandomStream random(seed, StreamPurpose::init, static_cast<std::uint64_t>(pooled_stream(source, split)));
  gmm::Gmm model = gmm::initialize(pooled.points, shape, gmm::InitMethod::kmeans_plus_plus, reg_covar, random);
  gmm::EmOptions em;
  em.reg_covar = reg_covar;
  gmm::Evaluator evaluator;
  const gmm::EmResult fit = gmm::fit_em(model, pooled.points, em, evaluator);
  description = "EM from k-means++ on the " + std::to_string(pooled.points.rows()) + " points of the " +
                std::to_string(pooled.tasks) + " " + split_name(split) + " tasks (" + std::to_string(fit.iterations) +
                " iterations)";
  return model;
}

}  // namespace metagmm::task
