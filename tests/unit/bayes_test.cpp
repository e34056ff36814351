// Bayesian adaptation under a hierarchical prior: the exact meta-gradient through m
// variational-EM steps against central differences of the query loss, the prior's flat form,
// the method-of-moments estimate on tasks drawn from a known hierarchy, and the prior file.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/bayes.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/meta/bayes.hpp"
#include "metagmm/task/hierarchical_prior.hpp"
#include "metagmm/task/prior_file.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

using metagmm::testing::relative_difference;

// Fourth-order central differences with h = 1e-4 in the log-parameters: the steps are smooth
// (softmax responsibilities, rational updates, digamma) at that scale, so truncation is below
// 1e-12 and rounding ~1e-11 / h; a dropped term of the chain rule is off by 1e-3 or more.
constexpr double kMetaGradientTolerance = 1e-6;
constexpr double kStep = 1e-4;

struct Problem {
  GmmShape shape{3, 2, CovarianceType::diag};
  RowMatrix support, query;
  HierarchicalPrior prior{GmmShape{3, 2, CovarianceType::diag}};
};

Problem make_problem(Index support, std::uint64_t seed) {
  Problem p;
  const Gmm truth = testing::random_gmm(p.shape, seed, 2.0);
  RandomStream random(seed + 1, StreamPurpose::test);
  p.support = sample(truth, support, random);
  p.query = sample(truth, 40, random);
  p.prior.concentration = 3.0 * truth.weights();
  for (Index k = 0; k < p.shape.components; ++k) {
    for (Index j = 0; j < p.shape.dim; ++j) {
      p.prior.mean(k, j) = truth.means(k, j) + 0.4 * random.normal();
      p.prior.within_variance(k, j) = std::exp(2.0 * truth.log_sd(k, j) + 0.3 * random.normal());
      p.prior.between_variance(k, j) = std::exp(-1.0 + 0.5 * random.normal());
      p.prior.strength(k, j) = std::exp(1.5 + 0.5 * random.normal());
      p.prior.first_variance(k, j) = p.prior.within_variance(k, j) + p.prior.between_variance(k, j);
    }
  }
  return p;
}

double query_loss(const Problem& p, const Vector& flat, int steps) {
  const HierarchicalPrior prior = HierarchicalPrior::unpack(p.shape, flat);
  std::vector<PosteriorState> path;
  variational_path(prior, p.support, steps, path);
  Evaluator evaluator;
  const Gmm model = path.empty() ? prior.first_model() : posterior_predictive(path.back(), p.shape);
  return -evaluator.mean_log_likelihood(model, p.query);
}

// The reverse pass's gradient of the query loss after m steps, and its central differences.
struct GradientPair {
  Vector analytic, numeric;
};

GradientPair meta_gradients(const Problem& p, const Vector& flat, int m) {
  const HierarchicalPrior prior = HierarchicalPrior::unpack(p.shape, flat);
  std::vector<PosteriorState> path;
  variational_path(prior, p.support, m, path);
  Evaluator evaluator;
  Vector adjoint;
  const Gmm model = path.empty() ? prior.first_model() : posterior_predictive(path.back(), p.shape);
  loss_and_gradient(model, p.query, evaluator, adjoint);
  GradientPair g{variational_path_gradient(prior, p.support, path, adjoint), Vector(flat.size())};
  for (Index i = 0; i < flat.size(); ++i) {
    g.numeric[i] = testing::central_difference(
        [&](double offset) {
          Vector moved = flat;
          moved[i] += offset;
          return query_loss(p, moved, m);
        },
        kStep);
  }
  return g;
}

