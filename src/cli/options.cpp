#include "metagmm/cli/options.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "metagmm/core/error.hpp"

namespace metagmm::cli {

void throw_missing(const std::string& name) { throw InputError("--" + name + " is required (see --help)"); }

bool given(const po::variables_map& values, const std::string& name) {
  return values.count(name) && !values[name].defaulted();
}

bool parse_options(const CommandSpec& spec, po::options_description& options, const std::vector<std::string>& args,
                   po::variables_map& values, const po::positional_options_description* positional) {
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
    po::store(parser.run(), values);
    if (values.count("help")) {
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
        throw InputError("--config " + path + ": " + error.what());
      }
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw InputError(error.what());
  }
  return true;
}

}  // namespace metagmm::cli
