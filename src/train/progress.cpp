#include "metagmm/train/progress.hpp"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace metagmm::train {

Progress::Progress(std::ostream& out, bool terminal, double interval_seconds)
    : out_(out), terminal_(terminal), interval_(terminal ? 0.2 : interval_seconds) {}

std::string Progress::format(const ProgressLine& l) {
  const double left = l.steps_per_second > 0 ? static_cast<double>(l.steps - l.step) / l.steps_per_second : 0.0;
  const long long seconds = std::llround(left);
  char validation[32] = "-";
  if (!std::isnan(l.validation)) std::snprintf(validation, sizeof validation, "%.4f", l.validation);
  char text[256];
  std::snprintf(text, sizeof text, "step %lld/%lld  loss %.4f  val loglik %s  %.1f steps/s  left %lld:%02lld:%02lld",
                static_cast<long long>(l.step), static_cast<long long>(l.steps), l.loss, validation,
                l.steps_per_second, seconds / 3600, seconds / 60 % 60, seconds % 60);
  return text;
}

void Progress::update(const ProgressLine& line, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && std::chrono::duration<double>(now - last_).count() < interval_) return;
  last_ = now;
  if (terminal_) {
    out_ << "\r\033[K" << format(line) << std::flush;
    live_ = true;
  } else {
    out_ << format(line) << std::endl;
  }
}

void Progress::finish() {
  if (live_) out_ << std::endl;
  live_ = false;
}

}  // namespace metagmm::train