TEST(Bayes, MetaGradientMatchesCentralDifferencesThroughTheSteps) {
  for (const Index support : {5, 30}) {
    const Problem p = make_problem(support, 50 + static_cast<std::uint64_t>(support));
    const Vector flat = p.prior.pack();
    for (const int m : {0, 1, 2, 5}) {
      const auto [analytic, numeric] = meta_gradients(p, flat, m);
      const double error = relative_difference(analytic, numeric);
      std::cout << "[ bayes ] support " << support << " m=" << m << ": relative error " << error << "\n";
      EXPECT_LE(error, kMetaGradientTolerance) << "support " << support << " m " << m;
      // Each block on its own (concentration, tau2, s2, kappa), so a small one cannot hide.
      const Index P = p.shape.parameter_count(), Kd = p.shape.components * p.shape.dim;
      if (m > 0) {
        for (const auto& [start, size] : {std::pair{P, Index{1}}, {P + 1, Kd}, {P + 1 + Kd, Kd}, {P + 1 + 2 * Kd, Kd}}) {
          EXPECT_LE(relative_difference(analytic.segment(start, size), numeric.segment(start, size)),
                    kMetaGradientTolerance)
              << "block at " << start << ", support " << support << " m " << m;
        }
      }
    }
  }
}

// A coupled prior (one Gaussian over all K d means, L = diag(sqrt tau2) + C): the same check,
// at C = 0 (where training starts: C's gradient must already be right there) and at a random C,
// with C's block on its own.
TEST(Bayes, CoupledMeansMetaGradientMatchesCentralDifferences) {
  for (const Index support : {5, 30}) {
    Problem p = make_problem(support, 150 + static_cast<std::uint64_t>(support));
    for (const double coupling_scale : {0.0, 0.3}) {
      HierarchicalPrior start = p.prior.with_coupling();
      RandomStream random(7 + static_cast<std::uint64_t>(support), StreamPurpose::test);
      for (Index r = 1; r < start.mean_coupling.rows(); ++r)
        for (Index c = 0; c < r; ++c) start.mean_coupling(r, c) = coupling_scale * random.normal();
      const Vector flat = start.pack();
      ASSERT_EQ(flat.size(), HierarchicalPrior::flat_size(p.shape, true));
      ASSERT_TRUE(HierarchicalPrior::unpack(p.shape, flat).coupled());
      for (const int m : {1, 3}) {
        const auto [analytic, numeric] = meta_gradients(p, flat, m);
        const double error = relative_difference(analytic, numeric);
        std::cout << "[ bayes ] coupled " << coupling_scale << " support " << support << " m=" << m
                  << ": relative error " << error << "\n";
        EXPECT_LE(error, kMetaGradientTolerance) << "support " << support << " m " << m;
        const Index P = p.shape.parameter_count(), Kd = p.shape.components * p.shape.dim;
        const Index coupling = HierarchicalPrior::coupling_size(p.shape);
        for (const auto& [start_at, size] : {std::pair{Index{0}, P}, {P + 1, Kd}, {P + 1 + 3 * Kd, coupling}}) {
          EXPECT_LE(relative_difference(analytic.segment(start_at, size), numeric.segment(start_at, size)),
                    kMetaGradientTolerance)
              << "block at " << start_at << ", support " << support << " m " << m;
        }
        EXPECT_GT(analytic.tail(coupling).norm(), 0.0) << "C's gradient vanishes: training could not leave C = 0";
      }
    }
  }
}

// C = 0 is the independent model: the same posterior, to rounding (the coupled path inverts a
// Kd x Kd matrix where the independent one divides).
TEST(Bayes, ZeroCouplingIsTheIndependentModel) {
  const Problem p = make_problem(20, 160);
  std::vector<PosteriorState> independent, coupled;
  variational_path(p.prior, p.support, 4, independent);
  variational_path(p.prior.with_coupling(), p.support, 4, coupled);
  for (std::size_t t = 0; t < independent.size(); ++t) {
    EXPECT_LE(relative_difference(coupled[t].mean, independent[t].mean), 1e-12) << "step " << t;
    EXPECT_LE(relative_difference(coupled[t].mean_variance, independent[t].mean_variance), 1e-12) << "step " << t;
    EXPECT_LE(relative_difference(coupled[t].variance, independent[t].variance), 1e-12) << "step " << t;
  }
}

