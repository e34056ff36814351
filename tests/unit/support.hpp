#pragma once
// Helpers shared by the unit tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <type_traits>

#include "metagmm/core/random.hpp"
#include "metagmm/gmm/params.hpp"

namespace metagmm::testing {

// A mixture with well-spread means, varied covariances and unequal weights.
inline gmm::Gmm random_gmm(gmm::GmmShape shape, std::uint64_t seed, double spread = 4.0) {
  RandomStream random(seed, StreamPurpose::test, 1);
  gmm::Gmm g(shape);
  for (Index k = 0; k < shape.components; ++k) {
    g.logits[k] = 0.5 * random.normal();
    for (Index j = 0; j < shape.dim; ++j) g.means(k, j) = spread * random.normal();
    if (shape.covariance == gmm::CovarianceType::full) {
      for (Index i = 0; i < shape.dim; ++i) {
        g.prec_chol[k](i, i) = std::exp(0.3 * random.normal());
        for (Index j = i + 1; j < shape.dim; ++j) g.prec_chol[k](i, j) = 0.3 * random.normal();
      }
    } else {
      for (Index j = 0; j < g.log_sd.cols(); ++j) g.log_sd(k, j) = 0.3 * random.normal();
    }
  }
  return g;
}

// max_i |a_i - b_i| / max_i |b_i|: the error of `a` relative to the size of `b`.
template <typename A, typename B>
double relative_difference(const A& a, const B& b) {
  const double scale = std::max(b.cwiseAbs().maxCoeff(), 1e-300);
  return (a - b).cwiseAbs().maxCoeff() / scale;
}

// The flat vector with the logits made log-weights: logits are defined up to a constant, and
// anything rebuilt from weights (moments, files of weights) uses this representative.
inline Vector canonical_parameters(const gmm::Gmm& g) {
  gmm::Gmm copy = g;
  copy.logits = g.log_weights();
  return copy.pack();
}

// Fourth-order central difference (8[f(h) - f(-h)] - [f(2h) - f(-2h)]) / 12h of f(offset) at 0:
// truncation ~h^4 |f^(5)|. f may return a number or a vector.
template <typename F>
auto central_difference(const F& f, double h) {
  const auto plus = f(h), minus = f(-h), plus2 = f(2 * h), minus2 = f(-2 * h);
  using Value = std::remove_cv_t<decltype(plus)>;
  return Value((8.0 * (plus - minus) - (plus2 - minus2)) / (12.0 * h));
}

// The central-difference gradient of f(x) (a number) at x, coordinate by coordinate.
template <typename F>
Vector central_difference_gradient(const F& f, const Vector& x, double h) {
  Vector gradient(x.size());
  for (Index i = 0; i < x.size(); ++i) {
    gradient[i] = central_difference(
        [&](double offset) {
          Vector moved = x;
          moved[i] += offset;
          return f(moved);
        },
        h);
  }
  return gradient;
}

inline std::string temp_file(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("metagmm_" + std::string(info->test_suite_name()) + "_" + info->name());
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir / name);  // left by an earlier run
  return (dir / name).string();
}

inline std::string fixture(const std::string& name) { return std::string(METAGMM_FIXTURE_DIR) + "/" + name; }

}  // namespace metagmm::testing
