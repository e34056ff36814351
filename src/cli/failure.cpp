#include "failure.hpp"

#include "metagmm/cli/commands.hpp"
#include "metagmm/core/error.hpp"

namespace metagmm::cli {

Failure failure_of(const std::string& command, const std::exception& error, int rank) {
  const bool bad_input = dynamic_cast<const InputError*>(&error) != nullptr;
  // A setting's message starts with its name, which on the command line is its option.
  const std::string message =
      dynamic_cast<const SettingError*>(&error) ? "--" + std::string(error.what()) : std::string(error.what());
  const std::string where = rank >= 0 ? " on rank " + std::to_string(rank) : std::string();
  return {bad_input ? kExitBadInput : kExitFailure,
          "metagmm " + command + ": " + (bad_input ? "error" : "failed") + where + ": " + message};
}

}  // namespace metagmm::cli
