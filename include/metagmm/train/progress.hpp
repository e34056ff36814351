#pragma once
// Progress of a long run on rank 0: on a terminal one live line rewritten in place; in a
// batch job (not a terminal) a plain line every `interval` seconds, so logs stay readable.
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace metagmm::train {

struct ProgressLine {
  std::int64_t step = 0, steps = 0;
  double loss = 0.0;
  double validation = 0.0;  // NaN until measured
  double steps_per_second = 0.0;
};

class Progress {
 public:
  Progress(std::ostream& out, bool terminal, double interval_seconds);
  // Shows the line if it is time to; `force` shows it now (the last step).
  void update(const ProgressLine& line, bool force = false);
  // Ends a live line so that following output starts on its own line.
  void finish();

 private:
  static std::string format(const ProgressLine& line);
  std::ostream& out_;
  bool terminal_;
  double interval_;
  std::chrono::steady_clock::time_point last_{};
  bool live_ = false;
};

}  // namespace metagmm::train
