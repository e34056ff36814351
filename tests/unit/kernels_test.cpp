// The kernels of every instruction-set level this build holds and this processor runs: each
// level against the lowest compiled (sse2 in the portable build) and against plain loops, its exp against std::exp, and the
// choice of level. Levels the processor lacks are compiled but cannot run here; the refusal to
// use them is tested instead.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/kernels.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/gmm/stats.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

using testing::random_gmm;
using testing::relative_difference;

// The polynomial's truncation error is below 2e-16 and the reduction adds about one rounding:
// within 4 units in the last place of std::exp.
constexpr double kExpTolerance = 1e-15;
// Levels sum a pass's few hundred terms in different orders (lane-wise partial sums, another
// matrix-product blocking): each sum's rounding is ~1e-16 relative, amplified by cancellation
// in the moments about the centre by at most ~100 here.
constexpr double kLevelTolerance = 1e-12;

std::vector<IsaLevel> runnable_levels() {
  std::vector<IsaLevel> levels;
  for (const Kernels* table : compiled_kernels())
    if (processor_supports(table->level)) levels.push_back(table->level);
  return levels;
}

// Runs each test at one level and restores the default afterwards.
class KernelLevel : public ::testing::TestWithParam<IsaLevel> {
 protected:
  void SetUp() override { use_kernels(GetParam()); }
  void TearDown() override { use_kernels(best_kernel_level()); }
};

TEST_P(KernelLevel, ExpMatchesStdExpOnItsWholeRange) {
  std::vector<double> x;
  for (double v = -708.0; v <= 0.0; v += 0.0137) x.push_back(v);
  x.push_back(0.0);
  x.push_back(-0.0);
  x.push_back(-1e-300);
  x.push_back(-std::log(2.0) / 2);
  std::vector<double> y = x;
  exp_non_positive(y.data(), static_cast<Index>(y.size()));  // also covers the partial last packet
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(y[i] - std::exp(x[i])) / std::exp(x[i]));
  std::cout << "[ exp " << to_string(GetParam()) << " ] worst relative error " << worst << " over " << x.size()
            << " points\n";
  EXPECT_LT(worst, kExpTolerance);
  EXPECT_EQ(y[y.size() - 4], 1.0);
}

TEST_P(KernelLevel, ExpClampsInsteadOfUnderflowingOrOverflowing) {
  std::vector<double> x{-709.0, -800.0, -1e308, -std::numeric_limits<double>::infinity(), -5.0};
  exp_non_positive(x.data(), static_cast<Index>(x.size()));
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(x[i], 0.0);
    EXPECT_NEAR(x[i], std::exp(-708.0), 1e-15 * std::exp(-708.0));
  }
  EXPECT_NEAR(x[4], std::exp(-5.0), kExpTolerance * std::exp(-5.0));
  std::vector<double> any{-3.0, 0.5, 2.0, 800.0, -800.0, 1.0, 7.5};
  exp_in_place(any.data(), static_cast<Index>(any.size()));  // a partial packet at every width
  const double expected[] = {std::exp(-3.0), std::exp(0.5), std::exp(2.0), std::exp(709.0), std::exp(-708.0),
                             std::exp(1.0), std::exp(7.5)};
  for (size_t i = 0; i < any.size(); ++i) EXPECT_NEAR(any[i], expected[i], kExpTolerance * expected[i]) << i;
}

TEST_P(KernelLevel, ReportsItsLevelAndWidth) {
  EXPECT_EQ(kernels().level, GetParam());
  const int widths[] = {2, 4, 8};
  EXPECT_EQ(kernels().packet_width, widths[static_cast<int>(GetParam())]);
}

using Product = void (*)(bool, RowMatrixRef, bool, RowMatrixRef, Eigen::Ref<RowMatrix>, bool, double);

RowMatrix random_matrix(Index rows, Index cols, RandomStream& random) {
  RowMatrix x(rows, cols);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = random.normal();
  return x;
}

// C = op(A) op(B) (+ C) against three plain loops, for every transpose and accumulation, m x n x k.
void expect_product_matches_loops(Product product, Index m, Index n, Index k, RandomStream& random) {
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const bool accumulate : {false, true}) {
        const RowMatrix a = random_matrix(ta ? k : m, ta ? m : k, random), b = random_matrix(tb ? n : k, tb ? k : n, random);
        RowMatrix c = random_matrix(m, n, random);
        RowMatrix expected = accumulate ? c : RowMatrix::Zero(m, n);
        for (Index i = 0; i < m; ++i)
          for (Index j = 0; j < n; ++j)
            for (Index l = 0; l < k; ++l) expected(i, j) += 0.5 * (ta ? a(l, i) : a(i, l)) * (tb ? b(j, l) : b(l, j));
        product(ta, a, tb, b, c, accumulate, 0.5);
        // k terms of either sign: rounding ~k * 1e-16 of the largest, relative to a sum of k.
        EXPECT_LT(relative_difference(c, expected), 1e-14) << m << "x" << n << "x" << k << " " << ta << tb << accumulate;
      }
}

// Eigen's blocked product, at odd sizes.
TEST_P(KernelLevel, MatrixProductMatchesPlainLoops) {
  RandomStream random(5, StreamPurpose::test, 2);
  expect_product_matches_loops(multiply, 37, 29, 53, random);
}

