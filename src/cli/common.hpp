#pragma once
// Option helpers shared by the subcommands (private to the cli layer).
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

#include "metagmm/cli/options.hpp"
#include "metagmm/comm/communicator.hpp"
#include "metagmm/core/types.hpp"
#include "metagmm/task/csv.hpp"
#include "metagmm/task/generate.hpp"

namespace metagmm::cli {

// A file installed with the binary under share/metagmm/ (METAGMM_DATA_SUBDIR): found from the
// running binary's own location, PREFIX/bin/../share/metagmm/NAME once installed, or
// BUILD/share/metagmm/NAME in a build tree. Throws if it is in neither.
std::filesystem::path installed_data_file(const std::string& name);

// A double option whose default --help shows in its shortest exact form ("0.1", not
// "0.10000000000000001").
po::typed_value<double>* real_value(double default_value);

// "MIN:MAX" (or a single N meaning N:N); InputError naming `option` otherwise.
std::pair<Index, Index> parse_range(const std::string& text, const std::string& option);
// A yes/no option; InputError naming it otherwise.
bool yes_no_option(const po::variables_map& v, const std::string& name);
// --seed as an unsigned 64-bit integer.
std::uint64_t seed_option(const po::variables_map& v);
// The synthetic family's options, named with `prefix` ("" for generate, "gen-" for train).
void add_generator_options(po::options_description& options, const std::string& prefix);
task::GeneratorOptions generator_options(const po::variables_map& v, const std::string& prefix);

// The CSV reading options (--label-column, --task-column, --delimiter, --header) of import and fit.
void add_csv_options(po::options_description& options);
task::CsvOptions csv_options(const po::variables_map& v);

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs `step` on every rank; if it fails anywhere, the lowest failing rank prints its error
// ("metagmm COMMAND: error: ...") and every rank returns the failure's exit status (no rank is
// left waiting in a collective).
int collectively(comm::Communicator& comm, const std::string& command, const std::function<void()>& step);

// An output directory (--run-dir, eval's --out) this run made: if the run fails while the
// directory is still empty, it is removed again, so a refused or failed run leaves nothing.
// Only rank 0 removes it.
class OutputDirectoryGuard {
 public:
  OutputDirectoryGuard(std::filesystem::path directory, bool made_here, bool leader)
      : directory_(std::move(directory)), armed_(made_here && leader), exceptions_(std::uncaught_exceptions()) {}
  ~OutputDirectoryGuard();
  OutputDirectoryGuard(const OutputDirectoryGuard&) = delete;
  OutputDirectoryGuard& operator=(const OutputDirectoryGuard&) = delete;

 private:
  std::filesystem::path directory_;
  bool armed_;
  int exceptions_;
};

}  // namespace metagmm::cli
