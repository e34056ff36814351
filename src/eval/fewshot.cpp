#include "metagmm/eval/fewshot.hpp"

#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/core/text_file.hpp"
#include "metagmm/eval/linear_baselines.hpp"
#include "metagmm/gmm/rand_index.hpp"
#include "metagmm/meta/protonet.hpp"

namespace metagmm::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Streams of the GMM head's labelled points: apart from the episodes' (b = episode index).
constexpr std::uint64_t kHeadStream = std::uint64_t{1} << 40;

// Values whose mean and 95% interval are reported.
class Accumulator {
 public:
  void add(double value) { values_.push_back(value); }
  Summary summary() const { return eval::summarize(values_); }
  const std::vector<double>& values() const { return values_; }

 private:
  std::vector<double> values_;
};

struct Model {
  const EncoderModel* source;
  const Vector& weights;
  std::unique_ptr<meta::ProtoNet> net;
  std::unique_ptr<meta::Encoder> encoder;
};

struct EpisodeMethod {
  FewShotRow row;
  Model* model;  // nullptr for the identity and linear baselines
  Accumulator accuracy;
  const Matrix* linear = nullptr;  // a linear baseline's map
  int refine_steps() const { return row.refine_steps; }
};

struct HeadMethod {
  std::string name;
  Accumulator ari;
  std::vector<IntVector> assignments;
};

// A CSV field per RFC 4180: quoted, with quotes doubled (method names hold commas).
std::string csv_field(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void add_summary(nlohmann::ordered_json& row, const Summary& s) {
  row["mean"] = s.mean;  // NaN and infinities are written as null
  row["ci95"] = s.half_width;
  row["n"] = s.n;
}

void print_row(std::ostream& out, const std::string& name, const Summary& s, int digits) {
  out << "  " << std::left << std::setw(44) << name << " " << std::right << std::fixed << std::setprecision(digits) << s.mean
      << " +- " << s.half_width << "  (n = " << s.n << ")\n"
      << std::defaultfloat;
}

// Few-shot accuracy of every method on the same episodes.
void evaluate_episodes(task::FewShotSampler& sampler, task::Split split, Index count, std::vector<EpisodeMethod>& methods,
                       const meta::RefinementOptions& refine) {
  task::Episode episode;
  meta::PrototypeClassifier identity;
  RowMatrix stacked, embedded;
  const auto started = Clock::now();
  auto last_report = started;
  for (Index e = 0; e < count; ++e) {
    sampler.evaluation(split, e, episode);
    for (EpisodeMethod& method : methods) {
      const meta::RefinementOptions r{method.refine_steps(), refine.distractor};
      Index correct = 0;
      if (method.model) {
        correct = method.model->net->score(method.model->weights, episode, r).correct;
      } else {
        meta::stack_episode(episode, r, stacked);
        if (method.linear) embedded = stacked * *method.linear;
        identity.forward(method.linear ? embedded : stacked, meta::layout_of(episode, r), episode.query_labels, r);
        correct = identity.correct();
      }
      method.accuracy.add(static_cast<double>(correct) / static_cast<double>(episode.query.rows()));
    }
    const auto now = Clock::now();
    if (std::chrono::duration<double>(now - last_report).count() > 10.0) {
      std::cerr << "eval: " << e + 1 << " of " << count << " episodes\n";
      last_report = now;
    }
  }
}

// `shots` labelled points per class of a task (-1 elsewhere), classes renumbered 0..K-1.
IntVector few_labels(const IntVector& labels, Index shots, RandomStream& random, Index& classes) {
  const IntVector numbers = task::class_numbers(labels);
  classes = numbers.size() == 0 ? 0 : numbers.maxCoeff() + 1;
  std::vector<std::vector<Index>> rows(static_cast<std::size_t>(std::max<Index>(classes, 0)));
  for (Index i = 0; i < numbers.size(); ++i)
    if (numbers[i] >= 0) rows[static_cast<std::size_t>(numbers[i])].push_back(i);
  IntVector few = IntVector::Constant(labels.size(), -1);
  for (std::size_t c = 0; c < rows.size(); ++c) {
    auto& members = rows[c];
    const Index take = std::min<Index>(shots, static_cast<Index>(members.size()));
    for (Index i = 0; i < take; ++i) {
      const Index pick = i + static_cast<Index>(random.below(members.size() - static_cast<std::size_t>(i)));
      std::swap(members[static_cast<std::size_t>(i)], members[static_cast<std::size_t>(pick)]);
      few[members[static_cast<std::size_t>(i)]] = static_cast<std::int32_t>(c);
    }
  }
  return few;
}

// Clusters whole tasks: EM from k-means++ and from a few labels' prototypes, on the raw points
// and in each checkpoint's embedding.
std::vector<HeadTask> evaluate_head(task::TaskSource& source, task::Split split, Index limit, Index shots,
                                    std::uint64_t seed, const meta::HeadOptions& options, std::vector<Model>& models,
                                    std::vector<HeadMethod>& methods) {
  std::vector<HeadTask> evaluated;
  const auto& tasks = source.tasks_in(split);
  for (std::size_t t = 0; t < tasks.size() && static_cast<Index>(t) < limit; ++t) {
    const Index task = tasks[t];
    const IntVector& all_labels = source.labels(task);
    const RowMatrix& all_points = source.points(task);
    // Only the labelled points: the index is against known labels.
    std::vector<Index> known;
    for (Index i = 0; i < all_labels.size(); ++i)
      if (all_labels[i] >= 0) known.push_back(i);
    RowMatrix points(static_cast<Index>(known.size()), all_points.cols());
    IntVector labels(static_cast<Index>(known.size()));
    for (std::size_t i = 0; i < known.size(); ++i) {
      points.row(static_cast<Index>(i)) = all_points.row(known[i]);
      labels[static_cast<Index>(i)] = all_labels[known[i]];
    }
    RandomStream label_random(seed, StreamPurpose::evaluation, static_cast<std::uint64_t>(split),
                              kHeadStream + static_cast<std::uint64_t>(task));
    Index classes = 0;
    const IntVector few = few_labels(labels, shots, label_random, classes);
    if (classes < 2 || points.rows() <= classes) continue;
    std::size_t m = 0;
    auto record = [&](const meta::HeadFit& fit) {
      methods[m].ari.add(gmm::adjusted_rand_index(labels, fit.assignments));
      methods[m].assignments.push_back(fit.assignments);
      ++m;
    };
    auto cluster = [&](const RowMatrix& space) {
      RandomStream random(seed, StreamPurpose::init, static_cast<std::uint64_t>(task));
      record(meta::fit_head(space, classes, options, random));
      record(meta::fit_head_from_labels(space, few, options));
    };
    cluster(points);
    for (Model& model : models) cluster(model.encoder->forward(model.weights, points));
    evaluated.push_back({task, labels});
  }
  return evaluated;
}

void write_assignments(const AtomicFile& output, const std::vector<HeadTask>& tasks,
                       const std::vector<HeadRow>& methods) {
  std::ostringstream file;
  file << "task,point,label";
  for (const HeadRow& m : methods) file << "," << m.name;
  file << "\n";
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    for (Index i = 0; i < tasks[t].labels.size(); ++i) {
      file << tasks[t].task << "," << i << "," << tasks[t].labels[i];
      for (const HeadRow& m : methods) file << "," << m.assignments[t][i];
      file << "\n";
    }
  }
  write_text_file(output, file.str());
}

