#include <gtest/gtest.h>

#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/sample.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

using metagmm::testing::random_gmm;

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
    const double numeric = (8.0 * (loss_at(i, kStep) - loss_at(i, -kStep)) - (loss_at(i, 2 * kStep) - loss_at(i, -2 * kStep))) /
                           (12.0 * kStep);
    const double error = std::abs(analytic[i] - numeric) / std::max({std::abs(analytic[i]), std::abs(numeric), kRelativeFloor});
    if (error > result.worst_relative_error) result = {error, i};
  }
  return result;
}

class GradientTest : public ::testing::TestWithParam<std::tuple<CovarianceType, Index>> {};

TEST_P(GradientTest, MatchesCentralFiniteDifferences) {
  const auto [type, d] = GetParam();
  const GmmShape shape{3, d, type};
  // Data from one mixture, parameters of another: responsibilities are mixed, not one-hot.
  const Gmm truth = random_gmm(shape, 100 + d, 2.0);
  RandomStream random(200 + d, StreamPurpose::test);
  const RowMatrix X = sample(truth, 300, random);
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
