#include <gtest/gtest.h>

#include "metagmm/core/eigen.hpp"
#include <cmath>
#include <numbers>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/covariance.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/gmm/stats.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

using metagmm::testing::random_gmm;
using metagmm::testing::relative_difference;

const CovarianceType kTypes[] = {CovarianceType::diag, CovarianceType::spherical, CovarianceType::full};

// The textbook density from the parameters themselves, one point and one component at a time
// in long double: log N = -|U^T (x - mu)|^2 / 2 + sum_j log U_jj - d/2 log 2 pi, with U the
// precision factor (1/sigma on the diagonal for diag and spherical). Independent of the
// feature-map path under test, which expands the quadratic form through the precision matrix.
struct TextbookDensity {
  const Gmm& g;
  explicit TextbookDensity(const Gmm& model) : g(model) {}
  long double component(Index k, const Eigen::RowVectorXd& x) const {
    const Index d = g.shape.dim;
    long double quadratic = 0.0L, log_det = 0.0L;
    for (Index j = 0; j < d; ++j) {
      long double y = 0.0L;  // (U^T (x - mu))_j
      if (g.shape.covariance == CovarianceType::full) {
        for (Index i = 0; i <= j; ++i) y += static_cast<long double>(g.prec_chol[k](i, j)) * (static_cast<long double>(x[i]) - g.means(k, i));
        log_det += std::log(static_cast<long double>(g.prec_chol[k](j, j)));
      } else {
        const long double log_sd = g.log_sd(k, g.shape.covariance == CovarianceType::diag ? j : 0);
        y = (static_cast<long double>(x[j]) - g.means(k, j)) * std::exp(-log_sd);
        log_det -= log_sd;
      }
      quadratic += y * y;
    }
    return -0.5L * (quadratic + d * std::log(2.0L * std::numbers::pi_v<long double>)) + log_det;
  }
  long double mixture(const Eigen::RowVectorXd& x) const {
    const Index K = g.shape.components;
    std::vector<long double> terms(K);
    const Vector w = g.weights();
    for (Index k = 0; k < K; ++k) terms[k] = std::log(static_cast<long double>(w[k])) + component(k, x);
    const long double top = *std::max_element(terms.begin(), terms.end());
    long double sum = 0;
    for (auto t : terms) sum += std::exp(t - top);
    return top + std::log(sum);
  }
};

TEST(Params, PackUnpackRoundTrip) {
  for (auto type : kTypes) {
    const Gmm g = random_gmm({3, 4, type}, 1);
    const Vector flat = g.pack();
    ASSERT_EQ(flat.size(), g.shape.parameter_count());
    const Gmm back = Gmm::unpack(g.shape, flat);
    EXPECT_EQ(back.pack(), flat) << to_string(type);
  }
  EXPECT_EQ((GmmShape{2, 3, CovarianceType::full}.parameter_count()), 2 * (1 + 3 + 6));
  EXPECT_EQ((GmmShape{2, 3, CovarianceType::spherical}.parameter_count()), 2 * (1 + 3 + 1));
}

TEST(Params, MomentsRoundTripAndPrecisionFactorInvertsCovariance) {
  for (auto type : kTypes) {
    const Gmm g = random_gmm({3, 4, type}, 2);
    const Gmm back = from_moments(to_moments(g));
    // Rebuilding from moments goes through a Cholesky factorisation and an inverse.
    EXPECT_LT(relative_difference(back.pack(), metagmm::testing::canonical_parameters(g)), 1e-12) << to_string(type);
    for (Index k = 0; k < 3; ++k) {
      // Expand the type's precision factor (1 x d, 1 x 1 or d x d) to a d x d matrix.
      Matrix u = precision_cholesky(g, k);
      if (type == CovarianceType::diag) u = Matrix(u.row(0).asDiagonal());
      if (type == CovarianceType::spherical) u = Matrix::Identity(4, 4) * u(0, 0);
      const Matrix product = covariance_matrix(g, k) * u * u.transpose();
      EXPECT_LT((product - Matrix::Identity(4, 4)).cwiseAbs().maxCoeff(), 1e-12);
    }
  }
  GmmMoments bad = to_moments(random_gmm({2, 2, CovarianceType::diag}, 3));
  bad.variances(1, 0) = 0.0;
  EXPECT_THROW(from_moments(bad), NumericError);  // a numeric breakdown, not bad input
}