std::string episodes_csv(const std::vector<FewShotRow>& rows) {
  std::ostringstream csv;
  csv << "episode";
  for (const FewShotRow& row : rows) csv << "," << csv_field(row.name);
  csv << "\n" << std::setprecision(17);
  const std::size_t episodes = rows.empty() ? 0 : rows.front().per_episode.size();
  for (std::size_t e = 0; e < episodes; ++e) {
    csv << e;
    for (const FewShotRow& row : rows) csv << "," << row.per_episode[e];
    csv << "\n";
  }
  return csv.str();
}

}  // namespace

void FewShotEvalOptions::validate() const {
  if (episodes < 1) throw SettingError("episodes", "expected an integer >= 1");
  if (head_tasks < 0) throw SettingError("head-tasks", "expected an integer >= 0");
  fewshot.validate();
  refine.validate();
  head.em.validate();
}

FewShotReport evaluate_fewshot(const std::vector<EncoderModel>& encoders, task::TaskSource& source,
                               const FewShotEvalOptions& o) {
  o.validate();
  for (const EncoderModel& e : encoders) {
    if (e.shape.input != source.dim()) {
      throw InputError(e.path + ": its encoder takes " + std::to_string(e.shape.input) + " inputs, " +
                       source.describe() + " has d = " + std::to_string(source.dim()));
    }
  }
  std::vector<Model> models;
  for (const EncoderModel& e : encoders)
    models.push_back({&e, e.weights, std::make_unique<meta::ProtoNet>(e.shape, meta::RefinementOptions{}),
                      std::make_unique<meta::Encoder>(e.shape)});

  task::FewShotSampler sampler(source, o.fewshot, o.seed);
  const bool refining = o.refine.steps > 0;
  std::vector<EpisodeMethod> methods;
  for (Model& model : models) {
    const std::string name = models.size() == 1 ? "protonet" : "protonet " + model.source->path;
    methods.push_back({{name, model.source->path, 0, {}}, &model, {}});
    if (refining) methods.push_back({{name + " + refinement", model.source->path, o.refine.steps, {}}, &model, {}});
  }
  methods.push_back({{"identity encoder (raw inputs)", "", 0, {}}, nullptr, {}});
  if (refining) methods.push_back({{"identity encoder + refinement", "", o.refine.steps, {}}, nullptr, {}});
  std::vector<LinearBaseline> linear;
  if (o.linear_baselines) {
    linear = fit_linear_baselines(source, sampler, o.linear);
    for (const LinearBaseline& b : linear) {
      methods.push_back({{b.name, "", 0, {}}, nullptr, {}, &b.map});
      if (refining) methods.push_back({{b.name + " + refinement", "", o.refine.steps, {}}, nullptr, {}, &b.map});
    }
  }
  evaluate_episodes(sampler, o.split, o.episodes, methods, o.refine);

  std::vector<HeadMethod> head_methods;
  auto add_head = [&](const std::string& space) {
    head_methods.push_back({space + "_kmeans++", {}, {}});
    head_methods.push_back({space + "_prototypes", {}, {}});
  };
  add_head("raw");
  for (std::size_t i = 0; i < models.size(); ++i) add_head(models.size() == 1 ? "embedded" : "embedded" + std::to_string(i + 1));
  FewShotReport report;
  report.clustered = evaluate_head(source, o.split, o.head_tasks, o.fewshot.shots, o.seed, o.head, models, head_methods);
  report.tasks = source.describe();
  report.options = o;
  if (o.linear_baselines && o.linear.chosen()) {
    report.baseline_selection = std::to_string(o.linear.validation_episodes) + " " +
                                std::to_string(sampler.validation_ways()) + "-way episodes of the " +
                                (source.tasks_in(task::Split::validation).empty() ? "train" : "validation") + " split";
  }
  for (EpisodeMethod& m : methods) {
    m.row.accuracy = m.accuracy.summary();
    m.row.per_episode = m.accuracy.values();
    report.accuracy.push_back(m.row);
  }
  for (HeadMethod& m : head_methods) report.clustering.push_back({m.name, m.ari.summary(), std::move(m.assignments)});
  return report;
}

