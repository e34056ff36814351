#pragma once
// What `metagmm eval` writes from the per-task numbers: every number in HDF5, and the means with
// 95% confidence intervals as a CSV summary, a CSV of the curves (what tools/plot_eval.py draws)
// and a Markdown table.
#include <span>
#include <string>
#include <vector>

#include "metagmm/eval/runner.hpp"

namespace metagmm::eval {

// A mean and the half-width of its two-sided 95% interval from the normal approximation
// (evaluations average hundreds of tasks or episodes).
struct Summary {
  double mean = 0.0, half_width = 0.0;
  Index n = 0;
};
Summary summarize(std::span<const double> values);  // NaN values are left out

struct MethodSummary {
  std::string name;
  std::vector<Summary> query;  // by step 0..M
  Summary ari, steps_to_tolerance;
  std::vector<Summary> ari_by_step;  // by step 0..M where the tasks have labels
  Index diverged = 0, collapsed = 0;
  double milliseconds_per_task = 0.0;
};
std::vector<MethodSummary> summarize(const Results& results);

// The run's description, stored with the numbers.
struct ReportContext {
  std::string tasks, split, checkpoints;  // checkpoints: one path per line
  std::string settings;                   // "key = value" lines
  std::uint64_t seed = 0;
  double tolerance = 0.0;
  int converge_steps = 0;
};

// DIR/eval.h5 (format "metagmm.eval"), DIR/summary.csv, DIR/curves.csv, DIR/table.md, each
// written under a temporary name and renamed into place.
void write_results(const std::string& directory, const Results& results, const std::vector<MethodSummary>& summary,
                   const ReportContext& context);
// The Markdown table: query log-likelihood at steps 0, 1 and M, ARI, steps to tolerance, time.
std::string markdown_table(const Results& results, const std::vector<MethodSummary>& summary,
                           const ReportContext& context);

}  // namespace metagmm::eval
