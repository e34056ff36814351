// metagmm generate: a synthetic task set.
#include <iomanip>
#include <iostream>

#include "command_list.hpp"
#include "common.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/task/generate.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::cli {

int generate_command(const std::vector<std::string>& args, comm::Communicator&) {
  const CommandSpec spec{"generate", "generate --family uniform|anchored|warped --out FILE [options]",
                         "Writes a synthetic task set (HDF5) with labels, true parameters under /truth and a\n"
                         "train/validation/test split. Deterministic for a seed: task t depends only on the seed,\n"
                         "the family options and t."};
  po::options_description options("Options");
  options.add_options()("out", po::value<std::string>()->value_name("FILE"), "output task set (required)");
  add_generator_options(options, "");
  po::variables_map v;
  if (!parse_options(spec, options, args, v)) return kExitOk;
  const auto out = required<std::string>(v, "out");
  const task::GeneratorOptions o = generator_options(v, "");

  const auto start = Clock::now();
  task::generate_task_set(o, out, [&](Index done) {
    std::cerr << "generate: " << done << " / " << o.tasks << " tasks\n";
  });
  const task::TaskSetReader written(out);
  std::cout << "wrote " << written.task_count() << " tasks (" << written.info().points << " points, d = " << o.dim
            << ", family " << task::to_string(o.family) << ") to " << out << " in " << std::fixed
            << std::setprecision(2) << seconds_since(start) << " s\n";
  return kExitOk;
}

}  // namespace metagmm::cli
