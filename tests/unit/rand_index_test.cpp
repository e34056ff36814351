// The adjusted Rand index against values scikit-learn's adjusted_rand_score gives
// (sklearn 1.2, Debian 12) for the same labellings.
#include <gtest/gtest.h>

#include "metagmm/gmm/rand_index.hpp"

namespace metagmm::gmm {
namespace {

IntVector labels(std::initializer_list<std::int32_t> values) {
  IntVector v(static_cast<Index>(values.size()));
  Index i = 0;
  for (const auto x : values) v[i++] = x;
  return v;
}

TEST(AdjustedRandIndex, MatchesScikitLearn) {
  EXPECT_DOUBLE_EQ(adjusted_rand_index(labels({0, 0, 1, 2}), labels({0, 0, 1, 1})), 0.5714285714285714);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(labels({0, 0, 1, 1}), labels({0, 1, 0, 1})), -0.5);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(labels({0, 0, 0, 0}), labels({0, 1, 2, 3})), 0.0);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(labels({0, 0, 1, 1, 2, 2, 2, 3}), labels({5, 5, 5, 1, 1, 2, 2, 2})),
                   0.15789473684210525);
}

TEST(AdjustedRandIndex, IsOneForTheSamePartitionUnderAnyNames) {
  EXPECT_DOUBLE_EQ(adjusted_rand_index(labels({3, 3, 7, 7, 1}), labels({0, 0, 2, 2, -1})), 1.0);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(labels({4, 4, 4}), labels({9, 9, 9})), 1.0);
}

}  // namespace
}  // namespace metagmm::gmm
