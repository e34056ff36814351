#include "metagmm/eval/report.hpp"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/text_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/h5/file.hpp"

namespace metagmm::eval {
namespace {

namespace fs = std::filesystem;

constexpr double kZ95 = 1.959963984540054;  // two-sided 95% quantile of the normal distribution

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += (out.empty() ? "" : "\n") + line;
  return out;
}

// One column of [m][t] (or of [m][t][j] at step j) over the tasks.
std::vector<double> over_tasks(const Results& r, const std::vector<double>& values, Index m, int step = -1) {
  std::vector<double> column(static_cast<std::size_t>(r.task_count()));
  for (Index t = 0; t < r.task_count(); ++t)
    column[static_cast<std::size_t>(t)] =
        step < 0 ? values[r.cell(m, t)] : values[r.curve(m, t) + static_cast<std::size_t>(step)];
  return column;
}

// "a = 1\nb = 2\n" as "a = 1; b = 2".
std::string one_line(const std::string& lines) {
  std::string out;
  std::istringstream in(lines);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out += (out.empty() ? "" : "; ") + line;
  return out;
}

void write_hdf5(const AtomicFile& output, const Results& r, const ReportContext& c) {
  {
    h5::File file = h5::File::create(output);
    file.set_attribute("/", "format", std::string("metagmm.eval"));
    file.set_attribute("/", "version", std::int64_t{1});
    file.set_attribute("/", "methods", joined(r.methods));
    file.set_attribute("/", "tasks", c.tasks);
    file.set_attribute("/", "split", c.split);
    file.set_attribute("/", "checkpoints", c.checkpoints);
    file.set_attribute("/", "settings", c.settings);
    file.set_attribute("/", "seed", static_cast<std::int64_t>(c.seed));
    file.set_attribute("/", "steps", std::int64_t{r.steps});
    file.set_attribute("/", "converge_steps", std::int64_t{c.converge_steps});
    file.set_attribute("/", "tolerance", c.tolerance);
    const auto M = static_cast<std::uint64_t>(r.method_count());
    const auto T = static_cast<std::uint64_t>(r.task_count());
    const auto J = static_cast<std::uint64_t>(r.steps + 1);
    std::vector<std::int64_t> tasks(r.tasks.begin(), r.tasks.end()), points(r.query_points.begin(), r.query_points.end());
    file.write("/task", {T}, tasks.data());
    file.write("/query_points", {T}, points.data());
    file.write("/query_log_likelihood", {M, T, J}, r.query.data());
    file.write("/support_log_likelihood", {M, T, J}, r.support.data());
    if (r.labels) file.write("/adjusted_rand_index", {M, T}, r.ari.data());
    if (r.labels) file.write("/adjusted_rand_index_by_step", {M, T, J}, r.ari_by_step.data());
    file.write("/steps_to_tolerance", {M, T}, r.steps_to_tolerance.data());
    file.write("/diverged", {M, T}, r.diverged.data());
    file.write("/collapsed", {M, T}, r.collapsed.data());
    file.write("/seconds", {M, T}, r.seconds.data());
    file.close();
  }
}

std::string summary_csv(const Results& r, const std::vector<MethodSummary>& summary) {
  std::ostringstream csv;
  csv << std::setprecision(10) << "method,tasks,loglik_step0,ci95_step0,loglik_step1,ci95_step1,loglik_step" << r.steps
      << ",ci95_step" << r.steps << ",ari,ari_ci95,steps_to_tolerance,steps_ci95,diverged,collapsed,ms_per_task\n";
  const int one = std::min(1, r.steps);
  for (const MethodSummary& s : summary) {
    csv << s.name << "," << s.query[0].n;
    for (const int j : {0, one, r.steps}) csv << "," << s.query[static_cast<std::size_t>(j)].mean << "," << s.query[static_cast<std::size_t>(j)].half_width;
    if (r.labels) {
      csv << "," << s.ari.mean << "," << s.ari.half_width;
    } else {
      csv << ",,";
    }
    csv << "," << s.steps_to_tolerance.mean << "," << s.steps_to_tolerance.half_width << "," << s.diverged << ","
        << s.collapsed << "," << s.milliseconds_per_task << "\n";
  }
  return csv.str();
}

std::string curves_csv(const std::vector<MethodSummary>& summary) {
  std::ostringstream csv;
  csv << std::setprecision(10) << "method,step,loglik,ci95,tasks,ari,ari_ci95\n";
  for (const MethodSummary& s : summary)
    for (std::size_t j = 0; j < s.query.size(); ++j) {
      csv << s.name << "," << j << "," << s.query[j].mean << "," << s.query[j].half_width << "," << s.query[j].n;
      if (j < s.ari_by_step.size()) {
        csv << "," << s.ari_by_step[j].mean << "," << s.ari_by_step[j].half_width << "\n";
      } else {
        csv << ",,\n";  // no labels
      }
    }
  return csv.str();
}

std::string plus_minus(const Summary& s, int digits) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(digits) << s.mean << " ± " << s.half_width;
  return text.str();
}

