#pragma once
// Command-line and config-file parsing shared by the subcommands. Every option can also come
// from `--config FILE` (INI syntax, same names); the command line wins over the file, the
// file over the defaults.
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace metagmm::cli {

namespace po = boost::program_options;

struct CommandSpec {
  std::string name;         // "generate"
  std::string usage;        // one line after "usage: metagmm "
  std::string description;  // a paragraph for --help
};

// Parses `args` against `options` (plus --help and --config). Returns false when --help was
// asked for and printed. Throws InputError for unknown options, bad values or a bad config.
bool parse_options(const CommandSpec& spec, po::options_description& options, const std::vector<std::string>& args,
                   po::variables_map& values, const po::positional_options_description* positional = nullptr);

[[noreturn]] void throw_missing(const std::string& name);

// The value of a required option, or an InputError naming it.
template <typename T>
T required(const po::variables_map& values, const std::string& name) {
  if (!values.count(name)) throw_missing(name);
  return values[name].as<T>();
}

// True if the user gave the option (on the command line or in the config file).
bool given(const po::variables_map& values, const std::string& name);

}  // namespace metagmm::cli
