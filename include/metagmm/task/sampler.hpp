#pragma once
// Where meta-training draws its tasks from, and the deterministic sampler of docs/design.md,
// "Determinism": task j of meta-step t and its support/query split are a pure function of
// (seed, t, j), whichever rank draws it, however many ranks there are, and across resumes.
#include <algorithm>
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
  // Whether tasks carry labels (component or class per point, -1 unknown), and one task's.
  virtual bool has_labels() const = 0;
  virtual const IntVector& labels(Index task) = 0;
  // Whether tasks carry their true mixture in the space of the points (not a warped family's
  // latent one), and one task's.
  virtual bool has_truth() const = 0;
  virtual gmm::Gmm truth(Index task) = 0;
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

// Every task of one split pooled into one point set, with the labels where the tasks have them
// (the "universal background model" of speaker verification is a mixture fitted to such a pool).
struct PooledTasks {
  RowMatrix points;
  IntVector labels;  // empty without labels
  Index tasks = 0;
};
PooledTasks pool_split(TaskSource& source, Split split);
// The index of a pooled split's initialisation stream: past every task's own (a task's index
// names the stream of its initialisation).
Index pooled_stream(const TaskSource& source, Split split);

struct EpisodeOptions {
  Index support = 20;  // --support: points the inner loop adapts on
  Index query = 0;     // --query: held-out points scored after adaptation; 0 = all the rest
  // --support all: every point of a task is both its support and its query, in the stored order
  // (fitting a whole task and scoring its own points: the protocol of amortised clustering).
  bool whole = false;
  void validate() const;
  // The fewest points a task needs for these episodes.
  Index points_needed() const { return whole ? 1 : support + std::max<Index>(query, 1); }
  // "20", or "all".
  std::string support_text() const;
  // --support's value, a count or "all"; InputError naming `option` otherwise.
  void set_support(const std::string& text, const std::string& option);
};

// One task of a meta-batch with its support and query points.
struct Episode {
  Index task = -1;
  RowMatrix support;
  RowMatrix query;
  // Few-shot (labelled) episodes only, see task/fewshot.hpp: `ways` classes numbered
  // 0..ways-1, the support grouped by class with `shots` rows each, the query's classes, and
  // points whose labels the learner does not see (for semi-supervised refinement), with their
  // classes kept for evaluation (-1: a distractor class outside the episode).
  Index ways = 0, shots = 0;
  IntVector query_labels;
  RowMatrix unlabelled;
  IntVector unlabelled_labels;
};

// Where the training loop gets its episodes: task j of meta-step t, and fixed validation
// episodes. Every episode is a pure function of (seed, t, j) or (seed, v).
class EpisodeSource {
 public:
  virtual ~EpisodeSource() = default;
  // Episode j of meta-step t, from the train split, into `out` (its buffers are reused).
  virtual void training(std::int64_t step, Index j, Episode& out) = 0;
  // Validation episode v (v < validation_count()): always the same.
  virtual void validation(Index v, Episode& out) = 0;
  virtual Index validation_count() const = 0;
};

// Support/query episodes of unlabelled tasks (the mixture algorithms).
class Sampler final : public EpisodeSource {
 public:
  // Throws InputError if a train or validation task is too small for the episode sizes.
  Sampler(TaskSource& source, const EpisodeOptions& options, std::uint64_t seed);
  void training(std::int64_t step, Index j, Episode& out) override;
  // Validation episode v: validation task v with always the same split.
  void validation(Index v, Episode& out) override;
  Index validation_count() const override;
  // Evaluation episode i: task i of `split` with always the same split into support and query
  // (drawn from the stream (seed, evaluation, split, i)), the query's labels kept in
  // `query_labels` when the tasks have labels. InputError if the task is too small.
  void evaluation(Split split, Index i, Episode& out);

 private:
  void draw(Index task, RandomStream& random, Episode& out, bool with_labels = false);
  TaskSource& source_;
  EpisodeOptions options_;
  std::uint64_t seed_;
  std::vector<Index> order_;  // scratch permutation of a task's points
  RowMatrix staged_;  // the drawn task's points, copied in order before the random gather
};

}  // namespace metagmm::task
