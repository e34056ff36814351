// metagmm COMMAND ...: finds the command, starts MPI for the commands that run under mpirun,
// and turns whatever a command throws into one line and an exit status (cli/failure.hpp). This
// is the only place that catches a command's errors.
#include <iostream>
#include <optional>

#include "command_list.hpp"
#include "failure.hpp"
#include "isa_choice.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/comm/communicator.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/train/signals.hpp"

namespace metagmm::cli {
namespace {

struct Command {
  const char* name;
  const char* summary;  // for the overview, continuation lines indented
  bool parallel;        // runs under mpirun: MPI is started for it
  bool stops_on_signals;  // SIGTERM, SIGINT and SIGUSR1 ask it to stop at a step boundary
  int (*run)(const std::vector<std::string>&, comm::Communicator&);
};

const Command kCommands[] = {
    {"generate", "write a synthetic task set (uniform, anchored or warped family)", false, false, generate_command},
    {"import", "convert a CSV table, a netCDF grid or IDX images into a task set", false, false, import_command},
    {"inspect", "show what a task set, model file or checkpoint holds", false, false, inspect_command},
    {"fit", "fit a Gaussian mixture to one dataset (EM, MAP-EM, or a checkpoint's adaptation)", false, false,
     fit_command},
    {"train", "meta-learn across tasks (--algo: see train --help), under mpirun or alone", true, true, train_command},
    {"eval",
     "evaluate trained checkpoints on held-out tasks against the baselines\n"
     "             (mixtures: log-likelihood curves; ProtoNet: few-shot accuracy and clustering)",
     true, false, eval_command},
};

std::string overview() {
  std::string text = "usage: metagmm COMMAND [options]   (metagmm COMMAND --help for its options)\n\ncommands:\n";
  for (const Command& c : kCommands) text += "  " + std::string(c.name) + std::string(11 - std::string(c.name).size(), ' ') + c.summary + "\n";
  text +=
      "\n  --version  the version, git revision, compiler and kernel levels (compiled in and in use)\n\n"
      "environment: METAGMM_ISA=sse2|avx2|avx512|auto chooses the kernels' instruction set\n"
      "             (default auto: the highest this processor supports; under MPI, the lowest\n"
      "             of the ranks' levels)\n\n"
      "exit status: 0 done, 2 bad input or options, 3 stopped by a signal after a checkpoint,\n"
      "             1 anything else\n";
  return text;
}

const Command* find_command(const std::string& name) {
  for (const Command& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace

int run(int argc, char** argv) {
  h5::keep_library_out_of_exit();
  if (argc < 2) {
    std::cerr << overview();
    return kExitBadInput;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    std::cout << overview();
    return kExitOk;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  static const Command version{"version", "", false, false, version_command};
  const Command* command = name == "--version" || name == "version" ? &version : find_command(name);
  if (!command) {
    std::cerr << "metagmm: unknown command '" << name << "'\n" << overview();
    return kExitBadInput;
  }
  // Before MPI_Init, which can take seconds: a stop signal (a batch job's time-limit warning)
  // arriving during start-up then stops the run at its first step boundary, with a checkpoint,
  // instead of killing the rank.
  if (command->stops_on_signals) train::install_stop_handlers();
  std::optional<comm::MpiRuntime> mpi;
  std::unique_ptr<comm::Communicator> comm;
  try {
    choose_process_isa();
    if (command->parallel) {
      mpi.emplace();
      comm = mpi->communicator();
    } else {
      comm = comm::make_serial_communicator();
    }
    return command->run(args, *comm);
  } catch (const std::exception& error) {
    const bool parallel = comm && comm->size() > 1;
    const Failure failure = failure_of(command->name, error, parallel ? comm->rank() : -1);
    std::cerr << failure.line << std::endl;
    // The other ranks may be waiting in a collective: end them all now.
    if (parallel) comm->abort(failure.status);
    return failure.status;
  }
}

}  // namespace metagmm::cli
