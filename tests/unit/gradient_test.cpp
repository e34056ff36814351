#include <gtest/gtest.h>

#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/sample.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

using metagmm::testing::random_gmm;
using metagmm::testing::central_difference;
using metagmm::testing::relative_difference;

// Fourth-order central differences, (8[L(h) - L(-h)] - [L(2h) - L(-2h)]) / 12h, with h = 1e-3:
// truncation ~h^4 |L^(5)| ~ 1e-12, and the loss's own rounding (~1e-14 relative, from the
// expanded quadratic form) contributes ~1e-14 |L| / h ~ 1e-10. An exact gradient therefore
// agrees to far better than 1e-6; a wrong term in it shows up at 1e-2 or worse.
constexpr double kGradientTolerance = 1e-6;
constexpr double kStep = 1e-3;
// Entries smaller than this are compared absolutely: a relative error of a gradient entry
// that is zero up to rounding means nothing.
constexpr double kRelativeFloor = 1e-3;

struct CheckResult {
  double worst_relative_error = 0.0;
  Index worst_index = -1;
};

CheckResult check_gradient(const Gmm& g, const RowMatrix& X) {
  Evaluator evaluator;
  Vector analytic;
  loss_and_gradient(g, X, evaluator, analytic);
  const Vector theta = g.pack();
  CheckResult result;
  auto loss_at = [&](Index i, double offset) {
    Vector moved = theta;
    moved[i] += offset;
    return -evaluator.mean_log_likelihood(Gmm::unpack(g.shape, moved), X);
  };
  for (Index i = 0; i < theta.size(); ++i) {
    const double numeric = central_difference([&](double offset) { return loss_at(i, offset); }, kStep);
    const double error = std::abs(analytic[i] - numeric) / std::max({std::abs(analytic[i]), std::abs(numeric), kRelativeFloor});
    if (error > result.worst_relative_error) result = {error, i};
  }
  return result;
}

// 300 points of a random 3-component mixture in d dimensions, and the stream that drew them.
struct Sampled {
  GmmShape shape;
  Gmm truth;
  RandomStream random;
  RowMatrix X;
  Sampled(CovarianceType type, Index d)
      : shape{3, d, type}, truth(random_gmm(shape, 100 + d, 2.0)), random(200 + d, StreamPurpose::test),
        X(sample(truth, 300, random)) {}
};

class GradientTest : public ::testing::TestWithParam<std::tuple<CovarianceType, Index>> {};

TEST_P(GradientTest, MatchesCentralFiniteDifferences) {
  const auto [type, d] = GetParam();
  const Sampled data(type, d);
  const GmmShape& shape = data.shape;
  const RowMatrix& X = data.X;
  // Data from one mixture, parameters of another: responsibilities are mixed, not one-hot.
  const Gmm at = random_gmm(shape, 300 + d, 2.0);
  const CheckResult result = check_gradient(at, X);
  std::cout << "[ gradient ] " << to_string(type) << " d=" << d << ": worst relative error " << result.worst_relative_error
            << " at parameter " << result.worst_index << " of " << shape.parameter_count() << "\n";
  EXPECT_LE(result.worst_relative_error, kGradientTolerance);
}

INSTANTIATE_TEST_SUITE_P(AllCovarianceTypes, GradientTest,
                         ::testing::Combine(::testing::Values(CovarianceType::diag, CovarianceType::spherical, CovarianceType::full),
                                            ::testing::Values(1, 2, 5)),
                         [](const auto& info) {
                           return to_string(std::get<0>(info.param)) + "_d" + std::to_string(std::get<1>(info.param));
                         });

// Hessian-vector products against fourth-order central differences of the exact gradient along
// a unit direction v. The gradient's derivatives along v grow with the squared Mahalanobis
// distances (about d), so the step is smaller than the gradient test's: with h = 1e-4 the
// truncation h^4 |g^(5)| stays below 1e-9 relative up to d = 25 (measured: 1e-3 gives 5e-4 there,
// 1e-4 gives 7e-8 and 1e-5 gives 3e-11 on a direction of norm 12), and rounding, about
// 1e-14 |g| / h, stays near 1e-10. The error is taken relative to the product's largest entry
// (relative_difference): single entries can be far smaller than the gradient's rounding / h. An
// exact product agrees far inside 1e-6; a missing term is off by 1e-2 or more.
constexpr double kHessianTolerance = 1e-6;
constexpr double kHessianStep = 1e-4;

