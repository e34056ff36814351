#include "metagmm/train/trainer.hpp"


#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <ostream>

#include <nlohmann/json.hpp>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/core/text_file.hpp"
#include "metagmm/gmm/init.hpp"
#include "metagmm/train/progress.hpp"
#include "metagmm/train/reduction.hpp"
#include "metagmm/train/shares.hpp"
#include "metagmm/train/signals.hpp"

namespace metagmm::train {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string metrics_line(const MetricsHistory& m, std::size_t i) {
  nlohmann::ordered_json line;  // NaN (no validation at this step) is written as null
  line["step"] = m.step[i];
  line["loss"] = m.loss[i];
  line["validation_loglik"] = m.validation[i];
  line["elapsed"] = m.elapsed[i];
  return line.dump() + "\n";
}

// metrics.jsonl holds exactly the history: rewritten whole at the start (a resumed run drops the
// lines of steps after its checkpoint), then appended to step by step.
class MetricsFile {
 public:
  MetricsFile(const std::filesystem::path& path, const MetricsHistory& history)
      : file_((write_text_file(path, all_lines(history)), path)) {}
  // Throws OutputError when the line cannot be written whole (the file then still ends with the
  // previous step's line).
  void append(const MetricsHistory& history) { file_.append(metrics_line(history, history.size() - 1)); }

 private:
  static std::string all_lines(const MetricsHistory& history) {
    std::string text;
    for (std::size_t i = 0; i < history.size(); ++i) text += metrics_line(history, i);
    return text;
  }
  AppendOnlyFile file_;
};

}  // namespace

void TrainOptions::validate() const {
  if (steps < 1) throw SettingError("steps", "expected an integer >= 1");
  // A step adapts to every task of its batch before it can stop: a larger batch is a typo, and
  // would hang the first step (and ignore signals) for hours.
  constexpr Index kMaximumMetaBatch = Index{1} << 20;
  if (meta_batch < 1 || meta_batch > kMaximumMetaBatch)
    throw SettingError("meta-batch", std::to_string(meta_batch),
                       "expected an integer from 1 to " + std::to_string(kMaximumMetaBatch));
  if (validate_every < 0) throw SettingError("validate-every", "expected an integer >= 0 (0: never)");
  if (validation_tasks < 0) throw SettingError("validation-tasks", "expected an integer >= 0 (0: all)");
  if (checkpoint_every < 0) throw SettingError("checkpoint-every", "expected an integer >= 0 (0: only at the end)");
  if (!(checkpoint_seconds > 0)) throw SettingError("checkpoint-seconds", "expected a number > 0");
  if (keep < 1) throw SettingError("keep", "expected an integer >= 1");
  if (!(progress_seconds > 0)) throw SettingError("progress-seconds", "expected a number > 0");
  outer.validate("outer-");
}

Vector initial_meta_parameters(task::TaskSource& source, const gmm::GmmShape& shape, std::uint64_t seed) {
  RandomStream random(seed, StreamPurpose::meta_init);
  const auto& train = source.tasks_in(task::Split::train);
  METAGMM_CHECK(!train.empty(), "no training tasks");
  // Several tasks' points pooled: enough for K components and a stable spread.
  constexpr int kPooledTasks = 16;
  RowMatrix pooled(0, shape.dim);
  for (int i = 0; i < kPooledTasks || pooled.rows() < shape.components; ++i) {
    const RowMatrix& points = source.points(train[random.below(train.size())]);
    RowMatrix grown(pooled.rows() + points.rows(), shape.dim);
    grown << pooled, points;
    pooled.swap(grown);
    if (i > 10000) throw InputError(source.describe() + ": too few points for " + std::to_string(shape.components) +
                                    " components");
  }
  return gmm::initialize(pooled, shape, gmm::InitMethod::kmeans_plus_plus, 1e-6, random).pack();
}

Trainer::Trainer(const TrainOptions& options, const ModelShape& model, task::EpisodeSource& episodes,
                 meta::Algorithm& algorithm, comm::Communicator& comm, std::ostream& log, bool terminal)
    : options_(options), model_(model), sampler_(episodes), algorithm_(algorithm), comm_(comm), log_(log),
      terminal_(terminal) {
  options_.validate();
}

