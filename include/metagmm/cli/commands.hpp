#pragma once
// The command line as a library: a program that registers its own algorithms
// (meta/registry.hpp) and then calls run() has every command, with them included.

namespace metagmm::cli {

// Exit statuses (README "Exit status"): 0 done, 2 bad input or options, 3 stopped by a signal
// after a clean checkpoint, 1 anything else.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitStopped = 3;

// Runs `metagmm COMMAND ...`, turning errors into one line on stderr and an exit status.
int run(int argc, char** argv);

}  // namespace metagmm::cli
