#pragma once
// The task-set file format (docs/design.md, "File formats"), version 1:
//   /points        float64 [n_points, d]   C order, chunked and compressed
//   /task_offsets  int64   [n_tasks + 1]   task t owns rows [offsets[t], offsets[t+1])
//   /task_split    int8    [n_tasks]       0 train, 1 validation, 2 test
//   /labels        int32   [n_points]      optional: component or class, -1 unknown
//   /truth/...     optional true parameters per task (see TruthLayout in taskset.cpp)
//   /task_coordinates float64 [n_tasks, c]  optional: where each task came from (imported grids;
//                                          attribute columns names them)
//   /standardisation, /projection   optional: the map from raw inputs (task/transform.hpp)
//   root attributes: format = "metagmm.taskset", version = 1, dim, generator, settings,
//                    created_by
// The reader opens the file once, validates the index (offsets, splits, shapes) and reads
// the points of any task by hyperslab, so a rank touches only the rows it uses.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metagmm/core/types.hpp"
#include "metagmm/gmm/params.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/provenance.hpp"

namespace metagmm::task {

inline constexpr const char* kTaskSetFormat = "metagmm.taskset";
inline constexpr std::int64_t kTaskSetVersion = 1;

enum class Split : std::int8_t { train = 0, validation = 1, test = 2 };
const char* split_name(Split split);
Split parse_split(const std::string& text, const std::string& what);

struct SplitFractions {
  double train = 0.8, validation = 0.1, test = 0.1;
  // "0.8:0.1:0.1"; throws InputError naming `what`.
  static SplitFractions parse(const std::string& text, const std::string& what);
  std::string to_string() const;
};
// Exact counts (rounded) assigned by a seeded shuffle, so every split is a fixed set.
std::vector<std::int8_t> assign_splits(Index tasks, const SplitFractions& fractions, std::uint64_t seed);

// A smooth invertible map x = R_out g(R_in z), g(u)_j = u_j + a_j sin(w_j u_j + p_j) with
// a_j w_j < 1 so that g is monotone: the `warped` family's shared deformation.
struct Warp {
  Matrix rotation_in, rotation_out;
  Vector amplitude, frequency, phase;
  RowMatrix apply(const RowMatrix& latent) const;
};

struct TaskTruth {
  gmm::Gmm model{gmm::GmmShape{}};   // the task's mixture (in the latent space if warped)
  std::vector<std::int32_t> anchors; // family component each came from, -1 if none
};

struct TaskSetHeader {
  Index dim = 0;
  std::string generator;   // family name, or "import"
  std::string settings;    // how it was made, one "key = value" per line
  bool labels = false;
  std::optional<gmm::CovarianceType> truth_covariance;
  std::optional<Warp> warp;
};

// Appends tasks to a new task set written under a temporary name; finish() publishes it.
class TaskSetWriter {
 public:
  TaskSetWriter(const std::string& path, TaskSetHeader header);
  ~TaskSetWriter();
  void add_task(const RowMatrix& points, const IntVector* labels, const TaskTruth* truth);
  // An extra float64 dataset beside the tasks (e.g. /standardisation/offset, task/transform.hpp),
  // shape `dims` ([n] or [rows, cols]) from `values` in C order, its parent group created when
  // missing, with a "description" attribute saying what it holds.
  void add_array(const std::string& path, const h5::Dims& dims, const double* values, const std::string& description);
  void set_attribute(const std::string& object, const std::string& name, double value);
  void set_attribute(const std::string& object, const std::string& name, const std::string& value);
  // Writes the index and renames the file into place. Without it nothing is published.
  void finish(const std::vector<std::int8_t>& splits);
  Index task_count() const { return static_cast<Index>(offsets_.size()) - 1; }

 private:
  struct State;
  void flush_pending();
  std::unique_ptr<State> state_;
  TaskSetHeader header_;
  std::vector<std::int64_t> offsets_{0};
  std::vector<std::int64_t> truth_offsets_{0};
};

struct TaskSetInfo {
  std::string path, format, generator, settings, created_by;
  std::int64_t version = 0;
  Index dim = 0, tasks = 0, points = 0;
  bool labels = false, truth = false;
  std::string truth_space;  // "data", or "latent" when a warp was applied
  Provenance provenance;    // the build and kernel level that wrote it
};

class TaskSetReader {
 public:
  explicit TaskSetReader(const std::string& path);  // throws InputError on any defect
  ~TaskSetReader();
  TaskSetReader(TaskSetReader&&) noexcept;

  const TaskSetInfo& info() const { return info_; }
  Index task_count() const { return info_.tasks; }
  Index dim() const { return info_.dim; }
  Index task_size(Index task) const;
  Split split(Index task) const;
  std::vector<Index> tasks_in(Split split) const;
  const std::vector<std::int64_t>& offsets() const { return offsets_; }

  // The points of one task; InputError if any coordinate is NaN or Inf.
  RowMatrix points(Index task) const;
  IntVector labels(Index task) const;          // requires info().labels
  gmm::Gmm truth(Index task) const;            // requires info().truth

 private:
  void check_task(Index task) const;
  struct State;
  std::unique_ptr<State> state_;
  TaskSetInfo info_;
  std::vector<std::int64_t> offsets_;
  std::vector<std::int8_t> splits_;
};

}  // namespace metagmm::task
