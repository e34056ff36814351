// The statistics pass against a textbook long-double computation, for shapes served by the
// fused pass (K x features up to about a thousand) and by the blocked matrix-product pass.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "metagmm/gmm/sample.hpp"
#include "metagmm/gmm/stats.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

// Long-double reference against double arithmetic over a few hundred points: sums of a few
// hundred terms each rounded at ~1e-16 relative.
constexpr double kTolerance = 1e-11;

struct Reference {
  long double log_likelihood = 0;
  std::vector<long double> weight_sum;
  std::vector<std::vector<long double>> first, second;  // about the statistics' centres
};

Reference textbook(const Gmm& g, const RowMatrix& x, const RowMatrix& centers) {
  const Index K = g.shape.components, d = g.shape.dim;
  const bool diag = g.shape.covariance == CovarianceType::diag;
  const Vector log_w = g.log_weights();
  Reference out;
  out.weight_sum.assign(K, 0);
  out.first.assign(K, std::vector<long double>(d, 0));
  out.second.assign(K, std::vector<long double>(d, 0));
  for (Index n = 0; n < x.rows(); ++n) {
    std::vector<long double> log_density(K);
    long double top = -INFINITY;
    for (Index k = 0; k < K; ++k) {
      long double v = log_w[k];
      for (Index j = 0; j < d; ++j) {
        const long double log_sd = g.log_sd(k, diag ? j : 0), z = (x(n, j) - g.means(k, j)) / std::exp(log_sd);
        v += -0.5L * std::log(2 * std::numbers::pi_v<long double>) - log_sd - 0.5L * z * z;
      }
      log_density[k] = v;
      top = std::max(top, v);
    }
    long double total = 0;
    for (Index k = 0; k < K; ++k) total += std::exp(log_density[k] - top);
    out.log_likelihood += top + std::log(total);
    for (Index k = 0; k < K; ++k) {
      const long double r = std::exp(log_density[k] - top) / total;
      out.weight_sum[k] += r;
      for (Index j = 0; j < d; ++j) {
        const long double offset = x(n, j) - centers(k, j);
        out.first[k][j] += r * offset;
        out.second[k][j] += r * offset * offset;
      }
    }
  }
  return out;
}

double relative(long double ours, long double reference, long double scale) {
  return static_cast<double>(std::fabs(ours - reference) / std::max(std::fabs(reference), scale));
}

class StatisticsTest : public ::testing::TestWithParam<std::tuple<CovarianceType, Index, Index>> {};

TEST_P(StatisticsTest, MatchesATextbookComputation) {
  const auto [type, K, d] = GetParam();
  const Gmm g = testing::random_gmm(GmmShape{K, d, type}, 17);
  RandomStream random(4, StreamPurpose::test);
  RowMatrix x = sample(g, 301, random);  // not a multiple of any vector width
  x.row(0) *= 50.0;                      // a point far from every component
  Evaluator evaluator;
  const double mean = evaluator.mean_log_likelihood(g, x);
  const Statistics stats = evaluator.statistics(g, x);
  const Reference ref = textbook(g, x, stats.centers);
  EXPECT_LT(relative(mean * x.rows(), ref.log_likelihood, 1), kTolerance);
  EXPECT_LT(relative(stats.log_likelihood_sum, ref.log_likelihood, 1), kTolerance);
  for (Index k = 0; k < K; ++k) {
    EXPECT_LT(relative(stats.weight_sum[k], ref.weight_sum[k], 1), kTolerance) << k;
    for (Index j = 0; j < d; ++j) {
      EXPECT_LT(relative(stats.first(k, j), ref.first[k][j], ref.weight_sum[k] + 1), kTolerance) << k << "," << j;
      EXPECT_LT(relative(stats.second(k, j), ref.second[k][j], ref.weight_sum[k] + 1), kTolerance) << k << "," << j;
    }
  }
}

// K x (2d + 1) up to 1 100 takes the fused pass (every case but one; d <= 4 unrolled at compile
// time, blocks of groups that end inside the 301 points), larger the blocked one (K = 12, d = 64).
INSTANTIATE_TEST_SUITE_P(SmallAndLarge, StatisticsTest,
                         ::testing::Combine(::testing::Values(CovarianceType::diag, CovarianceType::spherical),
                                            ::testing::Values(3, 12), ::testing::Values(1, 2, 3, 4, 5, 16, 64)));

}  // namespace
}  // namespace metagmm::gmm
