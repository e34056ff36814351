// metagmm with the test's toy algorithm registered: every command, unchanged, now also knows
// "toy-fomaml" (tests/cli/test_registry.py runs it).
#include "metagmm/cli/commands.hpp"
#include "toy_algorithm.hpp"

int main(int argc, char** argv) {
  metagmm::toy::register_toy_algorithm();
  return metagmm::cli::run(argc, argv);
}
