#include "metagmm/meta/settings.hpp"

#include <algorithm>
#include <cmath>

#include "metagmm/core/text.hpp"

namespace metagmm::meta {

const char* setting_type_name(const SettingValue& value) {
  switch (value.index()) {
    case 0: return "integer";
    case 1: return "real";
    default: return "text";
  }
}

std::string setting_text(const SettingValue& value) {
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return std::to_string(*integer);
  if (const auto* real = std::get_if<double>(&value)) return shortest_text(*real);
  return std::get<std::string>(value);
}

std::vector<std::string> flag_choices() { return {"false", "true"}; }

const SettingValue& Settings::at(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) throw SettingError(name, "missing");
  return found->second;
}

namespace {

template <typename T>
const T& typed(const Settings& settings, const std::string& name, const char* type) {
  const SettingValue& value = settings.at(name);
  if (const T* found = std::get_if<T>(&value)) return *found;
  throw SettingError(name, std::string("expected ") + type + ", found " + setting_type_name(value) + " '" +
                               setting_text(value) + "'");
}

}  // namespace

std::int64_t Settings::integer(const std::string& name) const { return typed<std::int64_t>(*this, name, "an integer"); }
double Settings::real(const std::string& name) const { return typed<double>(*this, name, "a real number"); }
const std::string& Settings::text(const std::string& name) const { return typed<std::string>(*this, name, "a text"); }

bool Settings::flag(const std::string& name) const {
  const std::string& value = text(name);
  if (value != "true" && value != "false") throw SettingError(name, "expected true or false, got '" + value + "'");
  return value == "true";
}

std::string Settings::describe() const {
  std::string lines;
  for (const auto& [name, value] : values_) lines += name + " = " + setting_text(value) + "\n";
  return lines;
}

SettingValue parse_setting(const SettingSpec& spec, const std::string& text) {
  SettingValue value;
  try {
    std::size_t used = 0;
    if (std::holds_alternative<std::int64_t>(spec.default_value)) {
      value = static_cast<std::int64_t>(std::stoll(text, &used));
    } else if (std::holds_alternative<double>(spec.default_value)) {
      value = std::stod(text, &used);
    } else {
      value = text;
      used = text.size();
    }
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::logic_error&) {  // invalid_argument, out_of_range
    throw SettingError(spec.name, std::string("expected ") + setting_type_name(spec.default_value) + ", got '" + text +
                                      "'");
  }
  check_setting(spec, value);
  return value;
}

void check_setting(const SettingSpec& spec, const SettingValue& value) {
  if (value.index() != spec.default_value.index()) {
    throw SettingError(spec.name, std::string("expected ") + setting_type_name(spec.default_value) + ", found " +
                                      setting_type_name(value) + " '" + setting_text(value) + "'");
  }
  if (const auto* real = std::get_if<double>(&value); real && std::isnan(*real))
    throw SettingError(spec.name, "expected a number, got NaN");
  if (spec.choices.empty()) return;
  const std::string& text = std::get<std::string>(value);
  if (std::find(spec.choices.begin(), spec.choices.end(), text) != spec.choices.end()) return;
  std::string expected;
  for (std::size_t i = 0; i < spec.choices.size(); ++i)
    expected += (i == 0 ? "" : i + 1 == spec.choices.size() ? " or " : ", ") + spec.choices[i];
  throw SettingError(spec.name, "expected " + expected + ", got '" + text + "'");
}

Settings complete_settings(const std::vector<SettingSpec>& specs, const Settings& given) {
  Settings settings;
  for (const SettingSpec& spec : specs) {
    const SettingValue& value = given.has(spec.name) ? given.at(spec.name) : spec.default_value;
    check_setting(spec, value);
    settings.set(spec.name, value);
  }
  return settings;
}

}  // namespace metagmm::meta
