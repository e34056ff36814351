#pragma once
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace metagmm {

// The shortest text that reads back as exactly `value` (settings stored in files must
// reproduce the run bit for bit, and should still read 0.2 rather than 0.20000000000000001).
inline std::string shortest_text(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// `text` fit for one line of a message: control and non-ASCII bytes as '?', at most `limit`
// characters (a binary file given as a text file must not write its bytes to the terminal).
inline std::string printable(const std::string& text, std::size_t limit = 200) {
  std::string out;
  for (const char c : text) {
    if (out.size() == limit) return out + "...";
    const auto byte = static_cast<unsigned char>(c);
    out += byte >= 0x20 && byte < 0x7f ? c : '?';
  }
  return out;
}

// The whole of `text` as a decimal integer, or nothing.
inline std::optional<std::int64_t> parse_integer(const std::string& text) {
  std::int64_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// The finite numbers of `text` separated by `separator` ("0.5,2,16"), or nothing if the text is
// empty or any part is not wholly a finite number (options then say what they expected).
inline std::optional<std::vector<double>> parse_number_list(const std::string& text, char separator) {
  std::vector<double> numbers;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, separator)) {
    std::size_t used = 0;
    double value = 0.0;
    try {
      value = std::stod(part, &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (used != part.size() || !std::isfinite(value)) return std::nullopt;
    numbers.push_back(value);
  }
  if (numbers.empty() || (!text.empty() && text.back() == separator)) return std::nullopt;
  return numbers;
}

// "name = value" lines (a stored configuration) as a map; other lines are skipped.
inline std::map<std::string, std::string> parse_key_value_lines(const std::string& text) {
  std::map<std::string, std::string> entries;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    const auto equals = line.find(" = ");
    if (equals != std::string::npos) entries[line.substr(0, equals)] = line.substr(equals + 3);
  }
  return entries;
}

}  // namespace metagmm