// Components that move together: a task whose points all come from component 0 moves
// component 1's posterior mean by Gaussian conditioning, m_1 + Sigma_10 / Sigma_00 (muhat_0 - m_0),
// which an independent prior cannot do (it leaves m_1 where it was).
TEST(Bayes, CoupledPriorMovesAnUnseenComponentWithASeenOne) {
  const GmmShape shape{2, 1, CovarianceType::diag};
  HierarchicalPrior prior(shape);
  prior.concentration << 5.0, 5.0;
  prior.mean << -20.0, 20.0;
  prior.within_variance << 1.0, 1.0;
  prior.first_variance << 2.0, 2.0;
  prior.between_variance << 4.0, 1.0;
  prior = prior.with_coupling();
  prior.mean_coupling(1, 0) = 1.5;  // Sigma = [[4, 3], [3, 1 + 2.25]]
  RowMatrix points(6, 1);
  points << -17.5, -18.0, -18.5, -17.0, -18.2, -17.8;  // component 0 moved by about +2.2
  std::vector<PosteriorState> path;
  variational_path(prior, points, 3, path);
  const PosteriorState& q = path.back();
  ASSERT_LT(q.counts[1], 1e-30);  // component 1 sees nothing
  const double moved = q.mean(0, 0) - prior.mean(0, 0);
  EXPECT_GT(moved, 1.5);
  EXPECT_NEAR(q.mean(1, 0) - prior.mean(1, 0), 3.0 / 4.0 * moved, 1e-9);
  std::vector<PosteriorState> independent;
  HierarchicalPrior alone = prior;
  alone.mean_coupling.resize(0, 0);
  variational_path(alone, points, 3, independent);
  EXPECT_NEAR(independent.back().mean(1, 0), prior.mean(1, 0), 1e-9);
}

TEST(Bayes, AlgorithmContributionIsTheGradientAndLossOfItsAdaptation) {
  const Problem p = make_problem(12, 70);
  meta::BayesSettings settings;
  settings.steps = 3;
  settings.prior = "unused.h5";
  meta::BayesianAdaptation algorithm(p.shape, settings);
  task::Episode episode;
  episode.support = p.support;
  episode.query = p.query;
  const Vector flat = p.prior.pack();
  std::vector<double> out(static_cast<std::size_t>(algorithm.contribution_size()));
  algorithm.contribute(flat, episode, out);
  EXPECT_DOUBLE_EQ(out.back(), query_loss(p, flat, 3));
  EXPECT_DOUBLE_EQ(-algorithm.adapted_log_likelihood(flat, episode), query_loss(p, flat, 3));
  std::vector<Vector> iterates;
  algorithm.adaptation_path(flat, p.support, 3, iterates);
  ASSERT_EQ(iterates.size(), 4u);
  EXPECT_EQ(iterates.front(), HierarchicalPrior::unpack(p.shape, flat).first_model().pack());
  EXPECT_EQ(iterates.back(), algorithm.adapted_model(flat, p.support));
}

TEST(Bayes, ComponentSeenOnFewPointsStaysWide) {
  Problem p = make_problem(4, 80);
  std::vector<PosteriorState> path;
  variational_path(p.prior, p.support, 1, path);
  const PosteriorState& q = path.back();
  // The predictive variance is v + P, and P shrinks as 1 / (1 / tau2 + n / v).
  for (Index k = 0; k < p.shape.components; ++k)
    for (Index j = 0; j < p.shape.dim; ++j)
      EXPECT_NEAR(q.mean_variance(k, j), 1.0 / (1.0 / p.prior.between_variance(k, j) + q.counts[k] / p.prior.within_variance(k, j)),
                  1e-12 * q.mean_variance(k, j));
  const Gmm predictive = posterior_predictive(q, p.shape);
  EXPECT_TRUE(((2.0 * predictive.log_sd.array()).exp() > q.variance.array()).all());
}