Trainer::Validation Trainer::validate(const Vector& theta) {
  Index tasks = sampler_.validation_count();
  if (options_.validation_tasks > 0) tasks = std::min(tasks, options_.validation_tasks);
  if (tasks == 0) return {kNaN, 0, 0};
  auto* mixture = dynamic_cast<meta::MixtureAlgorithm*>(&algorithm_);
  StepReduction sum(2, comm_.size());
  const auto [begin, end] = share_of(tasks, comm_.rank(), comm_.size());
  for (Index v = begin; v < end; ++v) {
    sampler_.validation(v, episode_);
    std::array<double, 2> values{};  // log-likelihood, collapsed
    if (mixture) {  // the same numbers as adapted_log_likelihood(), from the adapted mixture kept
      const gmm::Gmm adapted = gmm::Gmm::unpack(model_.mixture, mixture->adapted_model(theta, episode_.support));
      values[0] = evaluator_.mean_log_likelihood(adapted, episode_.query);
      values[1] = gmm::collapsed(adapted, episode_.support, evaluator_) ? 1.0 : 0.0;
    } else {
      values[0] = algorithm_.adapted_log_likelihood(theta, episode_);
    }
    sum.add(values, "the validation log-likelihood", episode_.task);
  }
  sum.reduce(comm_);
  return {sum.sums()[0] / static_cast<double>(tasks), tasks, static_cast<Index>(sum.sums()[1])};
}

void Trainer::save(std::int64_t step, const Vector& theta, const meta::Optimizer& outer,
                   const MetricsHistory& metrics, TrainResult& result) {
  result.checkpoint = options_.run_dir / checkpoint_file_name(step);
  write(result.checkpoint, step, theta, outer, metrics);
  if (comm_.rank() == 0) prune_checkpoints(options_.run_dir, options_.keep);
}

void Trainer::write(const std::filesystem::path& path, std::int64_t step, const Vector& theta,
                    const meta::Optimizer& outer, const MetricsHistory& metrics) {
  if (comm_.rank() != 0) return;
  Checkpoint c;
  c.algorithm = algorithm_.name();
  c.settings = algorithm_.settings();
  c.step = step;
  c.seed = options_.seed;
  c.shape = model_.mixture;
  c.encoder = model_.encoder;
  c.theta = theta.head(model_.parameter_count());
  c.extra = extra_blocks(theta, model_.parameter_count(), algorithm_);
  c.optimizer = meta::to_string(options_.outer.method);
  c.optimizer_state = outer.state();
  c.config = options_.config;
  c.metrics = metrics;
  write_checkpoint(path, c);
}