double hessian_error(const Gmm& g, const RowMatrix& X, const Vector& direction) {
  const Vector v = direction.normalized();
  Evaluator evaluator;
  const Vector product = hessian_vector_product(g, v, X, evaluator);
  const Vector theta = g.pack();
  auto gradient_at = [&](double offset) {
    Vector gradient;
    loss_and_gradient(Gmm::unpack(g.shape, theta + offset * v), X, evaluator, gradient);
    return gradient;
  };
  return relative_difference(product, central_difference(gradient_at, kHessianStep));
}

class HessianTest : public ::testing::TestWithParam<std::tuple<CovarianceType, Index>> {};

// d = 1 ... 25 take the fused pass for diag/spherical; d = 200 (K x F > 1 100) the blocked
// matrix-product pass; full covariances the triangular kernel.
TEST_P(HessianTest, MatchesCentralDifferencesOfTheGradient) {
  const auto [type, d] = GetParam();
  Sampled data(type, d);
  const GmmShape& shape = data.shape;
  const RowMatrix& X = data.X;
  RandomStream& random = data.random;
  // Near the truth but not at it: every component owns points, and responsibilities are mixed
  // where components overlap.
  Vector theta = data.truth.pack();
  for (Index i = 0; i < theta.size(); ++i) theta[i] += 0.3 * random.normal();
  const Gmm at = Gmm::unpack(shape, theta);
  double worst = 0.0;
  for (int trial = 0; trial < 3; ++trial) {  // random directions: every block moves
    Vector v(shape.parameter_count());
    for (Index i = 0; i < v.size(); ++i) v[i] = random.normal();
    worst = std::max(worst, hessian_error(at, X, v));
  }
  for (Index i : {Index{0}, shape.parameter_count() - 1}) {  // single coordinates: a logit, a covariance entry
    worst = std::max(worst, hessian_error(at, X, Vector::Unit(shape.parameter_count(), i)));
  }
  std::cout << "[ hessian ] " << to_string(type) << " d=" << d << ": worst relative error " << worst << "\n";
  EXPECT_LE(worst, kHessianTolerance);
}

std::string hessian_case_name(const ::testing::TestParamInfo<std::tuple<CovarianceType, Index>>& info) {
  return to_string(std::get<0>(info.param)) + "_d" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Diagonal, HessianTest,
                         ::testing::Combine(::testing::Values(CovarianceType::diag, CovarianceType::spherical),
                                            ::testing::Values(1, 2, 5, 25, 200)),
                         hessian_case_name);
// Full covariances take the same kernel at every d; at d = 200 (60 000 parameters) the
// differences' truncation error, not the product, would be what is measured.
INSTANTIATE_TEST_SUITE_P(Full, HessianTest,
                         ::testing::Combine(::testing::Values(CovarianceType::full), ::testing::Values(1, 2, 5, 25)),
                         hessian_case_name);

TEST(Hessian, TangentStatisticsKeepTheStatisticsOfThePlainPass) {
  // The pass that also takes derivatives must not change the statistics themselves.
  for (auto type : {CovarianceType::diag, CovarianceType::full}) {
    for (Index d : {2, 200}) {  // the fused pass and (diag) the blocked one
      const Gmm g = random_gmm({3, d, type}, 11);
      RandomStream random(12, StreamPurpose::test);
      const RowMatrix X = sample(g, 100, random);
      Evaluator a, b;
      const Statistics plain = a.statistics(g, X);
      const auto [stats, tangent] = b.tangent_statistics(g, Vector::Ones(g.shape.parameter_count()), X);
      EXPECT_EQ(plain.weight_sum, stats.weight_sum);
      EXPECT_EQ(plain.first, stats.first);
      EXPECT_DOUBLE_EQ(plain.log_likelihood_sum, stats.log_likelihood_sum);
      // Each point's weights w_nk sum to zero over k, so the tangent's weight sums do too.
      EXPECT_NEAR(tangent.weight_sum.sum(), 0.0, 1e-9 * X.rows());
    }
  }
}

TEST(Gradient, FiniteForPointsFarFromEveryComponentInHighDimension) {
  for (auto type : {CovarianceType::diag, CovarianceType::spherical, CovarianceType::full}) {
    const Index d = 256;
    const Gmm g = random_gmm({4, d, type}, 7);
    RowMatrix X = RowMatrix::Constant(5, d, 500.0);
    X.row(1).setConstant(-800.0);
    Evaluator evaluator;
    Vector gradient;
    const double loss = loss_and_gradient(g, X, evaluator, gradient);
    EXPECT_TRUE(std::isfinite(loss)) << to_string(type);
    EXPECT_TRUE(gradient.allFinite()) << to_string(type);
  }
}

}  // namespace
}  // namespace metagmm::gmm
