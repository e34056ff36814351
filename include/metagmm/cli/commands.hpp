#pragma once
#include <string>
#include <vector>

namespace metagmm::cli {

// Exit statuses (README "Exit status"): 0 done, 2 bad input or options, 3 stopped by a signal
// after a clean checkpoint, 1 anything else.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitStopped = 3;

int generate_command(const std::vector<std::string>& args);
int import_command(const std::vector<std::string>& args);
int inspect_command(const std::vector<std::string>& args);
int fit_command(const std::vector<std::string>& args);
int train_command(const std::vector<std::string>& args);
int eval_command(const std::vector<std::string>& args);

// Dispatches `metagmm COMMAND ...`, turning errors into one line on stderr and an exit status.
int run(int argc, char** argv);

}  // namespace metagmm::cli