std::string fewshot_text(const FewShotReport& r) {
  const FewShotEvalOptions& options = r.options;
  const task::FewShotOptions& o = options.fewshot;
  std::ostringstream out;
  out << "metagmm eval: " << r.tasks << ", split " << task::split_name(options.split) << "\n"
      << "few-shot accuracy, " << o.ways << "-way " << o.shots << "-shot, " << o.queries << " queries per class, "
      << options.episodes << " episodes (mean +- 95% CI)";
  if (options.refine.steps > 0) {
    out << "; refinement: " << options.refine.steps << " soft k-means step(s) on " << o.unlabelled
        << " unlabelled points per class"
        << (o.distractor_classes > 0 ? " and " + std::to_string(o.distractor_classes) + " distractor classes" : "")
        << (options.refine.distractor ? ", distractor cluster" : "");
  }
  out << "\n";
  for (const FewShotRow& m : r.accuracy) print_row(out, m.name, m.accuracy, 4);
  if (!r.baseline_selection.empty())
    out << "(the linear baselines' settings not given are chosen by accuracy on " << r.baseline_selection << ")\n";
  if (!r.clustered.empty()) {
    out << "GMM head: adjusted Rand index of EM (" << gmm::to_string(options.head.covariance) << ") on "
        << r.clustered.size() << " task(s), K = number of classes; 'prototypes' starts from " << o.shots
        << " labelled point(s) per class\n";
    for (const HeadRow& m : r.clustering) print_row(out, m.name, m.ari, 4);
  }
  return out.str();
}

void write_fewshot_results(const fs::path& out, const FewShotReport& r) {
  const task::FewShotOptions& o = r.options.fewshot;
  nlohmann::ordered_json json;
  json["tasks"] = r.tasks;
  json["split"] = task::split_name(r.options.split);
  json["episodes"] = r.options.episodes;
  json["ways"] = o.ways;
  json["shots"] = o.shots;
  json["queries"] = o.queries;
  json["unlabelled"] = o.unlabelled;
  json["distractor_classes"] = o.distractor_classes;
  json["seed"] = r.options.seed;
  json["baseline_selection"] = r.baseline_selection;
  json["accuracy"] = nlohmann::ordered_json::array();
  for (const FewShotRow& m : r.accuracy) {
    nlohmann::ordered_json row;
    row["method"] = m.name;
    row["checkpoint"] = m.checkpoint.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.checkpoint);
    row["refine_steps"] = m.refine_steps;
    add_summary(row, m.accuracy);
    json["accuracy"].push_back(row);
  }
  json["clustering"] = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < r.clustering.size() && !r.clustered.empty(); ++i) {
    nlohmann::ordered_json row;
    row["method"] = r.clustering[i].name;
    add_summary(row, r.clustering[i].ari);
    json["clustering"].push_back(row);
  }
  // Paths are bytes: one that is not UTF-8 is written with U+FFFD rather than failing the run.
  const std::string text = json.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  OutputGroup outputs;
  if (!r.clustered.empty()) write_assignments(outputs.add(out / "assignments.csv"), r.clustered, r.clustering);
  write_text_file(outputs.add(out / "episodes.csv"), episodes_csv(r.accuracy));
  write_text_file(outputs.add(out / "eval.json"), text);
  outputs.commit();
}

}  // namespace metagmm::eval