TEST(Bayes, FlatFormRoundTrips) {
  const Problem p = make_problem(10, 90);
  const HierarchicalPrior back = HierarchicalPrior::unpack(p.shape, p.prior.pack());
  EXPECT_LE(relative_difference(back.concentration, p.prior.concentration), 1e-14);
  EXPECT_LE(relative_difference(back.strength, p.prior.strength), 1e-14);
  EXPECT_LE(relative_difference(back.between_variance, p.prior.between_variance), 1e-14);
  EXPECT_EQ(back.mean, p.prior.mean);
  EXPECT_FALSE(back.coupled());
  HierarchicalPrior coupled = p.prior.with_coupling();
  coupled.mean_coupling(3, 1) = 0.25;
  const HierarchicalPrior coupled_back = HierarchicalPrior::unpack(p.shape, coupled.pack());
  ASSERT_TRUE(coupled_back.coupled());
  EXPECT_EQ(coupled_back.mean_coupling, coupled.mean_coupling);
}

// 400 fitted tasks of n = 4000 points with equal weights, each drawn by `draw`.
constexpr Index kFitPoints = 4000;
struct TaskFits {
  std::vector<Gmm> fits;
  std::vector<Index> sizes;
};

template <typename Draw>
TaskFits draw_fits(const GmmShape& shape, std::uint64_t seed, Draw draw) {
  RandomStream random(seed, StreamPurpose::test);
  TaskFits out;
  for (int t = 0; t < 400; ++t) {
    Gmm g(shape);
    g.logits.setZero();
    g.log_sd.setZero();
    draw(g, random);
    out.fits.push_back(g);
    out.sizes.push_back(kFitPoints);
  }
  return out;
}

// Tasks drawn from a known hierarchy: the moments estimate recovers it.
TEST(Bayes, MethodOfMomentsRecoversTheHierarchy) {
  const GmmShape shape{2, 3, CovarianceType::diag};
  const double tau2 = 0.25, s2 = 1.0, n = kFitPoints;
  const auto [fits, sizes] = draw_fits(shape, 7, [&](Gmm& g, RandomStream& random) {
    for (Index k = 0; k < 2; ++k)
      for (Index j = 0; j < 3; ++j) {
        const double v = s2 * std::exp(0.1 * random.normal() - 0.005);  // var log v = 0.01: strength ~200
        g.means(k, j) = 10.0 * static_cast<double>(k) + std::sqrt(tau2) * random.normal() +
                        std::sqrt(v / (n / 2.0)) * random.normal();
        g.log_sd(k, j) = 0.5 * std::log(v);
      }
  });
  const HierarchicalPrior prior = task::estimate_prior_from_fits(fits, sizes);
  for (Index j = 0; j < 3; ++j) {
    EXPECT_NEAR(prior.mean(1, j), 10.0, 0.1);
    EXPECT_NEAR(prior.between_variance(0, j), tau2, 0.05);
    EXPECT_NEAR(prior.within_variance(1, j), s2, 0.03);
    EXPECT_GT(prior.strength(0, j), 80.0);
    EXPECT_LT(prior.strength(0, j), 600.0);
  }
  // Equal weights in every task: no spread beyond sampling, the concentration at its cap.
  EXPECT_NEAR(prior.concentration.sum(), task::HierarchicalPriorLimits{}.max_concentration, 1e-6);
}