TrainResult Trainer::run(const Vector& initial, const Checkpoint* resume, const Vector* start) {
  const Index model_size = model_.parameter_count(), extra = algorithm_.extra_meta_parameters();
  const Index P = model_size + extra;
  const Index C = algorithm_.contribution_size();
  const Index B = options_.meta_batch;
  const bool leader = comm_.rank() == 0;
  BalancedShares shares(B, comm_.size());
  TrainResult result;
  // The meta-parameters: the model's, then the algorithm's own blocks (Meta-SGD's step sizes, ...).
  Vector theta(P);
  if (resume) {
    if (resume->theta.size() != model_size)
      throw InputError("the checkpoint to resume from holds " + std::to_string(resume->theta.size()) +
                       " model parameters, the model as configured " + std::to_string(model_size));
    if (const std::string mismatch = extra_blocks_mismatch(*resume, algorithm_); !mismatch.empty())
      throw InputError("the checkpoint to resume from " + mismatch);
    theta = meta_parameters(*resume, algorithm_);
  } else {
    METAGMM_CHECK(initial.size() == model_size, "meta-parameter count");
    theta << initial, algorithm_.initial_extra_parameters();
  }
  if (leader) remove_stale_temporaries(options_.run_dir);  // a killed save's, before this run writes any
  meta::Optimizer outer(options_.outer, P);
  MetricsHistory history;
  std::int64_t step = 0;
  double elapsed_before = 0.0, last_validation = kNaN;
  Index last_collapsed = 0;  // validation tasks collapsed when last reported
  if (resume) {
    outer.restore(resume->optimizer_state);
    history = resume->metrics;
    step = resume->step;
    if (!history.elapsed.empty()) elapsed_before = history.elapsed.back();
  }
  // The best so far, in step order: the start (step 0), then the validated steps of the history
  // (a later best.h5 from steps this resumed run repeats is rewritten the same).
  auto improves = [&](double v) { return !std::isnan(v) && (result.best_step < 0 || v > result.best_validation); };
  auto note_best = [&](std::int64_t at, double v) {
    result.best_step = at;
    result.best_validation = v;
  };
  if (options_.keep_best && options_.validate_every > 0 && start) {
    Vector start_theta(P);
    start_theta << *start, algorithm_.initial_extra_parameters();
    const double v = validate(start_theta).log_likelihood;
    if (improves(v)) {
      note_best(0, v);
      if (!resume) write(options_.run_dir / kBestCheckpointName, 0, start_theta, outer, history);
    }
  }
  for (std::size_t i = 0; i < history.size(); ++i) {
    const double v = history.validation[i];
    if (std::isnan(v)) continue;
    last_validation = v;
    if (improves(v)) {
      note_best(history.step[i], v);
    }
  }
  std::optional<MetricsFile> metrics;
  if (leader) metrics.emplace(options_.run_dir / "metrics.jsonl", history);
  Progress progress(log_, terminal_, options_.progress_seconds);

  const auto started = Clock::now();
  auto last_save = started;
  const std::int64_t first_step = step;
  Vector meta_gradient(P);
  StepReduction reduction(C, comm_.size());
  std::vector<double> contribution(static_cast<std::size_t>(C));
  TrainTimes& times = result.times;
  // Adds the time since the last mark to `into`.
  auto mark = Clock::now();
  auto spent = [&mark](double& into) {
    const auto now = Clock::now();
    into += seconds_between(mark, now);
    mark = now;
  };
  while (step < options_.steps) {
    reduction.clear();
    const double adapt_before = times.adapt;
    const auto [begin, end] = shares.range(comm_.rank());
    for (Index j = begin; j < end; ++j) {
      sampler_.training(step, j, episode_);
      algorithm_.contribute(theta, episode_, contribution);
      reduction.add(contribution, "the contribution", episode_.task, step + 1);
    }
    if (stop_signal() != 0) reduction.request_stop();
    if (leader && seconds_between(last_save, Clock::now()) >= options_.checkpoint_seconds) reduction.request_save();
    spent(times.adapt);
    reduction.set_adapt_seconds(comm_.rank(), times.adapt - adapt_before);
    reduction.reduce(comm_);
    spent(times.reduce);
    times.wait += reduction.slowest_adapt_seconds() - reduction.adapt_seconds(comm_.rank());
    shares.update(reduction.adapt_nanoseconds());

    const double loss = algorithm_.combine(theta, reduction.sums(), B, meta_gradient);
    outer.step(theta, meta_gradient);
    ++step;
    if (!theta.allFinite()) {
      throw std::runtime_error("the meta-parameters became NaN or Inf at step " + std::to_string(step) +
                               ": lower --inner-lr or --outer-lr");
    }
    double validation = kNaN;
    if (options_.validate_every > 0 && (step % options_.validate_every == 0 || step == options_.steps)) {
      spent(times.update);
      const Validation checked = validate(theta);
      validation = checked.log_likelihood;
      if (!std::isnan(validation)) last_validation = validation;
      if (leader && checked.collapsed != last_collapsed) {  // said when it changes, not at every validation
        progress.finish();
        log_ << "warning: step " << step << ": the adaptation collapses " << checked.collapsed << " of "
             << checked.tasks << " validation tasks (every support point on one component)\n";
        last_collapsed = checked.collapsed;
      }
      spent(times.validate);
    }
    const auto now = Clock::now();
    history.append(step, loss, validation, elapsed_before + seconds_between(started, now));
    if (options_.keep_best && improves(validation)) {
      spent(times.update);
      write(options_.run_dir / kBestCheckpointName, step, theta, outer, history);
      note_best(step, validation);
      spent(times.checkpoint);
    }
    const bool stop = reduction.stop_requested();
    if (leader) {
      try {
        metrics->append(history);
      } catch (const OutputError&) {
        // The step itself is good: keep it in a checkpoint if the disk still takes one, then stop.
        try {
          this->save(step, theta, outer, history, result);
        } catch (const OutputError&) {
          // The previous checkpoint stays the last good state; the first failure is the one reported.
        }
        throw;
      }
      const double rate = static_cast<double>(step - first_step) / std::max(seconds_between(started, now), 1e-9);
      progress.update({step, options_.steps, loss, last_validation, rate}, stop || step == options_.steps);
    }
    const bool save = stop || step == options_.steps || reduction.save_requested() ||
                      (options_.checkpoint_every > 0 && step % options_.checkpoint_every == 0);
    spent(times.update);
    if (save) {
      this->save(step, theta, outer, history, result);
      last_save = Clock::now();
      ++times.saves;
      spent(times.checkpoint);
    }
    if (stop) {
      result.outcome = TrainOutcome::stopped;
      break;
    }
  }
  if (leader) progress.finish();
  times.total = seconds_between(started, Clock::now());
  result.step = step;
  result.steps_run = step - first_step;
  result.theta = theta;
  return result;
}

}  // namespace metagmm::train
