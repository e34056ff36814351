// Order-independent sums: the same values in any order and grouping give the same bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "metagmm/core/exact_sum.hpp"

namespace metagmm::exact {
namespace {

using Limbs = std::array<std::int64_t, kLimbs>;

Limbs sum_of(const std::vector<double>& values) {
  Limbs limbs{};
  for (const double v : values) EXPECT_TRUE(accumulate(v, limbs.data()));
  return limbs;
}

TEST(ExactSum, RepresentableValuesComeBackExactly) {
  // Every double of magnitude 2^-59 and above has all 53 bits above the 2^-112 resolution.
  for (const double x : {1.0, -1.0, 0.1, -3.75e-5, 123456.789, -0x1p78, 0x1p-100, 1e-17, -2.5e20, 0.0}) {
    Limbs limbs{};
    ASSERT_TRUE(accumulate(x, limbs.data()));
    EXPECT_EQ(to_double(limbs.data()), x) << x;
  }
  // Smaller ones keep an absolute error below the resolution.
  Limbs limbs{};
  ASSERT_TRUE(accumulate(1e-30, limbs.data()));
  EXPECT_NEAR(to_double(limbs.data()), 1e-30, 0x1p-112);
}

TEST(ExactSum, AnyOrderAndGroupingGivesTheSameBits) {
  std::mt19937_64 random(5);
  std::vector<double> values;
  for (int i = 0; i < 1000; ++i) {
    const double magnitude = std::ldexp(1.0, static_cast<int>(random() % 60) - 30);
    values.push_back((random() % 2 ? 1 : -1) * magnitude * std::generate_canonical<double, 53>(random));
  }
  const Limbs reference = sum_of(values);
  const double total = to_double(reference.data());
  // Shuffled, and split into "ranks" whose partial limb sums are then added.
  for (int trial = 0; trial < 5; ++trial) {
    std::shuffle(values.begin(), values.end(), random);
    const int ranks = 1 + trial;
    Limbs combined{};
    for (int r = 0; r < ranks; ++r) {
      std::vector<double> share(values.begin() + values.size() * r / ranks, values.begin() + values.size() * (r + 1) / ranks);
      const Limbs partial = sum_of(share);
      for (int j = 0; j < kLimbs; ++j) combined[j] += partial[j];
    }
    EXPECT_EQ(to_double(combined.data()), total);
  }
  // And it is the sum: compared with a long double sum of the same values.
  long double exact = 0;
  for (const double v : values) exact += v;
  EXPECT_NEAR(total, static_cast<double>(exact), 1e-15 * std::fabs(static_cast<double>(exact)) + 1e-25);
}

// The limbs of one value, computed bit by bit from frexp: bit b of |x| * 2^kFractionBits (those
// at or above 2^0) adds +-2^(b mod 32) to limb b / 32, which is what the pieces add up to.
Limbs limbs_bit_by_bit(double x) {
  Limbs limbs{};
  int exponent = 0;
  const double fraction = std::frexp(std::fabs(x), &exponent);  // |x| = fraction 2^exponent
  const auto mantissa = static_cast<std::uint64_t>(std::ldexp(fraction, 53));
  for (int bit = 0; bit < 53; ++bit) {
    const int at = bit + exponent - 53 + kFractionBits;
    if (at < 0 || !((mantissa >> bit) & 1)) continue;
    limbs[static_cast<std::size_t>(at / 32)] += (x < 0 ? -1 : 1) * (std::int64_t{1} << (at % 32));
  }
  return limbs;
}

// Every value's limbs, over the whole range a sum holds and below it (partly or wholly
// dropped), the edges included: the largest summable values, the resolution, subnormals, zeros.
TEST(ExactSum, EachValuesLimbsMatchABitByBitReference) {
  std::mt19937_64 random(11);
  std::vector<double> values = {0x1p-112, 0x1p-113, 0x1.8p-112, 0x1p-1074, -0x1p-1022, std::nextafter(kLimit, 0.0),
                                -std::nextafter(kLimit, 0.0), 0x1p64, 0x1.fffffffffffffp-60, 0.0, -0.0};
  for (int i = 0; i < 20000; ++i) {
    const int exponent = static_cast<int>(random() % 260) - 180;
    values.push_back((random() % 2 ? 1 : -1) * std::ldexp(std::generate_canonical<double, 53>(random), exponent));
  }
  for (const double x : values) {
    Limbs limbs{};
    ASSERT_TRUE(accumulate(x, limbs.data()));
    EXPECT_EQ(limbs, limbs_bit_by_bit(x)) << std::hexfloat << x;
  }
}

TEST(ExactSum, CancellationIsExact) {
  // In doubles (1e20 + 1) - 1e20 is 0; here the 1 survives.
  EXPECT_EQ(to_double(sum_of({1e20, 1.0, -1e20}).data()), 1.0);
  EXPECT_EQ(to_double(sum_of({0.1, 0.2, -0.1, -0.2}).data()), 0.0);
}

TEST(ExactSum, RefusesWhatItCannotHold) {
  Limbs limbs{};
  EXPECT_FALSE(accumulate(std::nan(""), limbs.data()));
  EXPECT_FALSE(accumulate(INFINITY, limbs.data()));
  EXPECT_FALSE(accumulate(-kLimit, limbs.data()));
  EXPECT_EQ(limbs, Limbs{});
}

}  // namespace
}  // namespace metagmm::exact
