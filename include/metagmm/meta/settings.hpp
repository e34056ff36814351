#pragma once
// Typed settings of an algorithm or an inner loop (docs/design.md, "Algorithms and their
// settings"). Each algorithm declares its settings once (name, type, default, help, allowed
// values); the command line makes its options from the declarations, checkpoints store the
// values as typed HDF5 attributes, and the algorithm's settings struct converts from and to
// them. A setting's name is also its command-line option (--NAME) and its attribute's name.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "metagmm/core/error.hpp"

namespace metagmm::meta {

// An integer, a real number or a text; a flag is a text setting with the choices false, true.
using SettingValue = std::variant<std::int64_t, double, std::string>;
// "integer", "real" or "text".
const char* setting_type_name(const SettingValue& value);
// The value as text: reals in their shortest exact form.
std::string setting_text(const SettingValue& value);

struct SettingSpec {
  std::string name;
  SettingValue default_value;
  std::string help;
  std::vector<std::string> choices;  // a text setting's allowed values (empty: any text)
};

// Named values in name order.
class Settings {
 public:
  Settings() = default;
  void set(const std::string& name, SettingValue value) { values_[name] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const SettingValue& at(const std::string& name) const;  // SettingError if missing
  // The value of a setting of that type; SettingError if missing or of another type.
  std::int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  const std::string& text(const std::string& name) const;
  bool flag(const std::string& name) const;  // a text setting "true" or "false"
  const std::map<std::string, SettingValue>& values() const { return values_; }
  // "name = value" lines.
  std::string describe() const;
  bool operator==(const Settings&) const = default;

 private:
  std::map<std::string, SettingValue> values_;
};

// `text` read as `spec`'s type (a setting in a configuration's text); SettingError otherwise.
SettingValue parse_setting(const SettingSpec& spec, const std::string& text);
// SettingError unless `value` has `spec`'s type and, for a text with choices, is one of them.
void check_setting(const SettingSpec& spec, const SettingValue& value);
// Every spec's setting taken from `given` where it is there, else its default; each checked.
Settings complete_settings(const std::vector<SettingSpec>& specs, const Settings& given);

// The choices of a flag setting.
std::vector<std::string> flag_choices();

}  // namespace metagmm::meta
