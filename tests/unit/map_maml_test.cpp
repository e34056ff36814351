// Meta-learned MAP adaptation: the exact meta-gradient through m MAP-EM steps (prior and log
// relevance factors) against central differences of the meta-objective itself.
#include <gtest/gtest.h>

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/map_gradient.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/meta/map_maml.hpp"
#include "support.hpp"

namespace metagmm::meta {
namespace {

using metagmm::testing::relative_difference;

// Fourth-order central differences with h = 1e-4: the MAP-EM steps are smooth (softmax
// responsibilities, rational M-step) at that scale for these well-conditioned problems, so the
// truncation is ~h^4 |F^(5)| < 1e-12, and F's rounding (~1e-15 relative) gives ~1e-11 / h. A
// dropped term of the chain rule (through the responsibilities, the prior, or a relevance) is
// off by 1e-3 or more.
constexpr double kMetaGradientTolerance = 1e-5;
constexpr double kStep = 1e-4;

struct Problem {
  gmm::GmmShape shape;
  task::Episode episode;
  Vector meta;  // a prior near the truth and unequal relevances
};

Problem make_problem(Index support, std::uint64_t seed) {
  Problem p;
  p.shape = {3, 2, gmm::CovarianceType::diag};
  const gmm::Gmm truth = testing::random_gmm(p.shape, seed, 2.0);
  RandomStream random(seed + 1, StreamPurpose::test);
  p.episode.task = 0;
  p.episode.support = gmm::sample(truth, support, random);
  p.episode.query = gmm::sample(truth, 40, random);
  const Vector model = truth.pack();
  p.meta.resize(model.size() + 3);
  p.meta << model, std::log(2.0), std::log(8.0), std::log(5.0);
  for (Index i = 0; i < model.size(); ++i) p.meta[i] += 0.3 * random.normal();
  return p;
}

std::vector<double> contribution(MapMaml& algorithm, const Vector& meta, const task::Episode& e) {
  std::vector<double> out(static_cast<std::size_t>(algorithm.contribution_size()));
  algorithm.contribute(meta, e, out);
  return out;
}

InnerOptions map_steps(int m) {
  InnerOptions inner;
  inner.method = InnerMethod::map;
  inner.steps = m;
  return inner;
}

TEST(MapMaml, MetaGradientMatchesCentralDifferencesForPriorAndRelevance) {
  for (const Index support : {6, 25}) {
    const Problem p = make_problem(support, 31 + static_cast<std::uint64_t>(support));
    for (int m = 1; m <= 5; m += 2) {
      MapMaml algorithm(p.shape, map_steps(m));
      const auto out = contribution(algorithm, p.meta, p.episode);
      const Vector analytic = Eigen::Map<const Vector>(out.data(), p.meta.size());
      const Vector numeric = testing::central_difference_gradient(
          [&](const Vector& meta) { return contribution(algorithm, meta, p.episode).back(); }, p.meta, kStep);
      const double error = relative_difference(analytic, numeric);
      const double relevance_error = relative_difference(analytic.tail(3), numeric.tail(3));
      std::cout << "[ map-maml ] support " << support << " m=" << m << ": relative error " << error
                << ", relevance part " << relevance_error << "\n";
      EXPECT_LE(error, kMetaGradientTolerance) << "support " << support << " m " << m;
      // The relevances' part on its own: smaller than the prior's, it must not hide in its scale.
      EXPECT_LE(relevance_error, kMetaGradientTolerance) << "support " << support << " m " << m;
      EXPECT_GT(analytic.tail(3).cwiseAbs().maxCoeff(), 0.0);
    }
  }
}

TEST(MapMaml, AdaptsByTheMapStepsOfTheInnerLoopWithTheLearnedRelevance) {
  const Problem p = make_problem(25, 40);
  MapMaml algorithm(p.shape, map_steps(3));
  InnerOptions inner = map_steps(3);
  inner.relevance = MapMaml::relevance(p.meta, p.shape.parameter_count());
  InnerLoop loop(p.shape, inner);
  Vector adapted = p.meta.head(p.shape.parameter_count());
  loop.adapt(adapted, p.episode.support);
  EXPECT_EQ(algorithm.adapted_model(p.meta, p.episode.support), adapted);  // same steps, same bits
  EXPECT_EQ(inner.relevance.means, std::exp(p.meta[p.shape.parameter_count() + 1]));
}

TEST(MapMaml, RefusesWhatItCannotDifferentiate) {
  EXPECT_THROW(MapMaml({2, 2, gmm::CovarianceType::full}, map_steps(2)), InputError);
  InnerOptions zero = map_steps(2);
  zero.relevance.means = 0.0;  // log r would be -inf
  EXPECT_THROW(MapMaml({2, 2, gmm::CovarianceType::diag}, zero), InputError);
}

}  // namespace
}  // namespace metagmm::meta
