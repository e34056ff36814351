#pragma once
// Command-line and config-file parsing shared by the subcommands. Every option can also come
// from `--config FILE` (INI syntax, same names); the command line wins over the file, the
// file over the defaults.
#include <boost/program_options.hpp>
#include <map>
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
// asked for (and printed, if `print_help`). Throws InputError for unknown options, bad values or a bad config.
bool parse_options(const CommandSpec& spec, po::options_description& options, const std::vector<std::string>& args,
                   po::variables_map& values, const po::positional_options_description* positional = nullptr,
                   bool print_help = true);

[[noreturn]] void throw_missing(const std::string& name);

// The value of a required option, or an InputError naming it.
template <typename T>
T required(const po::variables_map& values, const std::string& name) {
  if (!values.count(name)) throw_missing(name);
  return values[name].as<T>();
}

// Adds the options of `text` (INI syntax) to `values` with the lowest priority: only options
// still at their defaults take them. `source` names the text in errors. With
// `allow_unregistered`, options that `options` does not know are skipped (reading a few
// settings out of another command's configuration).
void store_config_text(const std::string& text, const std::string& source, const po::options_description& options,
                       po::variables_map& values, bool allow_unregistered = false);

// Every option of `options` that has a value, as "name = value" lines in the order of the
// description (doubles in their shortest exact form), except those named in `excluded`.
std::string resolved_config(const po::options_description& options, const po::variables_map& values,
                            const std::vector<std::string>& excluded);

// True if the user gave the option (on the command line or in the config file).
bool given(const po::variables_map& values, const std::string& name);

}  // namespace metagmm::cli
