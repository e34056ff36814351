#include "metagmm/cli/commands.hpp"

int main(int argc, char** argv) { return metagmm::cli::run(argc, argv); }