// "best: A; within its 95% interval: B, C" at one step, the oracle left out.
std::string leaders(const std::vector<MethodSummary>& summary, std::size_t step) {
  const MethodSummary* best = nullptr;
  for (const MethodSummary& s : summary)
    if (s.name != "oracle" && (!best || s.query[step].mean > best->query[step].mean)) best = &s;
  if (!best) return "";
  std::string close;
  for (const MethodSummary& s : summary) {
    if (&s == best || s.name == "oracle") continue;
    if (s.query[step].mean + s.query[step].half_width >= best->query[step].mean - best->query[step].half_width)
      close += (close.empty() ? "" : ", ") + s.name;
  }
  return best->name + (close.empty() ? " (no other interval overlaps)" : " (intervals overlapping: " + close + ")");
}

}  // namespace

Summary summarize(std::span<const double> values) {
  Summary s;
  double sum = 0.0;
  for (const double v : values)
    if (!std::isnan(v)) sum += v, ++s.n;
  if (s.n == 0) return s;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double squares = 0.0;
  for (const double v : values)
    if (!std::isnan(v)) squares += (v - s.mean) * (v - s.mean);
  s.half_width = kZ95 * std::sqrt(squares / static_cast<double>(s.n - 1) / static_cast<double>(s.n));
  return s;
}

std::vector<MethodSummary> summarize(const Results& r) {
  std::vector<MethodSummary> out;
  for (Index m = 0; m < r.method_count(); ++m) {
    MethodSummary s;
    s.name = r.methods[static_cast<std::size_t>(m)];
    for (int j = 0; j <= r.steps; ++j) s.query.push_back(summarize(over_tasks(r, r.query, m, j)));
    if (r.labels) {
      s.ari = summarize(over_tasks(r, r.ari, m));
      for (int j = 0; j <= r.steps; ++j) s.ari_by_step.push_back(summarize(over_tasks(r, r.ari_by_step, m, j)));
    }
    s.steps_to_tolerance = summarize(over_tasks(r, r.steps_to_tolerance, m));
    double seconds = 0.0;
    for (Index t = 0; t < r.task_count(); ++t) {
      s.diverged += r.diverged[r.cell(m, t)];
      s.collapsed += r.collapsed[r.cell(m, t)];
      seconds += r.seconds[r.cell(m, t)];
    }
    s.milliseconds_per_task = r.task_count() > 0 ? 1e3 * seconds / static_cast<double>(r.task_count()) : 0.0;
    out.push_back(std::move(s));
  }
  return out;
}

std::string markdown_table(const Results& r, const std::vector<MethodSummary>& summary, const ReportContext& c) {
  const int one = std::min(1, r.steps);
  std::ostringstream md;
  md << "Query log-likelihood per point after j adaptation steps (mean ± 95% CI over " << r.task_count() << " "
     << c.split << " tasks)";
  if (r.labels) md << ", adjusted Rand index of the query after " << r.steps << " steps";
  md << ", steps until the support log-likelihood is within " << c.tolerance << " of its value after "
     << c.converge_steps << " steps, adaptations that failed, and the wall time of " << r.steps
     << " steps per task; collapsed: tasks whose adapted mixture gives every support point to one component. "
     << "Settings: " << one_line(c.settings) << ".\n\n";
  md << "| method | j = 0 | j = " << one << " | j = " << r.steps << " |" << (r.labels ? " ARI |" : "")
     << " steps to tol | failed | collapsed | ms/task |\n";
  md << "|---|---:|---:|---:|" << (r.labels ? "---:|" : "") << "---:|---:|---:|---:|\n";
  for (const MethodSummary& s : summary) {
    md << "| " << s.name;
    for (const int j : {0, one, r.steps}) md << " | " << plus_minus(s.query[static_cast<std::size_t>(j)], 3);
    if (r.labels) md << " | " << plus_minus(s.ari, 3);
    md << " | " << plus_minus(s.steps_to_tolerance, 1) << " | " << s.diverged << " | " << s.collapsed << " | "
       << std::fixed
       << std::setprecision(3) << s.milliseconds_per_task << std::defaultfloat << " |\n";
  }
  md << "\nHighest query log-likelihood at j = " << one << ": " << leaders(summary, static_cast<std::size_t>(one))
     << ".  \nAt j = " << r.steps << ": " << leaders(summary, static_cast<std::size_t>(r.steps)) << ".\n";
  return md.str();
}

void write_results(const std::string& directory, const Results& results, const std::vector<MethodSummary>& summary,
                   const ReportContext& context) {
  const fs::path dir(directory);
  OutputGroup outputs;
  write_hdf5(outputs.add(dir / "eval.h5"), results, context);
  write_text_file(outputs.add(dir / "summary.csv"), summary_csv(results, summary));
  write_text_file(outputs.add(dir / "curves.csv"), curves_csv(summary));
  write_text_file(outputs.add(dir / "table.md"), markdown_table(results, summary, context));
  outputs.commit();
}

}  // namespace metagmm::eval