TEST(Params, LogLikelihoodMatchesTextbookFormulaInEveryDimension) {
  for (auto type : kTypes) {
    for (Index d : {1, 2, 16, 64, 256}) {
      const Gmm g = random_gmm({3, d, type}, 4 + d);
      RandomStream random(9, StreamPurpose::test, d);
      RowMatrix X = sample(g, 40, random);
      // Points far from every component: log-densities of -1e5 and below must not underflow.
      X.row(0).setConstant(300.0);
      X.row(1).setConstant(-1000.0);
      Evaluator evaluator;
      const Vector per_point = evaluator.point_log_likelihoods(g, X);
      const RowMatrix resp = evaluator.responsibilities(g, X);
      const RowMatrix densities = evaluator.component_log_densities(g, X);
      const TextbookDensity reference(g);
      for (Index n = 0; n < X.rows(); ++n) {
        for (Index k = 0; k < g.shape.components; ++k) {
          const long double expected = reference.component(k, X.row(n));
          EXPECT_NEAR(densities(n, k), static_cast<double>(expected), 1e-11 * std::max(1.0L, std::fabs(expected)))
              << to_string(type) << " d=" << d << " point " << n << " component " << k;
        }
        const long double expected = reference.mixture(X.row(n));
        ASSERT_TRUE(std::isfinite(per_point[n])) << to_string(type) << " d=" << d << " point " << n;
        // Relative 1e-11: the quadratic form is expanded into products of sizes up to
        // |x|^2/sigma^2 ~ 1e8 here, which costs ~1e-16 * 1e8 relative to the result's 1e5..1e8.
        EXPECT_NEAR(per_point[n], static_cast<double>(expected), 1e-11 * std::max(1.0L, std::fabs(expected)))
            << to_string(type) << " d=" << d << " point " << n;
        EXPECT_NEAR(resp.row(n).sum(), 1.0, 1e-12);
        EXPECT_TRUE(resp.row(n).allFinite());
      }
      EXPECT_NEAR(evaluator.mean_log_likelihood(g, X), per_point.mean(), 1e-12 * std::abs(per_point.mean()));
    }
  }
}

TEST(Params, SamplesHaveTheModelsMoments) {
  for (auto type : kTypes) {
    GmmShape shape{1, 3, type};
    const Gmm g = random_gmm(shape, 12);
    RandomStream random(13, StreamPurpose::test);
    const Index n = 100000;
    const RowMatrix X = sample(g, n, random);
    const Eigen::RowVectorXd mean = X.colwise().mean();
    const RowMatrix centered = X.rowwise() - mean;
    const Matrix cov = centered.transpose() * centered / static_cast<double>(n - 1);
    const Matrix truth = covariance_matrix(g, 0);
    // Sampling error of a mean or covariance entry is about sigma^2 / sqrt(n) ~ 0.3%; allow 2%.
    EXPECT_LT((mean - g.means.row(0)).cwiseAbs().maxCoeff(), 0.02 * std::sqrt(truth.diagonal().maxCoeff()));
    EXPECT_LT((cov - truth).cwiseAbs().maxCoeff(), 0.02 * truth.diagonal().maxCoeff()) << to_string(type);
  }
}

}  // namespace
}  // namespace metagmm::gmm

namespace metagmm::gmm {
namespace {

// The covariance table: every type's name parses back to it, its parameter count is the flat
// vector's covariance part, and its stored shape is what the files hold.
TEST(CovarianceTraits, NamesCountsAndStoredShapesAgreeWithTheModel) {
  for (const CovarianceTraits& traits : covariance_types()) {
    SCOPED_TRACE(traits.name);
    EXPECT_EQ(parse_covariance_type(traits.name, "test"), traits.type);
    EXPECT_EQ(to_string(traits.type), traits.name);
    for (const Index d : {1, 3, 8}) {
      const GmmShape shape{2, d, traits.type};
      EXPECT_EQ(shape.parameter_count(), 2 + 2 * d + 2 * traits.parameters(d));
      const std::vector<std::uint64_t> dims = stored_covariance_dims(traits.type, 2, d);
      const GmmMoments m = to_moments(Gmm(shape));
      if (traits.full_matrix) {
        EXPECT_EQ(dims, (std::vector<std::uint64_t>{2, std::uint64_t(d), std::uint64_t(d)}));
      } else {
        EXPECT_EQ(m.variances.cols(), traits.variance_columns(d));
        EXPECT_EQ(dims.size(), traits.variance_columns(d) == 1 ? 1u : 2u);
      }
    }
  }
  RowMatrix variances{{1.0, 3.0}, {2.0, 6.0}};
  EXPECT_EQ(restrict_variances(CovarianceType::diag, variances), variances);
  EXPECT_EQ(restrict_variances(CovarianceType::spherical, variances), (RowMatrix{{2.0}, {4.0}}));
  EXPECT_THROW(parse_covariance_type("tied", "--covariance"), InputError);
}

}  // namespace
}  // namespace metagmm::gmm