// Tasks whose two components share one shift per task (variance 1 per dimension) on top of
// their own jitter (variance 0.25): the coupled moments estimate recovers the stacked means'
// covariance, shift + jitter on the diagonal and the shift between the components; the
// independent estimate sees only the diagonal. Tolerances: 400 tasks leave a standard error of
// about 0.07 on a covariance of 1.25 (sqrt(2 / 400) times it).
TEST(Bayes, CoupledMomentsRecoverComponentsThatMoveTogether) {
  const GmmShape shape{2, 2, CovarianceType::diag};
  const double shift2 = 1.0, tau2 = 0.25, n = kFitPoints;
  const auto [fits, sizes] = draw_fits(shape, 17, [&](Gmm& g, RandomStream& random) {
    const double shift[2] = {std::sqrt(shift2) * random.normal(), std::sqrt(shift2) * random.normal()};
    for (Index k = 0; k < 2; ++k)
      for (Index j = 0; j < 2; ++j)
        g.means(k, j) = 10.0 * static_cast<double>(k) + shift[j] + std::sqrt(tau2) * random.normal() +
                        std::sqrt(1.0 / (n / 2.0)) * random.normal();
  });
  const HierarchicalPrior prior = task::estimate_coupled_prior_from_fits(fits, sizes);
  ASSERT_TRUE(prior.coupled());
  Matrix lower = prior.mean_coupling;
  lower.diagonal() = Eigen::Map<const Vector>(prior.between_variance.data(), 4).array().sqrt();
  const Matrix covariance = lower * lower.transpose();  // u = (mu_00, mu_01, mu_10, mu_11)
  for (Index i = 0; i < 4; ++i) EXPECT_NEAR(covariance(i, i), shift2 + tau2, 0.2);
  EXPECT_NEAR(covariance(0, 2), shift2, 0.2);  // dimension 0 of both components: the shared shift
  EXPECT_NEAR(covariance(1, 3), shift2, 0.2);
  EXPECT_NEAR(covariance(0, 1), 0.0, 0.2);     // the shift's dimensions are independent
  EXPECT_NEAR(prior.first_variance(1, 1), 1.0 + shift2 + tau2, 0.2);
  const HierarchicalPrior independent = task::estimate_prior_from_fits(fits, sizes);
  EXPECT_FALSE(independent.coupled());
  EXPECT_NEAR(independent.between_variance(0, 0), covariance(0, 0), 1e-9);
}

// A degenerate component (variance 1e-6, means that hardly move) next to one whose means spread
// by 1e3: the floor at 1e-4 min s2 alone would leave a condition near 1e13; the estimate keeps it
// at the limit, and the learner's posterior precision stays positive definite.
TEST(Bayes, CoupledMomentsKeepTheConditionBounded) {
  const GmmShape shape{2, 1, CovarianceType::diag};
  const auto [fits, sizes] = draw_fits(shape, 23, [&](Gmm& g, RandomStream& random) {
    g.means(0, 0) = 1e-4 * random.normal();
    g.log_sd(0, 0) = 0.5 * std::log(1e-6);
    g.means(1, 0) = 10.0 + 1e3 * random.normal();
  });
  const task::HierarchicalPriorLimits limits;
  const HierarchicalPrior prior = task::estimate_coupled_prior_from_fits(fits, sizes);
  Matrix lower = prior.mean_coupling;
  lower.diagonal() = Eigen::Map<const Vector>(prior.between_variance.data(), 2).array().sqrt();
  const Vector eigenvalues = Eigen::SelfAdjointEigenSolver<Matrix>(lower * lower.transpose()).eigenvalues();
  // Relative 1e-6: the eigenvalues of L L^T recomputed from the Cholesky factor, condition ~1e6.
  EXPECT_LE(eigenvalues.maxCoeff() / eigenvalues.minCoeff(), limits.max_coupled_condition * (1 + 1e-6));
  EXPECT_GT(eigenvalues.maxCoeff(), 1e5);  // the spread component is kept
  RowMatrix points(4, 1);
  points << 0.0, 1e-3, 10.0, 900.0;
  std::vector<PosteriorState> path;
  EXPECT_NO_THROW(variational_path(prior, points, 5, path));
}

TEST(Bayes, PriorFileRoundTripsAndRejectsOtherFiles) {
  const Problem p = make_problem(10, 95);
  const std::string path = testing::temp_file("prior.h5");
  task::write_prior_file(path, p.prior, "test", "none");
  const HierarchicalPrior back = task::read_prior_file(path);
  EXPECT_EQ(back.pack(), HierarchicalPrior::unpack(p.shape, p.prior.pack()).pack());
  EXPECT_TRUE(task::is_prior_file(path));
  EXPECT_THROW(task::read_prior_file(path + ".missing"), InputError);
}

}  // namespace
}  // namespace metagmm::gmm
