#include "metagmm/cli/options.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/core/types.hpp"

namespace metagmm::cli {

void throw_missing(const std::string& name) { throw InputError("--" + name + " is required (see --help)"); }

bool given(const po::variables_map& values, const std::string& name) {
  return values.count(name) && !values[name].defaulted();
}

bool parse_options(const CommandSpec& spec, po::options_description& options, const std::vector<std::string>& args,
                   po::variables_map& values, const po::positional_options_description* positional,
                   bool print_help) {
  po::options_description general("General options");
  general.add_options()
      ("help,h", "show this help and exit")
      ("config", po::value<std::string>()->value_name("FILE"),
       "read options from FILE (INI syntax: name = value, same names as the long options); the command line wins");
  po::options_description all;
  all.add(options).add(general);
  try {
    po::command_line_parser parser(args);
    parser.options(all);
    if (positional) parser.positional(*positional);
    const po::parsed_options parsed = parser.run();
    // Without a positional description, Boost keeps a stray word under an empty name and store()
    // drops it: "--steps 3 200" would train 3 steps.
    for (const auto& option : parsed.options) {
      if (option.string_key.empty() && !option.value.empty()) {
        throw InputError("unexpected argument '" + option.value.front() + "' (options are --name value; see --help)");
      }
    }
    po::store(parsed, values);
    if (values.count("help")) {
      if (print_help)
        std::cout << "usage: metagmm " << spec.usage << "\n\n" << spec.description << "\n\n" << all << std::flush;
      return false;
    }
    if (values.count("config")) {
      const auto path = values["config"].as<std::string>();
      if (!std::filesystem::is_regular_file(path)) throw InputError("--config " + path + ": no such file");
      std::ifstream file(path);
      if (!file) throw InputError("--config " + path + ": cannot read");
      try {
        po::store(po::parse_config_file(file, options), values);
      } catch (const po::error& error) {
        throw InputError("--config " + path + ": " + printable(error.what()));
      }
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw InputError(printable(error.what()));
  }
  return true;
}

void store_config_text(const std::string& text, const std::string& source, const po::options_description& options,
                       po::variables_map& values, bool allow_unregistered) {
  std::istringstream stream(text);
  try {
    po::store(po::parse_config_file(stream, options, allow_unregistered), values);
    po::notify(values);
  } catch (const po::error& error) {
    throw InputError(source + ": " + printable(error.what()));
  }
}

namespace {

std::string value_text(const po::variable_value& value) {
  const auto& any = value.value();
  if (const auto* v = boost::any_cast<std::string>(&any)) return *v;
  if (const auto* v = boost::any_cast<double>(&any)) return shortest_text(*v);
  if (const auto* v = boost::any_cast<long long>(&any)) return std::to_string(*v);
  if (const auto* v = boost::any_cast<long>(&any)) return std::to_string(*v);
  if (const auto* v = boost::any_cast<int>(&any)) return std::to_string(*v);
  if (const auto* v = boost::any_cast<char>(&any)) return std::string(1, *v);
  if (const auto* v = boost::any_cast<bool>(&any)) return *v ? "true" : "false";
  METAGMM_CHECK(false, "option of a type resolved_config does not know");
  return {};
}

}  // namespace

std::string resolved_config(const po::options_description& options, const po::variables_map& values,
                            const std::vector<std::string>& excluded) {
  std::string text;
  for (const auto& option : options.options()) {
    const std::string& name = option->long_name();
    if (!values.count(name) || std::find(excluded.begin(), excluded.end(), name) != excluded.end()) continue;
    text += name + " = " + value_text(values[name]) + "\n";
  }
  return text;
}

}  // namespace metagmm::cli
