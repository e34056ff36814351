// metagmm import: a CSV table of points into a task set.
#include <iostream>
#include <optional>

#include "command_list.hpp"
#include "common.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/task/csv.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::cli {

int import_command(const std::vector<std::string>& args, comm::Communicator&) {
  const CommandSpec spec{"import", "import --csv FILE --out FILE [--label-column C] [--task-column C] [options]",
                         "Converts a CSV table of points (optionally gzip-compressed, FILE.gz) into a task set.\n"
                         "Every column other than the label and task columns is a coordinate. Rows are grouped\n"
                         "into tasks by the task column, in order of first appearance; without one the whole\n"
                         "file is one task. With --class-split, one labelled pool becomes a few-shot benchmark:\n"
                         "one task per split holding the points of that split's classes."};
  po::options_description options("Options");
  options.add_options()
      ("csv", po::value<std::string>()->value_name("FILE"), "input CSV file (required)")
      ("out", po::value<std::string>()->value_name("FILE"), "output task set (required)")
      ("split", po::value<std::string>()->default_value("1:0:0"), "task fractions TRAIN:VALIDATION:TEST")
      ("seed", po::value<long long>()->default_value(0), "seed of the shuffle that assigns splits")
      ("class-split", po::value<std::string>()->value_name("TRAIN:VALIDATION:TEST"),
       "split one labelled pool by class, e.g. 0-4::5-9 (class lists: ranges and commas; VALIDATION may be "
       "empty): the train task holds the TRAIN classes, the test task the TEST classes; rows of other classes "
       "are left out. Needs --label-column; replaces --split")
      ("validation-fraction", real_value(task::ClassSplit{}.validation_fraction),
       "with --class-split: the fraction of each TRAIN class's rows held out (seeded) into the validation task, "
       "beside the VALIDATION classes");
  add_csv_options(options);
  po::variables_map v;
  if (!parse_options(spec, options, args, v)) return kExitOk;
  const auto csv = required<std::string>(v, "csv");
  const auto out = required<std::string>(v, "out");
  const auto split = task::SplitFractions::parse(v["split"].as<std::string>(), "--split");
  std::optional<task::ClassSplit> classes;
  if (v.count("class-split")) {
    if (given(v, "split")) throw InputError("--class-split: cannot be combined with --split");
    classes = task::ClassSplit::parse(v["class-split"].as<std::string>(), "--class-split");
    classes->validation_fraction = v["validation-fraction"].as<double>();
  } else if (given(v, "validation-fraction")) {
    throw InputError("--validation-fraction: only used with --class-split");
  }
  task::import_csv(csv, out, csv_options(v), split, seed_option(v), classes ? &*classes : nullptr);
  const task::TaskSetReader written(out);
  std::cout << "wrote " << written.task_count() << " tasks (" << written.info().points << " points, d = "
            << written.dim() << (written.info().labels ? ", labelled" : "") << ") to " << out << "\n";
  return kExitOk;
}

}  // namespace metagmm::cli
