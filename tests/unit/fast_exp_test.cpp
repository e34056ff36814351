#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "metagmm/gmm/fast_exp.hpp"

namespace metagmm::gmm {
namespace {

// The polynomial's truncation error is below 2e-16 and the reduction adds about one rounding:
// within 4 units in the last place of std::exp.
constexpr double kExpTolerance = 1e-15;

TEST(FastExp, MatchesStdExpOnItsWholeRange) {
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
  std::cout << "[ exp ] worst relative error " << worst << " over " << x.size() << " points\n";
  EXPECT_LT(worst, kExpTolerance);
  EXPECT_EQ(y[y.size() - 4], 1.0);
}

TEST(FastExp, ClampsInsteadOfUnderflowing) {
  std::vector<double> x{-709.0, -800.0, -1e308, -std::numeric_limits<double>::infinity(), -5.0};
  exp_non_positive(x.data(), static_cast<Index>(x.size()));
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(x[i], 0.0);
    EXPECT_NEAR(x[i], std::exp(-708.0), 1e-15 * std::exp(-708.0));
  }
  EXPECT_NEAR(x[4], std::exp(-5.0), kExpTolerance * std::exp(-5.0));
}

}  // namespace
}  // namespace metagmm::gmm
