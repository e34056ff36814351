// MAP adaptation (Reynolds et al. 2000) against the paper's formulas written out directly, and
// its two limits: no relevance is the maximum-likelihood M-step, infinite relevance the prior.
#include <gtest/gtest.h>

#include "metagmm/core/eigen.hpp"

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/map.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/meta/inner.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

using metagmm::testing::relative_difference;

// The textbook formula subtracts mu mu^T from second moments of size ~|x|^2: ~1e-15 relative
// rounding magnified by |x|^2 / Sigma ~ 1e3 at most here.
constexpr double kFormulaTolerance = 1e-11;
// The limits against maximization_step and the prior: the same quantities by different but
// equivalent expressions (scatter about the new mean, alpha ~1e-14 of the data), ~1e-12 apart.
constexpr double kLimitTolerance = 1e-10;

struct Case {
  Gmm prior{GmmShape{}};
  RowMatrix points;
};

Case make_case(CovarianceType type) {
  const GmmShape shape{3, 3, type};
  Case c;
  c.prior = testing::random_gmm(shape, 5, 3.0);
  Gmm truth = testing::random_gmm(shape, 6, 3.0);
  RandomStream random(7, StreamPurpose::test);
  c.points = sample(truth, 25, random);
  return c;
}

// Reynolds et al.'s equations (11)-(14) on responsibilities computed at `at`, with the same
// relevance for means and covariances (where the paper's form and ours agree).
GmmMoments textbook(const Gmm& at, const Gmm& prior, RowMatrixRef x, double r_weights, double r, double reg) {
  Evaluator evaluator;
  const RowMatrix resp = evaluator.responsibilities(at, x);
  const GmmMoments p = to_moments(prior);
  const Index K = resp.cols(), d = x.cols(), N = x.rows();
  GmmMoments m;
  m.covariance = prior.shape.covariance;
  m.weights.resize(K);
  m.means.resize(K, d);
  RowMatrix variances(K, d);
  for (Index k = 0; k < K; ++k) {
    const double n = resp.col(k).sum();
    Vector ex = Vector::Zero(d);
    Matrix exx = Matrix::Zero(d, d);
    for (Index i = 0; i < N; ++i) {
      ex += resp(i, k) * x.row(i).transpose();
      exx += resp(i, k) * x.row(i).transpose() * x.row(i);
    }
    ex /= n;
    exx /= n;
    const double aw = n / (n + r_weights), a = n / (n + r);
    m.weights[k] = aw * n / static_cast<double>(N) + (1 - aw) * p.weights[k];
    const Vector mu_p = p.means.row(k).transpose();
    const Vector mu = a * ex + (1 - a) * mu_p;
    m.means.row(k) = mu.transpose();
    const Matrix prior_cov = covariance_matrix(prior, k);
    Matrix cov = a * exx + (1 - a) * (prior_cov + mu_p * mu_p.transpose()) - mu * mu.transpose();
    cov.diagonal().array() += reg;
    if (m.covariance == CovarianceType::full) m.covariances.push_back(cov);
    variances.row(k) = cov.diagonal().transpose();
  }
  m.weights /= m.weights.sum();
  m.variances = m.covariance == CovarianceType::spherical ? RowMatrix(variances.rowwise().mean()) : variances;
  return m;
}

void expect_near(const GmmMoments& a, const GmmMoments& b, double tolerance) {
  EXPECT_LT(relative_difference(a.weights, b.weights), tolerance);
  EXPECT_LT(relative_difference(a.means, b.means), tolerance);
  if (a.covariance == CovarianceType::full) {
    for (std::size_t k = 0; k < a.covariances.size(); ++k)
      EXPECT_LT(relative_difference(a.covariances[k], b.covariances[k]), tolerance);
  } else {
    EXPECT_LT(relative_difference(a.variances, b.variances), tolerance);
  }
}

class MapStep : public ::testing::TestWithParam<CovarianceType> {};

