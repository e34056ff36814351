// metagmm eval of ProtoNet checkpoints on held-out tasks. Few-shot accuracy over many episodes
// (mean and 95% confidence interval), with and without semi-supervised refinement, beside the
// identity encoder (prototypes on the raw inputs) on the same episodes; and the GMM head:
// clustering of whole held-out tasks by EM in the embedding against EM on the raw points
// (adjusted Rand index against the true labels).
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "common.hpp"
#include "eval_common.hpp"
#include "fewshot_options.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/eval/report.hpp"
#include "metagmm/gmm/rand_index.hpp"
#include "metagmm/meta/gmm_head.hpp"
#include "metagmm/meta/protonet.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Streams of the GMM head's labelled points: apart from the episodes' (b = episode index).
constexpr std::uint64_t kHeadStream = std::uint64_t{1} << 40;

using eval::Summary;

// Values whose mean and 95% interval are reported.
class Accumulator {
 public:
  void add(double value) { values_.push_back(value); }
  Summary summary() const { return eval::summarize(values_); }

 private:
  std::vector<double> values_;
};

struct Model {
  std::string path;
  train::Checkpoint checkpoint;
  std::unique_ptr<meta::ProtoNet> net;
  std::unique_ptr<meta::Encoder> encoder;
};

struct Method {
  std::string name;       // "protonet", "identity encoder (raw inputs)", ...
  Model* model;           // nullptr for the identity baseline
  int refine_steps = 0;
  Accumulator accuracy;
};

struct HeadMethod {
  std::string name;
  Accumulator ari;
  std::vector<IntVector> assignments;  // per evaluated task
};

}  // namespace

void add_protonet_eval_options(po::options_description& options) {
  po::options_description protonet("ProtoNet checkpoints: few-shot episodes (the refinement rows use --refine-steps)");
  protonet.add_options()("episodes", po::value<Index>()->default_value(1000), "few-shot episodes to evaluate");
  FewShotSettings defaults;
  defaults.episodes.unlabelled = 5;
  defaults.refine.steps = 1;
  add_fewshot_options(protonet, defaults);
  po::options_description head("ProtoNet checkpoints: the GMM head, EM on whole tasks in the embedding against EM on the raw points");
  const gmm::EmOptions em;
  head.add_options()
      ("head-tasks", po::value<Index>()->default_value(100), "tasks of the split clustered (the first N); 0: none")
      ("head-covariance", po::value<std::string>()->default_value("diag"), "covariance type: diag, spherical or full")
      ("head-reg-covar", real_value(1e-3), "variance floor of the head's EM (raw pixels have constant coordinates)")
      ("head-max-iter", po::value<int>()->default_value(em.max_iterations), "EM iterations at most");
  options.add(protonet).add(head);
}

