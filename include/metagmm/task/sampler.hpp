#pragma once
// Where meta-training draws its tasks from, and the deterministic sampler of DESIGN.md
// section 4: task j of meta-step t and its support/query split are a pure function of
// (seed, t, j), whichever rank draws it, however many ranks there are, and across resumes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metagmm/core/random.hpp"
#include "metagmm/core/types.hpp"
#include "metagmm/task/generate.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::task {

// A collection of tasks with a train/validation/test split.
class TaskSource {
 public:
  virtual ~TaskSource() = default;
  virtual Index dim() const = 0;
  virtual const std::vector<Index>& tasks_in(Split split) const = 0;
  // The fewest points any task of the split has (known without reading points).
  virtual Index min_task_size(Split split) const = 0;
  // The points of one task; InputError (naming the file and task) for NaN or Inf.
  virtual const RowMatrix& points(Index task) = 0;
  // One line: what the tasks are ("file tasks.h5", "generated anchored family ...").
  virtual std::string describe() const = 0;
};

// Reads a task-set file: only the tasks asked for, each kept in memory after its first read
// while the cache holds fewer than `cache_bytes` (repeated reads of a compressed chunk are
// what a meta-training loop would otherwise spend its time on).
std::unique_ptr<TaskSource> open_task_file(const std::string& path, std::size_t cache_bytes);

// Generates tasks of a synthetic family on the fly, task t exactly as `metagmm generate`
// would write it, with the same split.
std::unique_ptr<TaskSource> make_generated_source(const GeneratorOptions& options, std::size_t cache_bytes);

struct EpisodeOptions {
  Index support = 20;  // --support: points the inner loop adapts on
  Index query = 0;     // --query: held-out points scored after adaptation; 0 = all the rest
  void validate() const;
};

// One task of a meta-batch with its support and query points.
struct Episode {
  Index task = -1;
  RowMatrix support;
  RowMatrix query;
};

class Sampler {
 public:
  // Throws InputError if a train or validation task is too small for the episode sizes.
  Sampler(TaskSource& source, const EpisodeOptions& options, std::uint64_t seed);
  // Task j of meta-step t, from the train split, into `out` (its buffers are reused).
  void training(std::int64_t step, Index j, Episode& out);
  // Validation episode v (v < validation_count()): always the same task and split.
  void validation(Index v, Episode& out);
  Index validation_count() const;

 private:
  void draw(Index task, RandomStream& random, Episode& out);
  TaskSource& source_;
  EpisodeOptions options_;
  std::uint64_t seed_;
  std::vector<Index> order_;  // scratch permutation of a task's points
  RowMatrix staged_;  // the drawn task's points, copied in order before the random gather
};

}  // namespace metagmm::task
