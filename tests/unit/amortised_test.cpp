// Amortised adaptation: the set encoder's start and the exact meta-gradient through it and the
// MAP-EM steps, against central differences of the meta-objective itself; what the encoder's
// initial weights and a permutation of the points leave unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/meta/amortised.hpp"
#include "metagmm/meta/bayes.hpp"
#include "metagmm/meta/map_maml.hpp"
#include "support.hpp"

namespace metagmm::meta {
namespace {

using metagmm::testing::relative_difference;

// Fourth-order central differences with h = 1e-5: the MLPs are piecewise linear (ReLU), and at
// h = 1e-4 the stencil's 2h reached across a kink of the head for one of these problems (3e-6 on
// its block, 1e-9 elsewhere); at 1e-5 every block agrees to below 4e-9 (truncation ~h^4, F's
// rounding ~1e-15 / h = 1e-10). A dropped chain-rule term is off by 1e-3 or more.
constexpr double kMetaGradientTolerance = 1e-6;
constexpr double kStep = 1e-5;

// With `attention` induced-attention blocks: a 4-wide embedding in 2 heads, 3 inducing rows.
AmortisedSettings small_settings(int steps, bool bayes = false, Index attention = 0) {
  AmortisedSettings s;
  s.bayes = bayes;
  s.prior = bayes ? "written-by-the-test.h5" : "";
  s.inner.method = InnerMethod::map;
  s.inner.steps = steps;
  s.inner.relevance = {2.0, 8.0, 5.0};
  s.point_widths = {6, attention > 0 ? 4 : 5};
  s.head_widths = {7};
  s.attention_blocks = attention;
  s.heads = 2;
  s.inducing = 3;
  return s;
}

struct Problem {
  gmm::GmmShape shape{3, 2, gmm::CovarianceType::diag};
  task::Episode episode;
  Vector meta;
};

// A hierarchical prior near `truth` (as bayes_test.cpp makes one).
gmm::HierarchicalPrior prior_near(const gmm::Gmm& truth, RandomStream& random) {
  gmm::HierarchicalPrior prior(truth.shape);
  prior.concentration = 3.0 * truth.weights();
  for (Index k = 0; k < truth.shape.components; ++k) {
    for (Index j = 0; j < truth.shape.dim; ++j) {
      prior.mean(k, j) = truth.means(k, j) + 0.4 * random.normal();
      prior.within_variance(k, j) = std::exp(2.0 * truth.log_sd(k, j) + 0.3 * random.normal());
      prior.between_variance(k, j) = std::exp(-1.0 + 0.5 * random.normal());
      prior.strength(k, j) = std::exp(1.5 + 0.5 * random.normal());
      prior.first_variance(k, j) = prior.within_variance(k, j) + prior.between_variance(k, j);
    }
  }
  return prior;
}

// The encoder's initial weights (from the fixed stream, as initial_extra_parameters() draws them).
Vector encoder_weights(const AmortisedSettings& settings, const gmm::GmmShape& shape) {
  RandomStream random(0, StreamPurpose::meta_init, 1);
  return SetEncoder::initial_weights(settings.encoder_shape(shape), random);
}

// A base mixture near the truth (map), or a prior near it (bayes); encoder weights moved away from
// their start (the head's last layer nonzero, the gate 0.6) so that every block of the chain rule
// carries weight.
Problem make_problem(const AmortisedSettings& settings, Index support, std::uint64_t seed, bool moved = true) {
  Problem p;
  const gmm::Gmm truth = testing::random_gmm(p.shape, seed, 2.0);
  RandomStream random(seed + 1, StreamPurpose::test);
  p.episode.task = 0;
  p.episode.support = gmm::sample(truth, support, random);
  p.episode.query = gmm::sample(truth, 40, random);
  Vector steps;
  if (settings.bayes) {
    steps = prior_near(truth, random).pack();  // its first E-step mixture is the base
  } else {
    steps.resize(truth.shape.parameter_count() + 3);
    steps << truth.pack(), std::log(2.0), std::log(8.0), std::log(5.0);
    for (Index i = 0; i < truth.shape.parameter_count(); ++i) steps[i] += 0.3 * random.normal();
  }
  const Vector weights = encoder_weights(settings, p.shape);
  p.meta.resize(steps.size() + weights.size());
  p.meta << steps, weights;
  if (!moved) return p;
  for (Index i = steps.size(); i < p.meta.size(); ++i) p.meta[i] += 0.3 * random.normal();
  p.meta[p.meta.size() - 1] = 0.6;
  return p;
}

std::vector<double> contribution(AmortisedAdaptation& algorithm, const Vector& meta, const task::Episode& e) {
  std::vector<double> out(static_cast<std::size_t>(algorithm.contribution_size()));
  algorithm.contribute(meta, e, out);
  return out;
}

TEST(Amortised, MetaGradientMatchesCentralDifferencesInEveryBlock) {
  for (const Index attention : {0, 2}) {
  for (const bool bayes : {false, true}) {
  for (const Index support : {8, 30}) {
    for (const int m : {0, 1, 3}) {
      if (bayes && m == 0) continue;  // bayes steps: at least one
      if (attention > 0 && m == 3) continue;  // the attention blocks' chain rule does not depend on m
      const AmortisedSettings settings = small_settings(m, bayes, attention);
      AmortisedAdaptation algorithm({3, 2, gmm::CovarianceType::diag}, settings);
      const Problem p = make_problem(settings, support, 50 + static_cast<std::uint64_t>(support));
      const auto out = contribution(algorithm, p.meta, p.episode);
      const Vector analytic = Eigen::Map<const Vector>(out.data(), p.meta.size());
      const Vector numeric = testing::central_difference_gradient(
          [&](const Vector& meta) { return contribution(algorithm, meta, p.episode).back(); }, p.meta, kStep);
      // Each named block on its own: a small block's error must not hide in a large one's scale.
      Index at = p.shape.parameter_count();
      double worst = relative_difference(analytic.head(at), numeric.head(at));
      for (const ParameterBlock& block : algorithm.extra_parameters()) {
        const bool carries = m > 0 || block.name != "log_relevance";  // no steps: r does nothing
        if (carries) {
          const double error = relative_difference(analytic.segment(at, block.size), numeric.segment(at, block.size));
          EXPECT_LE(error, kMetaGradientTolerance) << block.name << ", support " << support << ", m " << m << ", bayes " << bayes;
          EXPECT_GT(analytic.segment(at, block.size).cwiseAbs().maxCoeff(), 0.0) << block.name;
          worst = std::max(worst, error);
        } else {
          EXPECT_EQ(analytic.segment(at, block.size).cwiseAbs().maxCoeff(), 0.0);
        }
        at += block.size;
      }
      EXPECT_EQ(at, p.meta.size());
      std::cout << "[ amortised ] " << (bayes ? "bayes" : "map") << " steps, support " << support << " m=" << m
                << ", attention blocks " << attention << ": worst block's relative error " << worst << "\n";
    }
  }
  }
  }
}

TEST(Amortised, StartsAsMapMamlFromTheBaseMixture) {
  // At the initial weights the encoder's start is the base mixture, so the adaptation is maml
  // --inner map's from that prior, bit for bit.
  const AmortisedSettings settings = small_settings(3);
  AmortisedAdaptation algorithm({3, 2, gmm::CovarianceType::diag}, settings);
  Problem p = make_problem(settings, 25, 7, false);
  EXPECT_EQ(p.meta.tail(p.meta.size() - p.shape.parameter_count()), algorithm.initial_extra_parameters());
  MapMaml map_maml(p.shape, settings.inner);
  const Vector map_meta = p.meta.head(p.shape.parameter_count() + 3);
  EXPECT_EQ(algorithm.adapted_model(p.meta, p.episode.support), map_maml.adapted_model(map_meta, p.episode.support));
  std::vector<Vector> path;
  algorithm.adaptation_path(p.meta, p.episode.support, 0, path);
  ASSERT_EQ(path.size(), 1u);
  EXPECT_EQ(path[0], p.meta.head(p.shape.parameter_count()));
}

TEST(Amortised, BayesStepsStartAsBayesFromThePrior) {
  // At the initial weights the prior of every task is the learned one: bayes's adaptation, bit for
  // bit, and its contribution's prior blocks are bayes's gradient.
  const AmortisedSettings settings = small_settings(3, true);
  AmortisedAdaptation algorithm({3, 2, gmm::CovarianceType::diag}, settings);
  const Problem p = make_problem(settings, 25, 11, false);
  BayesSettings bayes_settings;
  bayes_settings.steps = 3;
  bayes_settings.prior = settings.prior;
  BayesianAdaptation bayes(p.shape, bayes_settings);
  const Index prior_size = gmm::HierarchicalPrior::flat_size(p.shape);
  const Vector prior = p.meta.head(prior_size);
  EXPECT_EQ(algorithm.adapted_model(p.meta, p.episode.support), bayes.adapted_model(prior, p.episode.support));
  std::vector<double> ours(static_cast<std::size_t>(algorithm.contribution_size())),
      theirs(static_cast<std::size_t>(bayes.contribution_size()));
  algorithm.contribute(p.meta, p.episode, ours);
  bayes.contribute(prior, p.episode, theirs);
  EXPECT_EQ(ours.back(), theirs.back());  // the same query loss
  // The prior's other blocks get bayes's gradient exactly; the base mixture bayes's up to the
  // encoder's identity at zero weights (the gate's (1 - g) = 1 and a zero head add nothing).
  for (Index i = 0; i < prior_size; ++i) EXPECT_EQ(ours[static_cast<std::size_t>(i)], theirs[static_cast<std::size_t>(i)]) << i;
}

TEST(Amortised, StartDoesNotDependOnTheOrderOfThePoints) {
  for (const Index attention : {0, 1}) {
  const AmortisedSettings settings = small_settings(2, false, attention);
  AmortisedAdaptation algorithm({3, 2, gmm::CovarianceType::diag}, settings);
  const Problem p = make_problem(settings, 30, 9);
  std::vector<Index> order(static_cast<std::size_t>(p.episode.support.rows()));
  std::iota(order.begin(), order.end(), Index{0});
  std::reverse(order.begin(), order.end());
  std::rotate(order.begin(), order.begin() + 7, order.end());
  RowMatrix shuffled(p.episode.support.rows(), p.episode.support.cols());
  for (std::size_t i = 0; i < order.size(); ++i) shuffled.row(static_cast<Index>(i)) = p.episode.support.row(order[i]);
  std::vector<Vector> a, b;
  algorithm.adaptation_path(p.meta, p.episode.support, 0, a);
  algorithm.adaptation_path(p.meta, shuffled, 0, b);
  // Sums over the points in another order: equal to rounding.
  EXPECT_LE(relative_difference(a[0], b[0]), 1e-12);
  // ... and the start depends on the points: another task's start differs.
  std::vector<Vector> c;
  algorithm.adaptation_path(p.meta, p.episode.query, 0, c);
  EXPECT_GT(relative_difference(c[0], a[0]), 1e-3);
  }
}

TEST(Amortised, RefusesWhatItCannotDifferentiate) {
  EXPECT_THROW(AmortisedAdaptation({2, 2, gmm::CovarianceType::full}, small_settings(2)), InputError);
  AmortisedSettings zero = small_settings(2);
  zero.inner.relevance.means = 0.0;  // log r would be -inf
  EXPECT_THROW(AmortisedAdaptation({2, 2, gmm::CovarianceType::diag}, zero), InputError);
  Settings no_prior = small_settings(2).to_settings();
  no_prior.set("amortised-inner", std::string("bayes"));
  EXPECT_THROW(AmortisedSettings::from(no_prior), InputError);
  Settings heads = small_settings(2).to_settings();
  heads.set("set-heads", std::int64_t{3});  // does not divide the embedding width 5: only refused
  EXPECT_NO_THROW(AmortisedSettings::from(heads));  // where there are attention blocks to split
  heads.set("set-attention", std::int64_t{1});
  EXPECT_THROW(AmortisedSettings::from(heads), InputError);
  Settings blocks = small_settings(2).to_settings();
  blocks.set("set-attention", std::int64_t{-1});
  EXPECT_THROW(AmortisedSettings::from(blocks), InputError);
}

TEST(Amortised, AttentionStartsAsTheIdentityAndThenSeesTheOtherPoints) {
  // At its initial weights an induced-attention block returns its input exactly, so an encoder with
  // attention starts as the one without. Once trained (here: weights moved at random) a point's
  // embedding depends on the other points; without attention it never does.
  const gmm::GmmShape shape{3, 2, gmm::CovarianceType::diag};
  RandomStream random(3, StreamPurpose::test);
  const RowMatrix points = RowMatrix::Random(12, 4);  // as if embedded: 4 wide
  const AttentionShape attention{4, 2, 3};
  Vector weights(attention.parameter_count());
  InducedAttention::initial_weights(attention, random, weights);
  InducedAttention block(attention);
  EXPECT_EQ(block.forward(weights, points), points);

  for (const Index blocks : {0, 1}) {
    const SetEncoderShape encoder_shape = small_settings(1, false, blocks).encoder_shape(shape);
    Vector moved = SetEncoder::initial_weights(encoder_shape, random);
    for (Index i = 0; i < moved.size(); ++i) moved[i] += 0.3 * random.normal();
    const Index point_size = encoder_shape.point_shape().parameter_count();
    Encoder point(encoder_shape.point_shape());
    std::vector<InducedAttention> stack;
    for (Index b = 0; b < blocks; ++b) stack.emplace_back(encoder_shape.attention_shape());
    const auto embed = [&](const RowMatrix& x) {
      RowMatrix e = point.forward(moved.head(point_size), x);
      for (Index b = 0; b < blocks; ++b)
        e = stack[static_cast<std::size_t>(b)].forward(moved.segment(point_size, encoder_shape.attention_parameter_count()), e);
      return e;
    };
    RowMatrix x = RowMatrix::Random(12, 2);
    const RowMatrix before = embed(x);
    x(11, 0) += 1.5;
    const double change = (embed(x).topRows(11) - before.topRows(11)).cwiseAbs().maxCoeff();
    if (blocks == 0)
      EXPECT_EQ(change, 0.0);
    else
      EXPECT_GT(change, 1e-6);
  }
}

}  // namespace
}  // namespace metagmm::meta
