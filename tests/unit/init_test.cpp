#include <gtest/gtest.h>

#include <set>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/init.hpp"
#include "metagmm/gmm/sample.hpp"
#include "support.hpp"

namespace metagmm::gmm {
namespace {

// Four tight clusters far apart: any sensible start must put one centre in each.
RowMatrix separated_clusters(IntVector& labels) {
  Gmm truth(GmmShape{4, 2, CovarianceType::spherical});
  truth.means << -20, -20, -20, 20, 20, -20, 20, 20;
  truth.log_sd.setConstant(std::log(0.5));
  RandomStream random(41, StreamPurpose::test);
  return sample(truth, 400, random, &labels);
}

TEST(Init, KMeansPlusPlusFindsEverySeparatedCluster) {
  IntVector labels;
  const RowMatrix X = separated_clusters(labels);
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    RandomStream random(seed, StreamPurpose::init);
    const Gmm g = initialize(X, {4, 2, CovarianceType::full}, InitMethod::kmeans_plus_plus, 1e-6, random);
    std::set<std::pair<int, int>> quadrants;
    for (Index k = 0; k < 4; ++k) quadrants.insert({g.means(k, 0) > 0, g.means(k, 1) > 0});
    EXPECT_EQ(quadrants.size(), 4u) << "seed " << seed;
  }
}

TEST(Init, SeedsAreDataPointsAndRandomStartsDependOnlyOnTheSeed) {
  IntVector labels;
  const RowMatrix X = separated_clusters(labels);
  RandomStream random(3, StreamPurpose::init);
  const RowMatrix seeds = kmeans_plus_plus_seeds(X, 4, random);
  for (Index k = 0; k < 4; ++k) {
    bool found = false;
    for (Index n = 0; n < X.rows() && !found; ++n) found = X.row(n) == seeds.row(k);
    EXPECT_TRUE(found);
  }
  auto random_start = [&](std::uint64_t seed) {
    RandomStream r(seed, StreamPurpose::init);
    return initialize(X, {4, 2, CovarianceType::diag}, InitMethod::random_points, 1e-6, r);
  };
  const Gmm g = random_start(4);
  EXPECT_TRUE(g.pack().allFinite());
  // Each chosen point is nearest to itself, so every component starts with points of its own.
  EXPECT_TRUE((g.weights().array() > 1e-3).all());
  EXPECT_EQ(g.pack(), random_start(4).pack());
  EXPECT_NE(g.pack(), random_start(5).pack());
}

TEST(Init, IsDeterministicForASeed) {
  IntVector labels;
  const RowMatrix X = separated_clusters(labels);
  RandomStream a(9, StreamPurpose::init), b(9, StreamPurpose::init);
  EXPECT_EQ(initialize(X, {4, 2, CovarianceType::diag}, InitMethod::kmeans_plus_plus, 1e-6, a).pack(),
            initialize(X, {4, 2, CovarianceType::diag}, InitMethod::kmeans_plus_plus, 1e-6, b).pack());
}

TEST(Init, RefusesMoreComponentsThanPoints) {
  const RowMatrix X = RowMatrix::Random(3, 2);
  RandomStream random(1, StreamPurpose::init);
  EXPECT_THROW(initialize(X, {4, 2, CovarianceType::diag}, InitMethod::kmeans_plus_plus, 1e-6, random), InputError);
}

}  // namespace
}  // namespace metagmm::gmm
