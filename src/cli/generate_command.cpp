// metagmm generate: a synthetic task set.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "command_list.hpp"
#include "common.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/task/generate.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::cli {
namespace {

// Refuses a task set larger than the free space of its directory before writing any of it
// ("--tasks 99999999999999" would otherwise write until the disk is full). The estimate is
// the uncompressed points and labels; compression rarely saves much on random coordinates.
void check_room(const task::GeneratorOptions& o, const std::string& out) {
  const double points = static_cast<double>(o.tasks) * 0.5 * static_cast<double>(o.points_min + o.points_max);
  const double bytes = points * static_cast<double>(sizeof(double) * static_cast<std::size_t>(o.dim) + 4);
  std::error_code error;
  const auto parent = std::filesystem::absolute(out, error).parent_path();
  const auto space = std::filesystem::space(parent, error);
  if (error) return;  // a missing directory is reported by the writer, with its name
  if (bytes > static_cast<double>(space.available)) {
    std::ostringstream message;
    message << std::setprecision(3) << "--tasks " << o.tasks << ": the task set would need about " << bytes / 1e9
            << " GB; " << parent.string() << " has " << static_cast<double>(space.available) / 1e9 << " GB free";
    throw InputError(message.str());
  }
}

}  // namespace

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
  check_room(o, out);

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
