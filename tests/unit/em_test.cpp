#include <gtest/gtest.h>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/init.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/h5/file.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

using metagmm::testing::fixture;
using metagmm::testing::random_gmm;
using metagmm::testing::relative_difference;

// Same start, same algorithm: only summation order differs from scikit-learn, and 25 EM
// iterations on well-conditioned data amplify that to ~1e-13, far inside 1e-9.
constexpr double kSklearnTolerance = 1e-9;

RowMatrix read_matrix(const h5::File& file, const std::string& name, int rank) {
  const h5::Dataset dataset = file.dataset(name, h5::Dtype::float64, rank);
  const Index rows = static_cast<Index>(dataset.dims()[0]);
  const Index cols = rank == 1 ? 1 : static_cast<Index>(dataset.row_size());
  RowMatrix m(rows, cols);
  dataset.read_rows<double>(0, rows, m.data());
  return m;
}

struct SklearnCase {
  RowMatrix X;
  Gmm start{GmmShape{}};
};

SklearnCase read_case(const h5::File& file, CovarianceType type) {
  const std::string group = "/" + to_string(type);
  SklearnCase c;
  c.X = read_matrix(file, group + "/X", 2);
  GmmMoments m;
  m.covariance = type;
  m.weights = read_matrix(file, group + "/start/weights", 1).col(0);
  m.means = read_matrix(file, group + "/start/means", 2);
  const Index K = m.means.rows(), d = m.means.cols();
  if (type == CovarianceType::full) {
    const RowMatrix stacked = read_matrix(file, group + "/start/covariances", 3);  // K x (d*d)
    for (Index k = 0; k < K; ++k) m.covariances.push_back(Eigen::Map<const RowMatrix>(stacked.row(k).data(), d, d));
  } else {
    m.variances = read_matrix(file, group + "/start/covariances", type == CovarianceType::diag ? 2 : 1);
  }
  c.start = from_moments(m);
  return c;
}

class SklearnAgreement : public ::testing::TestWithParam<CovarianceType> {};

TEST_P(SklearnAgreement, EmFromTheSameStartMatchesScikitLearn) {
  const CovarianceType type = GetParam();
  const h5::File file = h5::File::open(fixture("sklearn_em.h5"));
  const SklearnCase c = read_case(file, type);
  for (int iterations : {1, 5, 25}) {
    const std::string group = "/" + to_string(type) + "/iter_" + std::to_string(iterations);
    Gmm g = c.start;
    EmOptions options;
    options.max_iterations = iterations;
    options.tolerance = 0.0;
    Evaluator evaluator;
    const EmResult result = fit_em(g, c.X, options, evaluator);
    ASSERT_EQ(result.iterations, iterations);
    const GmmMoments m = to_moments(g);
    const RowMatrix weights = read_matrix(file, group + "/weights", 1);
    const RowMatrix means = read_matrix(file, group + "/means", 2);
    const double score = *file.double_attribute(group, "score");
    const double lower_bound = *file.double_attribute(group, "lower_bound");
    EXPECT_LT(relative_difference(m.weights, Vector(weights.col(0))), kSklearnTolerance) << group;
    EXPECT_LT(relative_difference(m.means, means), kSklearnTolerance) << group;
    if (type == CovarianceType::full) {
      const RowMatrix covariances = read_matrix(file, group + "/covariances", 3);
      const RowMatrix precisions = read_matrix(file, group + "/precisions_cholesky", 3);
      const Index d = g.shape.dim;
      for (Index k = 0; k < g.shape.components; ++k) {
        EXPECT_LT(relative_difference(m.covariances[k], Matrix(Eigen::Map<const RowMatrix>(covariances.row(k).data(), d, d))), kSklearnTolerance);
        EXPECT_LT(relative_difference(g.prec_chol[k], Matrix(Eigen::Map<const RowMatrix>(precisions.row(k).data(), d, d))), kSklearnTolerance);
      }
    } else {
      const RowMatrix covariances = read_matrix(file, group + "/covariances", type == CovarianceType::diag ? 2 : 1);
      EXPECT_LT(relative_difference(m.variances, covariances), kSklearnTolerance) << group;
    }
    EXPECT_NEAR(result.mean_log_likelihood, score, kSklearnTolerance * std::abs(score)) << group;
    EXPECT_NEAR(result.history.back(), lower_bound, kSklearnTolerance * std::abs(lower_bound)) << group;
  }
}

INSTANTIATE_TEST_SUITE_P(AllCovarianceTypes, SklearnAgreement,
                         ::testing::Values(CovarianceType::diag, CovarianceType::spherical, CovarianceType::full),
                         [](const auto& info) { return to_string(info.param); });

TEST(Em, NeverDecreasesTheLogLikelihood) {
  for (auto type : {CovarianceType::diag, CovarianceType::spherical, CovarianceType::full}) {
    const Gmm truth = random_gmm({4, 3, type}, 21, 2.0);
    RandomStream random(22, StreamPurpose::test);
    const RowMatrix X = sample(truth, 500, random);
    // A k-means++ start: with reg_covar = 0 a component that collapses onto one point has a
    // variance of pure rounding noise (the likelihood's singularity), which a random start
    // can reach; the property under test is about EM, not about that singularity.
    Gmm g = initialize(X, truth.shape, InitMethod::kmeans_plus_plus, 0.0, random);
    Evaluator evaluator;
    EmOptions options;
    options.max_iterations = 60;
    options.tolerance = 0.0;
    options.reg_covar = 0.0;  // exact EM; the floor makes the M-step not quite a maximiser
    const EmResult result = fit_em(g, X, options, evaluator);
    for (size_t i = 1; i < result.history.size(); ++i) {
      // Rounding in a sum of 500 terms: 1e-12 relative.
      EXPECT_GE(result.history[i], result.history[i - 1] - 1e-12 * std::abs(result.history[i - 1]))
          << to_string(type) << " iteration " << i;
    }
    EXPECT_GE(result.mean_log_likelihood, result.history.back() - 1e-12 * std::abs(result.history.back()));
  }
}

TEST(Em, StopsByScikitLearnsRule) {
  const Gmm truth = random_gmm({3, 2, CovarianceType::diag}, 31, 5.0);
  RandomStream random(32, StreamPurpose::test);
  const RowMatrix X = sample(truth, 400, random);
  Gmm g = initialize(X, truth.shape, InitMethod::kmeans_plus_plus, 1e-6, random);
  Evaluator evaluator;
  EmOptions options;
  options.tolerance = 1e-3;
  const EmResult result = fit_em(g, X, options, evaluator);
  ASSERT_TRUE(result.converged);
  ASSERT_GE(result.history.size(), 2u);
  const size_t last = result.history.size() - 1;
  EXPECT_LT(std::abs(result.history[last] - result.history[last - 1]), options.tolerance);
  for (size_t i = 1; i < last; ++i) EXPECT_GE(std::abs(result.history[i] - result.history[i - 1]), options.tolerance);
}

TEST(Em, OptionsAreValidated) {
  EmOptions o;
  o.max_iterations = 0;
  EXPECT_THROW(o.validate(), InputError);
  o = {};
  o.tolerance = -1;
  EXPECT_THROW(o.validate(), InputError);
  o = {};
  o.reg_covar = std::nan("");
  EXPECT_THROW(o.validate(), InputError);
}

}  // namespace
}  // namespace metagmm::gmm
