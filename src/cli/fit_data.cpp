#include "fit_data.hpp"

#include <algorithm>
#include <filesystem>

#include "metagmm/core/error.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/meta/encoder.hpp"
#include "metagmm/task/sampler.hpp"
#include "metagmm/task/taskset.hpp"
#include "metagmm/task/transform.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::cli {
namespace {

// Every task of one split of a task set, pooled into one point set.
FitData pooled_split(const std::string& path, task::Split split) {
  const auto source = task::open_task_file(path, 0);
  task::PooledTasks pooled = task::pool_split(*source, split);
  FitData data;
  data.points = std::move(pooled.points);
  data.labels = std::move(pooled.labels);
  // Its own initialisation stream, apart from every task's (whose index names theirs).
  data.stream = pooled_stream(*source, split);
  data.description = path + ":" + task::split_name(split) + " (the " + std::to_string(pooled.tasks) +
                     " tasks of the " + task::split_name(split) + " split, pooled)";
  return data;
}

}  // namespace

FitData load_fit_data(const std::string& spec, const task::CsvOptions& csv) {
  // FILE:TASK selects a task of a task set, FILE:SPLIT pools a split's tasks; the suffix must be
  // a number or a split name so that paths with colons work.
  std::string path = spec;
  std::optional<Index> task;
  const auto colon = spec.rfind(':');
  const std::string suffix = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (!suffix.empty() && std::filesystem::exists(spec.substr(0, colon))) {
    if (suffix == "train" || suffix == "validation" || suffix == "test") {
      if (!h5::is_hdf5_file(spec.substr(0, colon)))
        throw InputError("--data " + spec + ": FILE:SPLIT needs a task set (HDF5)");
      return pooled_split(spec.substr(0, colon), task::parse_split(suffix, "--data"));
    }
    const bool negative = suffix.size() > 1 && suffix[0] == '-';
    if (std::all_of(suffix.begin() + (negative ? 1 : 0), suffix.end(), ::isdigit)) {
      if (negative) throw InputError("--data " + spec + ": task " + suffix + " does not exist (tasks count from 0)");
      if (suffix.size() > 18) throw InputError("--data " + spec + ": task " + suffix + " does not exist");
      path = spec.substr(0, colon);
      task = std::stoll(suffix);
    }
  }
  if (!std::filesystem::exists(path)) throw InputError("--data " + path + ": no such file");
  FitData data;
  if (h5::is_hdf5_file(path)) {
    const task::TaskSetReader reader(path);
    const Index t = task.value_or(0);
    data.points = reader.points(t);
    data.stream = t;
    if (reader.info().labels) data.labels = reader.labels(t);
    if (reader.info().truth && reader.info().truth_space == "data") data.truth = reader.truth(t);
    data.description = path + ":" + std::to_string(t) + " (task " + std::to_string(t) + " of " +
                       std::to_string(reader.task_count()) + (task ? "" : "; choose one with FILE:TASK") + ")";
  } else {
    if (task) throw InputError("--data " + spec + ": FILE:TASK needs a task set, and " + path + " is not an HDF5 file");
    const task::CsvData table = task::read_csv(path, csv);
    if (table.task_names.size() != 1) {
      throw InputError("--data " + path + ": the CSV holds " + std::to_string(table.task_names.size()) +
                       " tasks; import it (metagmm import) and fit FILE:TASK");
    }
    data.points = table.points;
    data.labels = table.labels;
    data.description = path;
  }
  return data;
}

void transform_like(FitData& data, const std::string& task_set_path) {
  const auto stored = task::StoredTransform::read(task_set_path);
  if (stored.input_width() != data.points.cols()) {
    throw InputError("--transform " + task_set_path + ": its map takes " + std::to_string(stored.input_width()) +
                     " raw coordinates, " + data.description + " has " + std::to_string(data.points.cols()));
  }
  data.points = stored.apply(data.points);
  data.truth.reset();  // the true parameters live in the raw space
  data.description += ", mapped as " + task_set_path + " maps its raw data";
}

void embed(FitData& data, const std::string& checkpoint_path) {
  const train::Checkpoint checkpoint = train::read_checkpoint(checkpoint_path);
  if (!checkpoint.encoder) {
    throw InputError("--encoder " + checkpoint_path + ": trained with --algo " + checkpoint.algorithm +
                     ", which has no encoder (expected protonet)");
  }
  if (checkpoint.encoder->input != data.points.cols()) {
    throw InputError("--encoder " + checkpoint_path + ": its encoder takes " + std::to_string(checkpoint.encoder->input) +
                     " inputs, " + data.description + " has d = " + std::to_string(data.points.cols()));
  }
  meta::Encoder encoder(*checkpoint.encoder);
  data.points = encoder.forward(checkpoint.theta, data.points);
  data.truth.reset();  // the true parameters live in the data space
  data.description += ", embedded by " + checkpoint_path;
}

}  // namespace metagmm::cli
