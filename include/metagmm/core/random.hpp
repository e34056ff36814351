#pragma once
// Counter-based random streams (Philox4x64-10, Salmon et al. 2011).
//
// A stream is named by (seed, a, b, c): its values are a pure function of that name and the
// position, so task j of meta-step t can be drawn identically by any rank, in any order, and
// after any resume (docs/design.md, "Determinism"). Nothing here depends on global state.
#include <array>
#include <cstdint>

namespace metagmm {

using PhiloxCounter = std::array<std::uint64_t, 4>;
using PhiloxKey = std::array<std::uint64_t, 2>;

// The Philox4x64 block function with 10 rounds.
PhiloxCounter philox4x64(PhiloxCounter counter, PhiloxKey key);

// What a stream is drawn for; part of every stream's name so that two uses never share bits.
enum class StreamPurpose : std::uint64_t {
  test = 0,
  family = 1,        // family-level parameters of a generator
  generate_task = 2, // one generated task
  split = 3,         // train/validation/test assignment
  init = 4,          // k-means++ / random initialisation
  episode = 5,       // task j of meta-step t and its support/query split (a = t, b = j)
  validation = 6,    // the fixed support/query split of validation task v (a = v)
  meta_init = 7,     // the meta-parameters' starting point
  evaluation = 8,    // evaluation episode e of a split (a = split, b = e)
  import_task = 9,   // imported task t of a split, drawn from a labelled pool (a = split, b = t)
};

class RandomStream {
 public:
  RandomStream(std::uint64_t seed, StreamPurpose purpose, std::uint64_t a = 0,
               std::uint64_t b = 0);

  std::uint64_t next_u64();
  double uniform();                          // [0, 1), 53 random bits
  double uniform_open();                     // (0, 1)
  double normal();                           // standard normal
  double gamma(double shape);                // Gamma(shape, 1), shape > 0
  std::uint64_t below(std::uint64_t n);      // uniform integer in [0, n), unbiased; n > 0
  std::int64_t between(std::int64_t lo, std::int64_t hi);  // uniform integer in [lo, hi]

  // Position within the stream, enough to continue it exactly.
  std::uint64_t position() const { return drawn_; }
  void seek(std::uint64_t position);

 private:
  void refill();
  PhiloxKey key_;
  PhiloxCounter counter_;
  std::array<std::uint64_t, 4> block_{};
  std::uint64_t drawn_ = 0;  // values drawn so far
};

}  // namespace metagmm
