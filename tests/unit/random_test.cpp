#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "metagmm/core/random.hpp"

namespace metagmm {
namespace {

// Known answers from numpy's independent Philox4x64-10 (numpy.random.Philox): numpy increments
// the counter before each block, so its first block from counter c is our block c + 1.
//   numpy.random.Philox(key=0).random_raw(4)
//   numpy.random.Philox(counter=[2**64-1]*4, key=[2**64-1]*2).random_raw(4)  (wraps to 0)
TEST(Philox, MatchesNumpyKnownAnswers) {
  const PhiloxCounter zero_key = philox4x64({1, 0, 0, 0}, {0, 0});
  EXPECT_EQ(zero_key, (PhiloxCounter{0x02f4ba6408e4d89bULL, 0x3dd62b0b9ca8c5b2ULL, 0x1c8667a55d902e79ULL, 0x907d7a052fd5b4dcULL}));
  const PhiloxCounter ones_key = philox4x64({0, 0, 0, 0}, {~0ULL, ~0ULL});
  EXPECT_EQ(ones_key, (PhiloxCounter{0x44b7493d1acfc229ULL, 0x6636af8e997921ddULL, 0x3f73e132b5b3780eULL, 0x605644dde03b01b1ULL}));
}

TEST(RandomStream, IsAPureFunctionOfItsNameAndPosition) {
  RandomStream a(7, StreamPurpose::test, 3, 4), b(7, StreamPurpose::test, 3, 4);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  RandomStream other_task(7, StreamPurpose::test, 3, 5), other_purpose(7, StreamPurpose::family, 3, 4), other_seed(8, StreamPurpose::test, 3, 4);
  RandomStream fresh(7, StreamPurpose::test, 3, 4);
  const auto first = fresh.next_u64();
  EXPECT_NE(first, other_task.next_u64());
  EXPECT_NE(first, other_purpose.next_u64());
  EXPECT_NE(first, other_seed.next_u64());
}

TEST(RandomStream, SeekContinuesExactly) {
  RandomStream straight(1, StreamPurpose::test);
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 11; ++i) values.push_back(straight.next_u64());
  for (std::uint64_t position : {0, 1, 4, 7, 10}) {
    RandomStream resumed(1, StreamPurpose::test);
    resumed.seek(position);
    EXPECT_EQ(resumed.next_u64(), values[position]) << "position " << position;
    EXPECT_EQ(resumed.position(), position + 1);
  }
}

TEST(RandomStream, DistributionsHaveTheRightMoments) {
  RandomStream random(11, StreamPurpose::test);
  const int n = 200000;
  double sum = 0, sum_sq = 0, gamma_sum = 0, small_gamma_sum = 0;
  for (int i = 0; i < n; ++i) {
    const double z = random.normal();
    sum += z;
    sum_sq += z * z;
    gamma_sum += random.gamma(3.0);
    small_gamma_sum += random.gamma(0.5);
  }
  // Five standard errors: a correct sampler fails this about once in 3 million runs.
  EXPECT_NEAR(sum / n, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(sum_sq / n, 1.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(gamma_sum / n, 3.0, 5.0 * std::sqrt(3.0 / n));
  EXPECT_NEAR(small_gamma_sum / n, 0.5, 5.0 * std::sqrt(0.5 / n));
}

TEST(RandomStream, BelowCoversItsRangeUniformly) {
  RandomStream random(5, StreamPurpose::test);
  std::vector<int> counts(7, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const auto v = random.below(7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, n / 7.0, 5.0 * std::sqrt(n / 7.0));
  for (int i = 0; i < 1000; ++i) {
    const auto v = random.between(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
  }
  for (int i = 0; i < 1000; ++i) {
    const double u = random.uniform(), o = random.uniform_open();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ASSERT_GT(o, 0.0);
    ASSERT_LT(o, 1.0);
  }
}

}  // namespace
}  // namespace metagmm
