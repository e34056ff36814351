#include "metagmm/core/random.hpp"

#include <cmath>
#include <numbers>

#include "metagmm/core/error.hpp"

namespace metagmm {
namespace {

constexpr std::uint64_t kMultiplier0 = 0xD2E7470EE14C6C93ULL;
constexpr std::uint64_t kMultiplier1 = 0xCA5A826395121157ULL;
constexpr std::uint64_t kWeyl0 = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t kWeyl1 = 0xBB67AE8584CAA73BULL;

inline void multiply_high_low(std::uint64_t a, std::uint64_t b, std::uint64_t& high,
                              std::uint64_t& low) {
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  high = static_cast<std::uint64_t>(product >> 64);
  low = static_cast<std::uint64_t>(product);
}

}  // namespace

PhiloxCounter philox4x64(PhiloxCounter counter, PhiloxKey key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += kWeyl0;
      key[1] += kWeyl1;
    }
    std::uint64_t high0, low0, high1, low1;
    multiply_high_low(kMultiplier0, counter[0], high0, low0);
    multiply_high_low(kMultiplier1, counter[2], high1, low1);
    counter = {high1 ^ counter[1] ^ key[0], low1, high0 ^ counter[3] ^ key[1], low0};
  }
  return counter;
}

RandomStream::RandomStream(std::uint64_t seed, StreamPurpose purpose, std::uint64_t a,
                           std::uint64_t b)
    : key_{seed, static_cast<std::uint64_t>(purpose)}, counter_{0, 0, a, b} {}

void RandomStream::refill() {
  // Word 0 of the counter is the block index; words 2 and 3 name the stream.
  counter_[0] = drawn_ / 4;
  block_ = philox4x64(counter_, key_);
}

std::uint64_t RandomStream::next_u64() {
  if (drawn_ % 4 == 0) refill();
  return block_[drawn_++ % 4];
}

void RandomStream::seek(std::uint64_t position) {
  drawn_ = position;
  if (drawn_ % 4 != 0) refill();
}

double RandomStream::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double RandomStream::uniform_open() {
  return (static_cast<double>(next_u64() >> 12) + 0.5) * 0x1.0p-52;
}

double RandomStream::normal() {
  // Box-Muller; the second value is dropped so that the stream's state stays its position.
  const double radius = std::sqrt(-2.0 * std::log(uniform_open()));
  return radius * std::cos(2.0 * std::numbers::pi * uniform());
}

double RandomStream::gamma(double shape) {
  METAGMM_CHECK(shape > 0.0, "gamma shape must be positive");
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a)  (Marsaglia and Tsang 2000, section 6).
    const double boost = std::pow(uniform_open(), 1.0 / shape);
    return gamma(shape + 1.0) * boost;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform_open();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

std::uint64_t RandomStream::below(std::uint64_t n) {
  METAGMM_CHECK(n > 0, "below(0) has no values");
  // Lemire's multiply-and-reject: unbiased, one draw almost always.
  unsigned __int128 product = static_cast<unsigned __int128>(next_u64()) * n;
  auto low = static_cast<std::uint64_t>(product);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      product = static_cast<unsigned __int128>(next_u64()) * n;
      low = static_cast<std::uint64_t>(product);
    }
  }
  return static_cast<std::uint64_t>(product >> 64);
}

std::int64_t RandomStream::between(std::int64_t lo, std::int64_t hi) {
  METAGMM_CHECK(lo <= hi, "between: empty range");
  return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
}

}  // namespace metagmm
