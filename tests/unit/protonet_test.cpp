// ProtoNet: the prototype classifier and its refinement against central differences and
// direct computations, and the whole episode gradient through the encoder.
#include <gtest/gtest.h>

#include <cmath>

#include "metagmm/meta/protonet.hpp"
#include "support.hpp"

namespace metagmm::meta {
namespace {

using metagmm::testing::central_difference;
using metagmm::testing::relative_difference;

// The classifier is smooth in the embedding: fourth-order differences with h = 1e-4 have
// truncation ~1e-16 and rounding ~1e-16 / h = 1e-12 relative; a wrong reverse term is O(1).
constexpr double kHeadTolerance = 1e-7;
constexpr double kHeadStep = 1e-4;
// Through the encoder the loss has ReLU kinks: h = 1e-7 keeps a kink out of reach in practice,
// and rounding ~1e-16 / h gives ~1e-9 relative.
constexpr double kNetworkTolerance = 1e-5;
constexpr double kNetworkStep = 1e-7;

RowMatrix random_matrix(Index rows, Index cols, RandomStream& random, double scale = 1.0) {
  RowMatrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = scale * random.normal();
  return m;
}

// A few-shot episode with `ways` well-separated classes in d dimensions around random centres.
task::Episode make_episode(Index ways, Index shots, Index queries, Index unlabelled, Index distractors, Index d,
                           std::uint64_t seed, double spread = 3.0) {
  RandomStream random(seed, StreamPurpose::test, 7);
  const RowMatrix centres = random_matrix(ways + distractors, d, random, spread);
  task::Episode e;
  e.ways = ways;
  e.shots = shots;
  e.support.resize(ways * shots, d);
  e.query.resize(ways * queries, d);
  e.query_labels.resize(ways * queries);
  e.unlabelled.resize((ways + distractors) * unlabelled, d);
  e.unlabelled_labels.resize(e.unlabelled.rows());
  for (Index k = 0; k < ways + distractors; ++k) {
    auto point = [&] { return RowMatrix(centres.row(k) + random_matrix(1, d, random)); };
    if (k < ways) {
      for (Index i = 0; i < shots; ++i) e.support.row(k * shots + i) = point();
      for (Index i = 0; i < queries; ++i) {
        e.query.row(k * queries + i) = point();
        e.query_labels[k * queries + i] = static_cast<std::int32_t>(k);
      }
    }
    for (Index i = 0; i < unlabelled; ++i) {
      e.unlabelled.row(k * unlabelled + i) = point();
      e.unlabelled_labels[k * unlabelled + i] = k < ways ? static_cast<std::int32_t>(k) : -1;
    }
  }
  return e;
}

struct HeadCase {
  int steps;
  bool distractor;
};

class PrototypeGradient : public ::testing::TestWithParam<HeadCase> {};

TEST_P(PrototypeGradient, MatchesCentralDifferences) {
  const RefinementOptions refine{GetParam().steps, GetParam().distractor};
  const task::Episode episode = make_episode(4, 3, 5, 4, 2, 6, 11, 1.5);
  RowMatrix embedded;
  stack_episode(episode, refine, embedded);
  const EpisodeLayout layout = layout_of(episode, refine);
  PrototypeClassifier classifier;
  classifier.forward(embedded, layout, episode.query_labels, refine);
  RowMatrix gradient;
  classifier.backward(gradient);
  ASSERT_EQ(gradient.rows(), embedded.rows());
  RowMatrix numeric(embedded.rows(), embedded.cols());
  for (Index i = 0; i < embedded.size(); ++i) {
    numeric.data()[i] = central_difference(
        [&](double h) {
          RowMatrix moved = embedded;
          moved.data()[i] += h;
          PrototypeClassifier other;
          return other.forward(moved, layout, episode.query_labels, refine);
        },
        kHeadStep);
  }
  EXPECT_LT(relative_difference(gradient, numeric), kHeadTolerance);
  if (refine.steps > 0) {  // the unlabelled points do take part
    EXPECT_GT(gradient.bottomRows(layout.unlabelled).cwiseAbs().maxCoeff(), 1e-3 * gradient.cwiseAbs().maxCoeff());
  }
}

INSTANTIATE_TEST_SUITE_P(Refinement, PrototypeGradient,
                         ::testing::Values(HeadCase{0, false}, HeadCase{1, false}, HeadCase{2, false},
                                           HeadCase{1, true}, HeadCase{3, true}),
                         [](const auto& info) {
                           return "steps" + std::to_string(info.param.steps) +
                                  (info.param.distractor ? "_distractor" : "");
                         });

TEST(PrototypeClassifier, PrototypesAreClassMeansAndLossIsTheSoftmaxOfDistances) {
  const task::Episode episode = make_episode(3, 4, 2, 0, 0, 5, 3);
  RowMatrix embedded;
  stack_episode(episode, {}, embedded);
  PrototypeClassifier classifier;
  const double loss = classifier.forward(embedded, layout_of(episode, {}), episode.query_labels, {});
  double expected = 0.0;
  for (Index q = 0; q < episode.query.rows(); ++q) {
    double normaliser = 0.0, own = 0.0;
    for (Index k = 0; k < 3; ++k) {
      const RowMatrix mean = episode.support.middleRows(k * 4, 4).colwise().mean();
      EXPECT_LT(relative_difference(classifier.prototypes().row(k), mean.row(0)), 1e-14);
      const double logit = -(episode.query.row(q) - mean.row(0)).squaredNorm();
      normaliser += std::exp(logit);
      if (k == episode.query_labels[q]) own = logit;
    }
    expected -= own - std::log(normaliser);
  }
  expected /= static_cast<double>(episode.query.rows());
  EXPECT_NEAR(loss, expected, 1e-12 * std::abs(expected));
  EXPECT_EQ(classifier.correct(), episode.query.rows());  // well separated classes
}

// One refinement step is the soft k-means update of Ren et al. written out directly.
TEST(PrototypeClassifier, RefinementStepIsSoftKMeansWithTheDistractorAtTheOrigin) {
  const task::Episode episode = make_episode(3, 2, 2, 5, 1, 4, 5, 1.0);
  const RefinementOptions refine{1, true};
  RowMatrix embedded;
  stack_episode(episode, refine, embedded);
  PrototypeClassifier classifier;
  classifier.forward(embedded, layout_of(episode, refine), episode.query_labels, refine);
  RowMatrix start(3, 4);
  for (Index k = 0; k < 3; ++k) start.row(k) = episode.support.middleRows(k * 2, 2).colwise().mean();
  RowMatrix numerator = 2.0 * start;
  Vector denominator = Vector::Constant(3, 2.0);
  for (Index u = 0; u < episode.unlabelled.rows(); ++u) {
    Vector weights(4);
    for (Index k = 0; k < 3; ++k) weights[k] = std::exp(-(episode.unlabelled.row(u) - start.row(k)).squaredNorm());
    weights[3] = std::exp(-episode.unlabelled.row(u).squaredNorm());
    weights /= weights.sum();
    for (Index k = 0; k < 3; ++k) {
      numerator.row(k) += weights[k] * episode.unlabelled.row(u);
      denominator[k] += weights[k];
    }
  }
  const RowMatrix expected = denominator.cwiseInverse().asDiagonal() * numerator;
  EXPECT_LT(relative_difference(classifier.prototypes(), expected), 1e-12);
}

TEST(ProtoNet, EpisodeGradientMatchesCentralDifferences) {
  for (const RefinementOptions refine : {RefinementOptions{0, false}, RefinementOptions{2, true}}) {
    const EncoderShape shape{6, {10, 4}};
    ProtoNet net(shape, refine);
    RandomStream random(9, StreamPurpose::test);
    const Vector phi = he_initial_weights(shape, random);
    // Classes close enough that no probability saturates: every weight matters.
    const task::Episode episode = make_episode(3, 2, 3, 3, 1, 6, 13, 0.3);
    Vector gradient;
    const double loss = net.loss_and_gradient(phi, episode, gradient);
    ASSERT_EQ(gradient.size(), shape.parameter_count());
    ASSERT_GT(gradient.norm(), 1e-3);
    EXPECT_NEAR(-net.adapted_log_likelihood(phi, episode), loss, 1e-14 * loss);
    Vector numeric(phi.size());
    Vector scratch;
    for (Index i = 0; i < phi.size(); ++i) {
      numeric[i] = central_difference(
          [&](double h) {
            Vector moved = phi;
            moved[i] += h;
            return net.loss_and_gradient(moved, episode, scratch);
          },
          kNetworkStep);
    }
    EXPECT_LT(relative_difference(gradient, numeric), kNetworkTolerance) << "refine steps " << refine.steps;
  }
}

TEST(ProtoNet, ContributionsCombineToTheMeanGradientAndLoss) {
  const EncoderShape shape{4, {5}};
  ProtoNet net(shape, {});
  RandomStream random(4, StreamPurpose::test);
  const Vector phi = he_initial_weights(shape, random);
  const task::Episode a = make_episode(2, 2, 2, 0, 0, 4, 1), b = make_episode(2, 2, 2, 0, 0, 4, 2);
  std::vector<double> ca(static_cast<std::size_t>(net.contribution_size())), cb(ca.size()), sum(ca.size());
  net.contribute(phi, a, ca);
  net.contribute(phi, b, cb);
  for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = ca[i] + cb[i];
  Vector meta_gradient, ga, gb;
  const double loss = net.combine(phi, sum, 2, meta_gradient);
  const double la = net.loss_and_gradient(phi, a, ga), lb = net.loss_and_gradient(phi, b, gb);
  EXPECT_DOUBLE_EQ(loss, 0.5 * (la + lb));
  EXPECT_LT(relative_difference(meta_gradient, Vector(0.5 * (ga + gb))), 1e-15);
}

TEST(ProtoNet, IdentityStartClassifiesExactlyAsRawFeaturePrototypes) {
  EncoderShape shape{6, {10, 6}};
  shape.residual = true;
  shape.skip_scale = 0.125;
  shape.input_offset.assign(6, 1.0);
  shape.input_scale.assign(6, 3.0);
  const RefinementOptions refine{0, false};  // refinement's soft assignments feel the scale
  ProtoNet net(shape, refine);
  RandomStream random(11, StreamPurpose::test);
  const Vector phi = identity_start_weights(shape, random);
  Index agreed = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const task::Episode episode = make_episode(4, 2, 5, 3, 0, 6, seed, 1.0);
    RowMatrix stacked;
    stack_episode(episode, refine, stacked);
    PrototypeClassifier raw;
    raw.forward(stacked, layout_of(episode, refine), episode.query_labels, refine);
    PrototypeClassifier scaled;
    const RowMatrix exact = 0.125 * stacked;
    scaled.forward(exact, layout_of(episode, refine), episode.query_labels, refine);
    EXPECT_EQ(net.score(phi, episode, refine).correct, raw.correct());
    // The same prototypes, exactly scaled: the embedding is the raw points times 1/8.
    EXPECT_EQ(scaled.prototypes(), RowMatrix(0.125 * raw.prototypes()));
    agreed += raw.correct();
  }
  EXPECT_GT(agreed, 0);
}

TEST(ProtoNet, AnchorDecayAddsItsPenaltyAndGradient) {
  const EncoderShape shape{4, {5}};
  const double lambda = 0.7;
  ProtoNet plain(shape, {}), anchored(shape, {}, lambda);
  RandomStream random(6, StreamPurpose::test);
  const Vector start = he_initial_weights(shape, random);
  anchored.set_anchor(start);
  const Vector phi = start + 0.1 * Vector::NullaryExpr(start.size(), [&](Index) { return random.normal(); });
  const task::Episode episode = make_episode(2, 2, 2, 0, 0, 4, 3);
  std::vector<double> contribution(static_cast<std::size_t>(plain.contribution_size()));
  plain.contribute(phi, episode, contribution);
  Vector g_plain, g_anchored;
  const double l_plain = plain.combine(phi, contribution, 1, g_plain);
  const double l_anchored = anchored.combine(phi, contribution, 1, g_anchored);
  EXPECT_NEAR(l_anchored - l_plain, 0.5 * lambda * (phi - start).squaredNorm(), 1e-14 * l_anchored);
  EXPECT_LT(relative_difference(Vector(g_anchored - g_plain), Vector(lambda * (phi - start))), 1e-14);
}

TEST(ProtoNet, ScoreCountsCorrectQueries) {
  const EncoderShape shape{3, {3}};
  ProtoNet net(shape, {});
  // W = identity, b = 0: the embedding is the input, so separated classes are all right.
  Vector phi = Vector::Zero(shape.parameter_count());
  for (Index i = 0; i < 3; ++i) phi[i * 3 + i] = 1.0;
  const task::Episode episode = make_episode(3, 3, 4, 0, 0, 3, 8, 6.0);
  const EpisodeScore score = net.score(phi, episode, {});
  EXPECT_EQ(score.queries, 12);
  EXPECT_EQ(score.correct, 12);
  const Vector wrong = -phi;  // every embedding mirrored: still right (distances are kept)
  EXPECT_EQ(net.score(wrong, episode, {}).correct, 12);
}

}  // namespace
}  // namespace metagmm::meta
