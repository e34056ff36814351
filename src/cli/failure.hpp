#pragma once
// The one mapping from an exception to an exit status and its line on standard error (private
// to the cli layer): bad input (InputError; a SettingError names its option) is status 2,
// "error"; anything else, numeric breakdowns included, is status 1, "failed".
#include <exception>
#include <string>

namespace metagmm::cli {

struct Failure {
  int status;
  std::string line;  // "metagmm COMMAND: error: ..." (" on rank R" where `rank` >= 0)
};

Failure failure_of(const std::string& command, const std::exception& error, int rank = -1);

}  // namespace metagmm::cli
