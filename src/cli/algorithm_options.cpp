#include "algorithm_options.hpp"

#include <algorithm>

#include "common.hpp"
#include "metagmm/core/error.hpp"

namespace metagmm::cli {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) text += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return text;
}

// The option's current value as the setting's type.
meta::SettingValue option_value(const meta::SettingSpec& spec, const po::variables_map& v) {
  const po::variable_value& value = v[spec.name];
  if (std::holds_alternative<std::int64_t>(spec.default_value)) return value.as<std::int64_t>();
  if (std::holds_alternative<double>(spec.default_value)) return value.as<double>();
  return value.as<std::string>();
}

}  // namespace

void add_algorithm_options(po::options_description& options) {
  std::string algorithms;
  for (const meta::AlgorithmEntry& entry : meta::registered_algorithms())
    algorithms += (algorithms.empty() ? "" : ", ") + entry.name + " (" + entry.summary + ")";
  const std::string algo_help = "meta-learning algorithm: " + algorithms;
  po::options_description group("Algorithm settings (each used by the algorithms it names)");
  group.add_options()("algo", po::value<std::string>()->default_value("reptile"), algo_help.c_str());
  const std::size_t count = meta::registered_algorithms().size();
  for (const meta::SharedSetting& shared : meta::all_algorithm_settings()) {
    const meta::SettingSpec& spec = shared.spec;
    const std::string help = spec.help + (shared.algorithms.size() < count ? " [" + joined(shared.algorithms) + "]" : "");
    const char* name = spec.name.c_str();
    if (const auto* integer = std::get_if<std::int64_t>(&spec.default_value)) {
      group.add_options()(name, po::value<std::int64_t>()->default_value(*integer), help.c_str());
    } else if (const auto* real = std::get_if<double>(&spec.default_value)) {
      group.add_options()(name, real_value(*real), help.c_str());
    } else {
      group.add_options()(name, po::value<std::string>()->default_value(std::get<std::string>(spec.default_value)),
                          help.c_str());
    }
  }
  options.add(group);
}

meta::Settings algorithm_settings(const meta::AlgorithmEntry& entry, const po::variables_map& v) {
  meta::Settings settings;
  for (const meta::SettingSpec& spec : entry.settings) settings.set(spec.name, option_value(spec, v));
  for (const meta::SharedSetting& shared : meta::all_algorithm_settings()) {
    const auto& users = shared.algorithms;
    if (std::find(users.begin(), users.end(), entry.name) != users.end()) continue;
    if (option_value(shared.spec, v) != shared.spec.default_value) {
      throw InputError("--" + shared.spec.name + ": not a setting of --algo " + entry.name + " (it is one of " +
                       joined(users) + ")");
    }
  }
  return meta::complete_settings(entry.settings, settings);
}

}  // namespace metagmm::cli
