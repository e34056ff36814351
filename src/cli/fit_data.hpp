#pragma once
// The point set `metagmm fit` fits (private to the cli layer): a CSV file, a task of a task set,
// or a split's tasks pooled, optionally embedded by a ProtoNet checkpoint's encoder.
#include <optional>
#include <string>

#include "metagmm/core/types.hpp"
#include "metagmm/gmm/params.hpp"
#include "metagmm/task/csv.hpp"

namespace metagmm::cli {

struct FitData {
  RowMatrix points;
  std::optional<gmm::Gmm> truth;  // the task's true parameters, where stored in data space
  std::string description;
  Index stream = 0;  // names the initialisation's random stream: the task index
  IntVector labels;  // component or class per point (-1 unknown); empty when the data has none
};

// --data FILE, FILE:TASK or FILE:SPLIT.
FitData load_fit_data(const std::string& spec, const task::CsvOptions& csv);
// The points (raw units) mapped as the task set `task_set_path` maps its raw data (--transform).
void transform_like(FitData& data, const std::string& task_set_path);
// The points replaced by their embedding under the encoder of a ProtoNet checkpoint (--encoder).
void embed(FitData& data, const std::string& checkpoint_path);

}  // namespace metagmm::cli