// The direct product's paths: full tiles, a narrower last band of rows, one-packet and
// single-lane columns, depth 1, and a transposed B too large to copy (Eigen's product).
TEST_P(KernelLevel, InCacheProductMatchesPlainLoopsForEveryTileShape) {
  RandomStream random(6, StreamPurpose::test, 2);
  for (const Index m : {1, 5, 6, 7, 12, 13, 25})
    for (const Index n : {1, 3, 4, 8, 9, 17, 64})
      for (const Index k : {1, 2, 31}) expect_product_matches_loops(multiply_in_cache, m, n, k, random);
  expect_product_matches_loops(multiply_in_cache, 9, 70, 130, random);
}

// A row of the product does not depend on the rows computed with it, whichever band of tiles
// holds it: the per-task encoder's results must not depend on how many points share the call.
TEST_P(KernelLevel, InCacheProductRowsDoNotDependOnTheRowsAroundThem) {
  RandomStream random(7, StreamPurpose::test, 2);
  const RowMatrix a = random_matrix(50, 64, random), b = random_matrix(64, 64, random);
  RowMatrix whole(50, 64);
  multiply_in_cache(false, a, true, b, whole);
  for (const Index first : {0, 1, 5, 17}) {
    const Index rows = 50 - first;
    RowMatrix part(rows, 64);
    multiply_in_cache(false, a.bottomRows(rows), true, b, part);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < 64; ++j) ASSERT_EQ(part(i, j), whole(first + i, j)) << first << " " << i << " " << j;
  }
}

struct PassResult {
  double log_likelihood;
  Vector weight_sum;
  RowMatrix first, second, tangent_first;
};

PassResult pass(const GmmShape& shape, Index points, std::uint64_t seed) {
  const Gmm g = random_gmm(shape, seed);
  RandomStream random(seed, StreamPurpose::test, 3);
  const RowMatrix x = sample(g, points, random);
  Vector direction(shape.parameter_count());
  for (Index i = 0; i < direction.size(); ++i) direction[i] = random.normal();
  Evaluator evaluator;
  const auto [stats, tangent] = evaluator.tangent_statistics(g, direction, x);
  PassResult out{stats.log_likelihood_sum, stats.weight_sum, stats.first, stats.second, tangent.first};
  if (shape.covariance == CovarianceType::full) out.second = stats.scatter[0];
  return out;
}

// Shapes for each path of the pass: fused (small K x F, with and without a compile-time
// dimension), blocked matrix products (large K x F) and the full-covariance kernel.
const GmmShape kShapes[] = {{4, 2, CovarianceType::diag},
                            {3, 7, CovarianceType::spherical},
                            {32, 40, CovarianceType::diag},
                            {5, 6, CovarianceType::full}};

TEST_P(KernelLevel, StatisticsAgreeWithTheLowestLevelToRounding) {
  for (const GmmShape& shape : kShapes) {
    use_kernels(compiled_kernels().front()->level);
    const PassResult lowest = pass(shape, 301, 11);
    use_kernels(GetParam());
    const PassResult here = pass(shape, 301, 11);
    EXPECT_LT(std::abs(here.log_likelihood - lowest.log_likelihood) / std::abs(lowest.log_likelihood), kLevelTolerance);
    EXPECT_LT(relative_difference(here.weight_sum, lowest.weight_sum), kLevelTolerance);
    EXPECT_LT(relative_difference(here.first, lowest.first), kLevelTolerance);
    EXPECT_LT(relative_difference(here.second, lowest.second), kLevelTolerance);
    EXPECT_LT(relative_difference(here.tangent_first, lowest.tangent_first), kLevelTolerance);
    // The same level gives the same bits, call after call.
    const PassResult again = pass(shape, 301, 11);
    EXPECT_EQ(again.log_likelihood, here.log_likelihood);
    EXPECT_EQ(again.first, here.first);
    EXPECT_EQ(again.tangent_first, here.tangent_first);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryRunnableLevel, KernelLevel, ::testing::ValuesIn(runnable_levels()),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(KernelChoice, TheDefaultIsTheHighestLevelThisProcessorRuns) {
  const IsaLevel best = best_kernel_level();
  EXPECT_TRUE(processor_supports(best));
  for (const Kernels* table : compiled_kernels()) {
    if (processor_supports(table->level)) {
      EXPECT_LE(static_cast<int>(table->level), static_cast<int>(best));
    }
  }
}

TEST(KernelChoice, RefusesALevelThisProcessorLacks) {
  bool tested = false;
  for (const Kernels* table : compiled_kernels()) {
    if (processor_supports(table->level)) continue;
    EXPECT_THROW(use_kernels(table->level), InputError);
    tested = true;
  }
  if (!tested) GTEST_SKIP() << "this processor runs every compiled level";
}

TEST(KernelChoice, LevelNamesRoundTrip) {
  for (const IsaLevel level : {IsaLevel::sse2, IsaLevel::avx2, IsaLevel::avx512})
    EXPECT_EQ(parse_isa_level(to_string(level)), level);
  EXPECT_FALSE(parse_isa_level("avx10"));
  EXPECT_FALSE(parse_isa_level(""));
  EXPECT_EQ(join_isa_levels({IsaLevel::sse2, IsaLevel::avx512}), "sse2 avx512");
}

}  // namespace
}  // namespace metagmm::gmm
