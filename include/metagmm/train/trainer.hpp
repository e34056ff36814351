#pragma once
// The meta-training loop (docs/design.md, "The training step"; after Caffe's flat solver loop). Each meta-step:
// every rank adapts to its share of the meta-batch's tasks and adds each task's contribution to
// exact fixed-point sums (core/exact_sum.hpp); one integer sum-reduction (train/reduction.hpp)
// combines the ranks' sums together with the stop request (a signal on any rank) and rank 0's time-based save
// request; then every rank runs the same outer update on the same numbers. Integer addition is
// associative, so the reduced sums, and everything computed from them, are bit-identical for any
// number of ranks, and the reduction's size does not grow with the meta-batch.
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>

#include "metagmm/comm/communicator.hpp"
#include "metagmm/gmm/stats.hpp"
#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/optimizer.hpp"
#include "metagmm/task/sampler.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::train {

struct TrainOptions {
  std::int64_t steps = 1000;         // --steps: meta-steps in total (a resumed run continues to it)
  Index meta_batch = 10;             // --meta-batch: tasks per meta-step
  std::uint64_t seed = 0;            // --seed
  meta::OptimizerOptions outer;      // --outer, --outer-lr, ...
  std::int64_t validate_every = 100; // --validate-every: steps between validations (0: never)
  Index validation_tasks = 64;       // --validation-tasks: the first N validation tasks (0: all)
  std::int64_t checkpoint_every = 1000;  // --checkpoint-every: steps between checkpoints (0: none)
  double checkpoint_seconds = 600;   // --checkpoint-seconds: also save when this long since the last
  int keep = 3;                      // --keep: checkpoints kept
  bool keep_best = false;            // --keep-best: also best.h5, the best validation score's step
  double progress_seconds = 10;      // --progress-seconds: progress interval when not a terminal
  std::filesystem::path run_dir;     // --run-dir: checkpoints and metrics.jsonl
  std::string config;                // the run's resolved configuration, stored in checkpoints
  void validate() const;             // SettingError naming the option
};

// The meta-parameters' starting point: k-means++ and one M-step on the pooled points of a few
// random training tasks (a small "pooled model"), a pure function of the seed.
Vector initial_meta_parameters(task::TaskSource& source, const gmm::GmmShape& shape, std::uint64_t seed);

// Where this run's time went on this rank, in seconds.
struct TrainTimes {
  double adapt = 0;       // sampling and adapting to this rank's tasks
  double reduce = 0;      // the per-step reduction, including waiting for slower ranks
  double wait = 0;        // of which: waiting for slower ranks' adaptation (load imbalance)
  double update = 0;      // combining contributions and the outer update
  double validate = 0;    // validation passes
  double checkpoint = 0;  // writing checkpoints (rank 0)
  double total = 0;       // the whole loop
  int saves = 0;
};

enum class TrainOutcome { finished, stopped };
struct TrainResult {
  TrainOutcome outcome = TrainOutcome::finished;
  std::int64_t step = 0;        // meta-steps taken in all
  std::int64_t steps_run = 0;   // by this run (after a resume: since it)
  std::filesystem::path checkpoint;  // the last one written (empty if none)
  std::int64_t best_step = -1;       // --keep-best: the step best.h5 holds (-1: none; 0: the start)
  double best_validation = 0.0;      // and its validation score
  Vector theta;  // the meta-parameters: the model's, then the algorithm's own (extra_meta_parameters)
  TrainTimes times;
};

class Trainer {
 public:
  Trainer(const TrainOptions& options, const ModelShape& model, task::EpisodeSource& episodes,
          meta::Algorithm& algorithm, comm::Communicator& comm, std::ostream& log, bool terminal);
  // From `initial` (a fresh run), or from `resume` when not null. With --keep-best and a `start`
  // (the model's starting parameters, fresh and resumed runs alike), the start is validated as
  // step 0 and is best.h5 until a step beats it: training then keeps a step only on evidence.
  TrainResult run(const Vector& initial, const Checkpoint* resume, const Vector* start = nullptr);

 private:
  // The mean validation log-likelihood, and how many validation tasks a mixture learner's adaptation
  // collapsed (gmm::collapsed on the support).
  struct Validation {
    double log_likelihood = 0.0;
    Index tasks = 0, collapsed = 0;
  };
  Validation validate(const Vector& theta);
  void save(std::int64_t step, const Vector& theta, const meta::Optimizer& outer, const MetricsHistory& metrics,
            TrainResult& result);
  // The checkpoint of this step at `path` (rank 0 writes it).
  void write(const std::filesystem::path& path, std::int64_t step, const Vector& theta, const meta::Optimizer& outer,
             const MetricsHistory& metrics);

  TrainOptions options_;
  ModelShape model_;
  task::EpisodeSource& sampler_;
  meta::Algorithm& algorithm_;
  comm::Communicator& comm_;
  std::ostream& log_;
  bool terminal_;
  task::Episode episode_;
  gmm::Evaluator evaluator_;  // validation's scoring of adapted mixtures
};

}  // namespace metagmm::train
