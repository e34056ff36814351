#include "metagmm/eval/runner.hpp"

#include <bit>
#include <chrono>
#include <cmath>
#include <limits>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/rand_index.hpp"

namespace metagmm::eval {
namespace {

using Clock = std::chrono::steady_clock;

// The numbers one method leaves for one task.
struct Outcome {
  std::vector<double> query, support;  // steps + 1 each
  std::vector<double> ari_by_step;     // steps + 1 where the query has labels, else empty
  double ari = std::numeric_limits<double>::quiet_NaN();
  double steps_to_tolerance = 0.0, seconds = 0.0;
  bool diverged = false, collapsed = false;
};

// The query's labels and assignments where the label is known.
double known_label_ari(const IntVector& labels, const IntVector& assigned) {
  Index known = 0;
  for (Index i = 0; i < labels.size(); ++i) known += labels[i] >= 0;
  IntVector truth(known), predicted(known);
  for (Index i = 0, k = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    truth[k] = labels[i];
    predicted[k++] = assigned[i];
  }
  return known == 0 ? std::numeric_limits<double>::quiet_NaN() : gmm::adjusted_rand_index(truth, predicted);
}

Outcome run_method(Method& method, const task::Episode& episode, const RunOptions& options, gmm::Evaluator& evaluator) {
  const int last = std::max(options.steps, options.converge_steps);
  Outcome out;
  std::vector<double> support;  // 0..last, finite values only
  int step = 0;
  method.adapt(episode.task, episode.support, last, [&](const gmm::Gmm& model) {
    const int j = step++;
    if (out.diverged) return;
    const double on_support = evaluator.mean_log_likelihood(model, episode.support);
    const double on_query = j <= options.steps ? evaluator.mean_log_likelihood(model, episode.query) : 0.0;
    if (!std::isfinite(on_support) || !std::isfinite(on_query)) {
      out.diverged = true;
      return;
    }
    support.push_back(on_support);
    if (j <= options.steps) {
      if (j == options.steps) out.collapsed = gmm::collapsed(model, episode.support, evaluator);
      out.query.push_back(on_query);
      if (episode.query_labels.size() > 0)
        out.ari_by_step.push_back(known_label_ari(episode.query_labels, evaluator.assignments(model, episode.query)));
    }
  });
  if (step < last + 1) out.diverged = true;
  if (support.empty()) throw InputError(method.name() + ": no finite log-likelihood at its start on task " +
                                        std::to_string(episode.task));
  // A stopped adaptation stays where it stopped.
  while (static_cast<int>(out.query.size()) <= options.steps) out.query.push_back(out.query.back());
  while (!out.ari_by_step.empty() && static_cast<int>(out.ari_by_step.size()) <= options.steps)
    out.ari_by_step.push_back(out.ari_by_step.back());
  out.support.assign(support.begin(), support.begin() + std::min<std::ptrdiff_t>(support.size(), options.steps + 1));
  while (static_cast<int>(out.support.size()) <= options.steps) out.support.push_back(out.support.back());
  const double converged = support.back();
  std::size_t first = 0;
  while (std::abs(support[first] - converged) > options.tolerance) ++first;
  out.steps_to_tolerance = static_cast<double>(first);
  if (!out.ari_by_step.empty()) out.ari = out.ari_by_step.back();  // after M steps, or where it stopped

  // Timed apart, without the scoring: M steps only.
  const auto started = Clock::now();
  method.adapt(episode.task, episode.support, options.steps, [](const gmm::Gmm&) {});
  out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return out;
}

// Doubles travel through the communicator's exact integer sum as their bit patterns: every slot
// is written by one rank and zero on the others, so the sum is that rank's value, bit for bit.
void gather(std::vector<double>& values, comm::Communicator& comm) {
  std::vector<std::int64_t> bits(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) bits[i] = std::bit_cast<std::int64_t>(values[i]);
  comm.sum(bits);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::bit_cast<double>(bits[i]);
}

}  // namespace

void RunOptions::validate() const {
  if (steps < 0) throw InputError("--steps: expected an integer >= 0");
  if (converge_steps < 1) throw InputError("--converge-steps: expected an integer >= 1");
  if (!(tolerance > 0.0) || !std::isfinite(tolerance)) throw InputError("--tol: expected a finite number > 0");
  if (max_tasks < 0) throw InputError("--max-tasks: expected an integer >= 0 (0: every task of the split)");
}

Results evaluate(std::vector<std::unique_ptr<Method>>& methods, task::TaskSource& source, task::Sampler& sampler,
                 task::Split split, const RunOptions& options, comm::Communicator& comm,
                 const std::function<void(Index, Index)>& progress) {
  options.validate();
  const auto& split_tasks = source.tasks_in(split);
  Index count = static_cast<Index>(split_tasks.size());
  if (options.max_tasks > 0) count = std::min(count, options.max_tasks);
  Results r;
  for (const auto& method : methods) r.methods.push_back(method->name());
  r.tasks.assign(split_tasks.begin(), split_tasks.begin() + count);
  r.steps = options.steps;
  r.labels = source.has_labels();
  const Index M = r.method_count();
  const std::size_t curves = static_cast<std::size_t>(M * count * (options.steps + 1));
  const std::size_t cells = static_cast<std::size_t>(M * count);
  r.query.assign(curves, 0.0);
  r.support.assign(curves, 0.0);
  r.ari.assign(cells, 0.0);
  if (r.labels) r.ari_by_step.assign(curves, 0.0);
  r.steps_to_tolerance.assign(cells, 0.0);
  r.seconds.assign(cells, 0.0);
  std::vector<double> diverged(cells, 0.0), collapsed(cells, 0.0), query_points(static_cast<std::size_t>(count), 0.0);

  task::Episode episode;
  gmm::Evaluator evaluator;
  const Index mine = count / comm.size() + (comm.rank() < count % comm.size() ? 1 : 0);
  Index done = 0;
  for (Index t = comm.rank(); t < count; t += comm.size()) {
    sampler.evaluation(split, t, episode);
    query_points[static_cast<std::size_t>(t)] = static_cast<double>(episode.query.rows());
    for (Index m = 0; m < M; ++m) {
      const Outcome o = run_method(*methods[static_cast<std::size_t>(m)], episode, options, evaluator);
      std::copy(o.query.begin(), o.query.end(), r.query.begin() + static_cast<std::ptrdiff_t>(r.curve(m, t)));
      std::copy(o.support.begin(), o.support.end(), r.support.begin() + static_cast<std::ptrdiff_t>(r.curve(m, t)));
      r.ari[r.cell(m, t)] = o.ari;
      if (r.labels) {  // a task without labelled query points scores NaN at every step
        for (int j = 0; j <= options.steps; ++j)
          r.ari_by_step[r.curve(m, t) + static_cast<std::size_t>(j)] =
              o.ari_by_step.empty() ? std::numeric_limits<double>::quiet_NaN() : o.ari_by_step[static_cast<std::size_t>(j)];
      }
      r.steps_to_tolerance[r.cell(m, t)] = o.steps_to_tolerance;
      r.seconds[r.cell(m, t)] = o.seconds;
      diverged[r.cell(m, t)] = o.diverged ? 1.0 : 0.0;
      collapsed[r.cell(m, t)] = o.collapsed ? 1.0 : 0.0;
    }
    ++done;
    if (progress && comm.rank() == 0) progress(done, mine);
  }
  for (auto* values : {&r.query, &r.support, &r.ari, &r.ari_by_step, &r.steps_to_tolerance, &r.seconds, &diverged,
                       &collapsed, &query_points})
    gather(*values, comm);
  r.diverged.assign(diverged.begin(), diverged.end());
  r.collapsed.assign(collapsed.begin(), collapsed.end());
  for (const double n : query_points) r.query_points.push_back(static_cast<Index>(n));
  return r;
}

}  // namespace metagmm::eval
