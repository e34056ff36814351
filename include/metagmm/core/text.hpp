#pragma once
#include <charconv>
#include <cmath>
#include <string>

namespace metagmm {

// The shortest text that reads back as exactly `value` (settings stored in files must
// reproduce the run bit for bit, and should still read 0.2 rather than 0.20000000000000001).
inline std::string shortest_text(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// A number in JSON: its shortest text, or null for NaN and infinities (which JSON lacks).
inline std::string json_number(double value) { return std::isfinite(value) ? shortest_text(value) : "null"; }

}  // namespace metagmm