TEST_P(MapStep, MatchesReynoldsFormulas) {
  const Case c = make_case(GetParam());
  Evaluator evaluator;
  Gmm adapted = c.prior;
  map_em_step(adapted, c.prior, c.points, Relevance{3.0, 5.0, 5.0}, 1e-6, evaluator);
  expect_near(to_moments(adapted), textbook(c.prior, c.prior, c.points, 3.0, 5.0, 1e-6), kFormulaTolerance);
  // A second step: responsibilities at the adapted mixture, the prior unchanged.
  const Gmm first = adapted;
  map_em_step(adapted, c.prior, c.points, Relevance{3.0, 5.0, 5.0}, 1e-6, evaluator);
  expect_near(to_moments(adapted), textbook(first, c.prior, c.points, 3.0, 5.0, 1e-6), kFormulaTolerance);
}

TEST_P(MapStep, NoRelevanceIsMaximumLikelihoodAndInfiniteRelevanceThePrior) {
  const Case c = make_case(GetParam());
  Evaluator evaluator;
  const Statistics stats = evaluator.statistics(c.prior, c.points);
  expect_near(to_moments(map_maximization_step(stats, c.prior, Relevance{0, 0, 0}, 1e-6)),
              to_moments(maximization_step(stats, GetParam(), 1e-6)), kLimitTolerance);
  // alpha = n / (n + 1e15) ~ 1e-14: the prior.
  expect_near(to_moments(map_maximization_step(stats, c.prior, Relevance{1e15, 1e15, 1e15}, 0.0)), to_moments(c.prior),
              kLimitTolerance);
}

TEST(MapStep, UnequalRelevanceKeepsCovariancesPositive) {
  const Case c = make_case(CovarianceType::full);
  Evaluator evaluator;
  Gmm adapted = c.prior;
  for (int step = 0; step < 5; ++step)
    map_em_step(adapted, c.prior, c.points, Relevance{1.0, 0.1, 100.0}, 0.0, evaluator);
  for (Index k = 0; k < 3; ++k) EXPECT_EQ(covariance_matrix(adapted, k).llt().info(), Eigen::Success);
}

// The inner loop's map method: m MAP-EM steps with the meta-parameters as the fixed prior.
TEST(MapStep, InnerLoopTakesMapStepsTowardsTheMetaParameters) {
  const Case c = make_case(CovarianceType::diag);
  meta::InnerOptions options;
  options.method = meta::InnerMethod::map;
  options.steps = 3;
  options.relevance = Relevance{2.0, 4.0, 8.0};
  meta::InnerLoop inner(c.prior.shape, options);
  Vector theta = c.prior.pack();
  inner.adapt(theta, c.points);
  Evaluator evaluator;
  Gmm expected = c.prior;
  for (int step = 0; step < 3; ++step) map_em_step(expected, c.prior, c.points, options.relevance, 1e-6, evaluator);
  EXPECT_EQ(theta, expected.pack());
}

TEST(MapStep, RelevanceParsesOneOrThreeFactors) {
  const Relevance one = Relevance::parse("4", "--relevance");
  EXPECT_EQ(one.weights, 4.0);
  EXPECT_EQ(one.covariances, 4.0);
  const Relevance three = Relevance::parse("1:2.5:16", "--relevance");
  EXPECT_EQ(three.means, 2.5);
  EXPECT_EQ(three.to_string(), "1:2.5:16");
  for (const char* bad : {"", "-1", "1:2", "a", "1:2:3:4", "inf"})
    EXPECT_THROW(Relevance::parse(bad, "--relevance"), InputError) << bad;
}

INSTANTIATE_TEST_SUITE_P(AllCovarianceTypes, MapStep,
                         ::testing::Values(CovarianceType::diag, CovarianceType::spherical, CovarianceType::full),
                         [](const auto& info) { return to_string(info.param); });

}  // namespace
}  // namespace metagmm::gmm