namespace {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string summary_json(const Summary& s) {
  return "\"mean\": " + json_number(s.mean) + ", \"ci95\": " + json_number(s.half_width) + ", \"n\": " +
         std::to_string(s.n);
}

void print_row(const std::string& name, const Summary& s, int digits) {
  std::cout << "  " << std::left << std::setw(44) << name << std::right << std::fixed << std::setprecision(digits)
            << s.mean << " +- " << s.half_width << "  (n = " << s.n << ")\n"
            << std::defaultfloat;
}

// Few-shot accuracy of every method on the same episodes.
void evaluate_episodes(task::FewShotSampler& sampler, task::Split split, Index count, std::vector<Method>& methods,
                       const meta::RefinementOptions& refine) {
  task::Episode episode;
  meta::PrototypeClassifier identity;
  RowMatrix stacked;
  const auto started = Clock::now();
  auto last_report = started;
  for (Index e = 0; e < count; ++e) {
    sampler.evaluation(split, e, episode);
    for (Method& method : methods) {
      const meta::RefinementOptions r{method.refine_steps, refine.distractor};
      Index correct = 0;
      if (method.model) {
        correct = method.model->net->score(method.model->checkpoint.theta, episode, r).correct;
      } else {
        meta::stack_episode(episode, r, stacked);
        identity.forward(stacked, meta::layout_of(episode, r), episode.query_labels, r);
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
  const IntVector numbers = class_numbers(labels);
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

struct HeadTask {
  Index task;
  IntVector labels;
};

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
    for (Model& model : models) cluster(model.encoder->forward(model.checkpoint.theta, points));
    evaluated.push_back({task, labels});
  }
  return evaluated;
}

void write_assignments(const fs::path& path, const std::vector<HeadTask>& tasks,
                       const std::vector<HeadMethod>& methods) {
  AtomicFile output(path);
  std::ofstream file(output.temp_path());
  file << "task,point,label";
  for (const HeadMethod& m : methods) file << "," << m.name;
  file << "\n";
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    for (Index i = 0; i < tasks[t].labels.size(); ++i) {
      file << tasks[t].task << "," << i << "," << tasks[t].labels[i];
      for (const HeadMethod& m : methods) file << "," << m.assignments[t][i];
      file << "\n";
    }
  }
  file.close();
  if (!file) throw InputError("cannot write " + path.string());
  output.commit();
}

}  // namespace

void evaluate_protonets(const po::variables_map& v, EvalInput& input) {
  const fs::path& out = input.out;
  const Index episodes = v["episodes"].as<Index>();
  if (episodes < 1) throw InputError("--episodes: expected an integer >= 1");
  const task::Split split = input.split;
  const std::uint64_t seed = input.seed;
  FewShotSettings fewshot = fewshot_settings(v);
  const Index head_tasks = v["head-tasks"].as<Index>();
  if (head_tasks < 0) throw InputError("--head-tasks: expected an integer >= 0");
  meta::HeadOptions head;
  head.covariance = gmm::parse_covariance_type(v["head-covariance"].as<std::string>(), "--head-covariance");
  head.em.reg_covar = v["head-reg-covar"].as<double>();
  head.em.max_iterations = v["head-max-iter"].as<int>();
  head.em.validate();

  std::vector<Model> models;
  for (EvalCheckpoint& c : input.checkpoints) {
    Model model;
    model.path = c.path;
    model.checkpoint = c.checkpoint;
    model.net = std::make_unique<meta::ProtoNet>(*model.checkpoint.encoder, meta::RefinementOptions{});
    model.encoder = std::make_unique<meta::Encoder>(*model.checkpoint.encoder);
    models.push_back(std::move(model));
  }
  task::TaskSource* source = input.source.get();
  for (const Model& model : models) {
    if (model.checkpoint.encoder->input != source->dim()) {
      throw InputError("--checkpoint " + model.path + ": its encoder takes " +
                       std::to_string(model.checkpoint.encoder->input) + " inputs, " + source->describe() +
                       " has d = " + std::to_string(source->dim()));
    }
  }
  { AtomicFile probe(out / "eval.json"); }

  task::FewShotSampler sampler(*source, fewshot.episodes, seed);
  const bool refining = fewshot.refine.steps > 0;
  std::vector<Method> methods;
  for (Model& model : models) {
    const std::string name = models.size() == 1 ? "protonet" : "protonet " + model.path;
    methods.push_back({name, &model, 0, {}});
    if (refining) methods.push_back({name + " + refinement", &model, fewshot.refine.steps, {}});
  }
  methods.push_back({"identity encoder (raw inputs)", nullptr, 0, {}});
  if (refining) methods.push_back({"identity encoder + refinement", nullptr, fewshot.refine.steps, {}});
  evaluate_episodes(sampler, split, episodes, methods, fewshot.refine);

  std::vector<HeadMethod> head_methods;
  auto add_head = [&](const std::string& space) {
    head_methods.push_back({space + "_kmeans++", {}, {}});
    head_methods.push_back({space + "_prototypes", {}, {}});
  };
  add_head("raw");
  for (std::size_t i = 0; i < models.size(); ++i) add_head(models.size() == 1 ? "embedded" : "embedded" + std::to_string(i + 1));
  const auto head_evaluated =
      evaluate_head(*source, split, head_tasks, fewshot.episodes.shots, seed, head, models, head_methods);

  const task::FewShotOptions& o = fewshot.episodes;
  std::cout << "metagmm eval: " << source->describe() << ", split " << task::split_name(split) << "\n"
            << "few-shot accuracy, " << o.ways << "-way " << o.shots << "-shot, " << o.queries
            << " queries per class, " << episodes << " episodes (mean +- 95% CI)";
  if (refining) {
    std::cout << "; refinement: " << fewshot.refine.steps << " soft k-means step(s) on " << o.unlabelled
              << " unlabelled points per class"
              << (o.distractor_classes > 0 ? " and " + std::to_string(o.distractor_classes) + " distractor classes" : "")
              << (fewshot.refine.distractor ? ", distractor cluster" : "");
  }
  std::cout << "\n";
  for (const Method& m : methods) print_row(m.name, m.accuracy.summary(), 4);
  if (!head_evaluated.empty()) {
    std::cout << "GMM head: adjusted Rand index of EM (" << gmm::to_string(head.covariance) << ") on "
              << head_evaluated.size() << " task(s), K = number of classes; 'prototypes' starts from " << o.shots
              << " labelled point(s) per class\n";
    for (const HeadMethod& m : head_methods) print_row(m.name, m.ari.summary(), 4);
    write_assignments(out / "assignments.csv", head_evaluated, head_methods);
  }

  std::ostringstream json;
  json << "{\n  \"tasks\": " << json_string(source->describe()) << ",\n  \"split\": "
       << json_string(task::split_name(split)) << ",\n  \"episodes\": " << episodes << ",\n  \"ways\": " << o.ways
       << ", \"shots\": " << o.shots << ", \"queries\": " << o.queries << ", \"unlabelled\": " << o.unlabelled
       << ", \"distractor_classes\": " << o.distractor_classes << ", \"seed\": " << seed << ",\n  \"accuracy\": [";
  for (std::size_t i = 0; i < methods.size(); ++i) {
    const Method& m = methods[i];
    json << (i ? "," : "") << "\n    {\"method\": " << json_string(m.name) << ", \"checkpoint\": "
         << (m.model ? json_string(m.model->path) : "null") << ", \"refine_steps\": " << m.refine_steps
         << ", " << summary_json(m.accuracy.summary()) << "}";
  }
  json << "\n  ],\n  \"clustering\": [";
  for (std::size_t i = 0; i < head_methods.size() && !head_evaluated.empty(); ++i) {
    json << (i ? "," : "") << "\n    {\"method\": " << json_string(head_methods[i].name) << ", "
         << summary_json(head_methods[i].ari.summary()) << "}";
  }
  json << "\n  ]\n}\n";
  AtomicFile output(out / "eval.json");
  {
    std::ofstream file(output.temp_path());
    file << json.str();
    file.close();
    if (!file) throw InputError("cannot write " + (out / "eval.json").string());
  }
  output.commit();
}

}  // namespace metagmm::cli
