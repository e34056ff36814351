// Optimisers, inner adaptation and the Reptile update, each against a direct computation.
#include <gtest/gtest.h>

#include <cmath>

#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/meta/reptile.hpp"
#include "metagmm/core/error.hpp"
#include "support.hpp"

namespace metagmm::meta {
namespace {

// Rounding of a few arithmetic operations on O(1) numbers.
constexpr double kRoundingTolerance = 1e-14;

TEST(Optimizer, SgdStepsAgainstTheGradient) {
  OptimizerOptions o;
  o.learning_rate = 0.5;
  Optimizer sgd(o, 2);
  Vector theta(2), g(2);
  theta << 1.0, -2.0;
  g << 4.0, -1.0;
  sgd.step(theta, g);
  EXPECT_DOUBLE_EQ(theta[0], -1.0);
  EXPECT_DOUBLE_EQ(theta[1], -1.5);
  EXPECT_EQ(sgd.state().steps, 1);
}

TEST(Optimizer, AdamMatchesTheTextbookUpdate) {
  OptimizerOptions o;
  o.method = OptimizerMethod::adam;
  o.learning_rate = 0.1;
  Optimizer adam(o, 1);
  Vector theta = Vector::Constant(1, 1.0);
  double m = 0, v = 0, reference = 1.0;
  const double gradients[] = {0.5, -2.0, 1.5};
  for (int t = 1; t <= 3; ++t) {
    const double g = gradients[t - 1];
    adam.step(theta, Vector::Constant(1, g));
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const double m_hat = m / (1 - std::pow(0.9, t)), v_hat = v / (1 - std::pow(0.999, t));
    reference -= 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8);
    EXPECT_NEAR(theta[0], reference, kRoundingTolerance * 10) << t;
  }
  // The state restores exactly into a fresh optimiser, which then continues identically.
  Optimizer restored(o, 1);
  restored.restore(adam.state());
  Vector a = theta, b = theta;
  adam.step(a, Vector::Constant(1, 0.3));
  restored.step(b, Vector::Constant(1, 0.3));
  EXPECT_EQ(a[0], b[0]);
  OptimizerOptions sgd;
  Optimizer wrong(sgd, 1);
  EXPECT_THROW(wrong.restore(adam.state()), InputError);
}

TEST(Optimizer, CosineDecayGoesFromTheRateToZeroOverItsSteps) {
  OptimizerOptions o;
  o.learning_rate = 0.4;
  EXPECT_EQ(o.rate(1), 0.4);
  EXPECT_EQ(o.rate(1000), 0.4);  // no decay: constant
  o.decay_steps = 4;
  EXPECT_EQ(o.rate(1), 0.4);
  EXPECT_NEAR(o.rate(3), 0.2, kRoundingTolerance);  // half way: half the rate
  EXPECT_NEAR(o.rate(5), 0.0, kRoundingTolerance);
  EXPECT_NEAR(o.rate(9), 0.0, kRoundingTolerance);  // past the horizon: stays at 0
  // SGD takes exactly the scheduled steps.
  Optimizer sgd(o, 1);
  Vector theta = Vector::Zero(1);
  double expected = 0.0;
  for (std::int64_t t = 1; t <= 4; ++t) {
    sgd.step(theta, Vector::Constant(1, -1.0));
    expected += o.rate(t);
    EXPECT_EQ(theta[0], expected) << t;
  }
  EXPECT_GT(theta[0], 0.4);
  o.decay_steps = -1;
  EXPECT_THROW(o.validate("outer-"), InputError);
}

struct Fixture {
  gmm::GmmShape shape{3, 2, gmm::CovarianceType::diag};
  gmm::Gmm truth = testing::random_gmm(shape, 1);
  RowMatrix support, query;
  Fixture() {
    RandomStream random(2, StreamPurpose::test);
    support = gmm::sample(truth, 40, random);
    query = gmm::sample(truth, 30, random);
  }
};

TEST(InnerLoop, GradientStepsAreTheDefinition) {
  Fixture f;
  InnerOptions o;
  o.steps = 2;
  o.learning_rate = 0.05;
  InnerLoop loop(f.shape, o);
  const Vector start = testing::random_gmm(f.shape, 3).pack();
  Vector adapted = start;
  loop.adapt(adapted, f.support);
  Vector reference = start, gradient;
  gmm::Evaluator evaluator;
  for (int i = 0; i < 2; ++i) {
    gmm::loss_and_gradient(gmm::Gmm::unpack(f.shape, reference), f.support, evaluator, gradient);
    reference -= 0.05 * gradient;
  }
  EXPECT_LT(testing::relative_difference(adapted, reference), kRoundingTolerance);
  // Adaptation lowers the support loss.
  EXPECT_GT(loop.mean_log_likelihood(adapted, f.support), loop.mean_log_likelihood(start, f.support));
}

TEST(InnerLoop, EmStepsAreEmSteps) {
  Fixture f;
  InnerOptions o;
  o.method = InnerMethod::em;
  o.steps = 3;
  InnerLoop loop(f.shape, o);
  gmm::Gmm model = testing::random_gmm(f.shape, 3);
  Vector adapted = model.pack();
  loop.adapt(adapted, f.support);
  gmm::Evaluator evaluator;
  for (int i = 0; i < 3; ++i) gmm::em_step(model, f.support, o.reg_covar, evaluator);
  EXPECT_LT(testing::relative_difference(adapted, model.pack()), kRoundingTolerance);
}

// The sum over tasks of their contributions, as the training loop reduces it.
std::vector<double> summed(Reptile& reptile, const Vector& theta, const std::vector<task::Episode>& episodes) {
  const Index C = reptile.contribution_size();
  std::vector<double> sums(C, 0.0), one(C);
  for (const auto& e : episodes) {
    reptile.contribute(theta, e, one);
    for (Index c = 0; c < C; ++c) sums[c] += one[c];
  }
  return sums;
}

std::vector<task::Episode> episodes_of(const Fixture& f) {
  std::vector<task::Episode> episodes(3);
  for (int i = 0; i < 3; ++i) {
    episodes[i].support = f.support.middleRows(10 * i, 10 + 5 * i);
    episodes[i].query = f.query;
  }
  return episodes;
}

TEST(Reptile, SgdWithRateOneLandsOnTheMeanOfTheAdaptedParameters) {
  Fixture f;
  InnerOptions inner;
  Reptile reptile(f.shape, inner, ReptileWeighting::uniform);
  const Vector theta = testing::random_gmm(f.shape, 5).pack();
  const Index P = theta.size();
  const auto episodes = episodes_of(f);
  Vector sum_adapted = Vector::Zero(P);
  double sum_loss = 0.0;
  InnerLoop loop(f.shape, inner);
  for (const auto& e : episodes) {
    Vector adapted = theta;
    loop.adapt(adapted, e.support);
    sum_adapted += adapted;
    sum_loss -= loop.mean_log_likelihood(adapted, e.query);
  }
  Vector gradient;
  const double loss = reptile.combine(theta, summed(reptile, theta, episodes), 3, gradient);
  EXPECT_NEAR(loss, sum_loss / 3.0, kRoundingTolerance * 100);
  OptimizerOptions sgd;  // learning rate 1
  Optimizer outer(sgd, P);
  Vector updated = theta;
  outer.step(updated, gradient);
  // Towards the adapted parameters (the source article's sign error would step away).
  EXPECT_LT(testing::relative_difference(updated, sum_adapted / 3.0), 1e-13);
}

TEST(Reptile, DistanceWeightingFavoursTasksThatMovedFurther) {
  Fixture f;
  InnerOptions inner;
  Reptile reptile(f.shape, inner, ReptileWeighting::distance);
  const Vector theta = testing::random_gmm(f.shape, 5).pack();
  const auto episodes = episodes_of(f);
  // Reference: w_i = |d_i|^2 / sum_j |d_j|^2, g = -sum_i w_i d_i.
  InnerLoop loop(f.shape, inner);
  std::vector<Vector> moves;
  double total = 0.0;
  for (const auto& e : episodes) {
    Vector adapted = theta;
    loop.adapt(adapted, e.support);
    moves.push_back(adapted - theta);
    total += moves.back().squaredNorm();
  }
  Vector reference = Vector::Zero(theta.size());
  for (const auto& d : moves) reference -= d.squaredNorm() / total * d;
  Vector gradient;
  reptile.combine(theta, summed(reptile, theta, episodes), 3, gradient);
  EXPECT_LT(testing::relative_difference(gradient, reference), 1e-13);
  // The weights differ from uniform here, so the two weightings give different directions.
  Reptile uniform(f.shape, inner, ReptileWeighting::uniform);
  Vector plain;
  uniform.combine(theta, summed(uniform, theta, episodes), 3, plain);
  EXPECT_GT(testing::relative_difference(gradient, plain), 1e-3);
}

}  // namespace
}  // namespace metagmm::meta
