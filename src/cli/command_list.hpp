#pragma once
// The commands, one file each (private to the cli layer); src/cli/dispatch.cpp runs them and owns
// the exit statuses and the mapping of errors to them. A command returns its status or throws.
#include <string>
#include <vector>

#include "metagmm/comm/communicator.hpp"

namespace metagmm::cli {

// `comm` is the job's communicator for the commands that run under mpirun (train, eval), a
// serial one for the others.
int generate_command(const std::vector<std::string>& args, comm::Communicator& comm);
int import_command(const std::vector<std::string>& args, comm::Communicator& comm);
int inspect_command(const std::vector<std::string>& args, comm::Communicator& comm);
int fit_command(const std::vector<std::string>& args, comm::Communicator& comm);
int train_command(const std::vector<std::string>& args, comm::Communicator& comm);
int eval_command(const std::vector<std::string>& args, comm::Communicator& comm);
int version_command(const std::vector<std::string>& args, comm::Communicator& comm);

}  // namespace metagmm::cli
