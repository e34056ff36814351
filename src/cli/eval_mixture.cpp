// metagmm eval of mixture checkpoints: adaptation curves of the meta-learned initialisations
// against EM from k-means++ and random points, the pooled model (EM start and MAP adaptation)
// and the oracle, on the same support/query splits of every held-out task.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "common.hpp"
#include "eval_common.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/eval/methods.hpp"
#include "metagmm/eval/report.hpp"
#include "metagmm/eval/runner.hpp"
#include "metagmm/eval/tune.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/core/atomic_file.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/task/hierarchical_prior.hpp"
#include "metagmm/task/prior_file.hpp"

namespace metagmm::cli {

struct MixtureEvaluation {
  std::vector<std::unique_ptr<eval::Method>> methods;
  std::unique_ptr<task::Sampler> sampler;
  eval::RunOptions run;
  eval::ReportContext context;
  bool plot = false;
  bool save_episodes = false;
  double progress_seconds = 10.0;
};

namespace {

using Clock = std::chrono::steady_clock;

// A stored setting of a checkpoint's run configuration, or nullopt.
std::optional<std::string> stored_setting(const EvalCheckpoint& c, const std::string& key) {
  const auto config = parse_key_value_lines(c.checkpoint.config);
  const auto found = config.find(key);
  return found == config.end() ? std::nullopt : std::optional<std::string>(found->second);
}

// The pooled model: --pooled FILE, or EM from k-means++ on every training task's points.
gmm::Gmm pooled_model(const po::variables_map& v, task::TaskSource& source, const gmm::GmmShape& shape,
                      double reg_covar, std::uint64_t seed, std::string& description) {
  const std::string path = v["pooled"].as<std::string>();
  if (!path.empty()) {
    gmm::Gmm model = task::read_gmm_file(path);
    if (!(model.shape == shape)) {
      throw InputError("--pooled " + path + ": has " + std::to_string(model.shape.components) + " components (" +
                       gmm::to_string(model.shape.covariance) + ") in d = " + std::to_string(model.shape.dim) +
                       ", the checkpoints " + std::to_string(shape.components) + " (" +
                       gmm::to_string(shape.covariance) + ") in d = " + std::to_string(shape.dim));
    }
    description = path;
    return model;
  }
  return task::fit_pooled_model(source, task::Split::train, shape, reg_covar, seed, description);
}

// plot_eval.py DIR (installed beside the binary), when python3 can import matplotlib; otherwise
// how to get it.
void plot(const std::string& directory) {
  const std::string python = METAGMM_PYTHON, script = installed_data_file("plot_eval.py").string();
  if (std::system((python + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) != 0) {
    std::cout << "plot: skipped, " << python << " cannot import matplotlib (Debian: apt-get install "
              << "python3-matplotlib); then run: " << python << " " << script << " " << directory << "\n";
    return;
  }
  const std::string command = python + " '" + script + "' '" + directory + "'";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("plot: " + command + " failed");
}

// The first `tasks` validation tasks (0: all), split into support and query as the evaluated
// tasks are: what the baselines' knobs are tuned on. `what` names the option that asked.
std::vector<task::Episode> validation_episodes(task::TaskSource& source, task::Sampler& sampler, Index tasks,
                                               const std::string& what, const std::string& value) {
  Index available = static_cast<Index>(source.tasks_in(task::Split::validation).size());
  if (available == 0)
    throw InputError(what + " tune: " + source.describe() + " has no validation tasks; give " + what + " " + value);
  if (tasks > 0) available = std::min(available, tasks);
  std::vector<task::Episode> episodes(static_cast<std::size_t>(available));
  for (Index i = 0; i < available; ++i) sampler.evaluation(task::Split::validation, i, episodes[static_cast<std::size_t>(i)]);
  return episodes;
}

// The hierarchical prior: --prior FILE, or estimated from the training tasks aligned to the
// pooled model (`training_fits`, fitted once for heb and heb-coupled). nullopt (with the reason in
// `description`) where the model is not diagonal.
std::optional<gmm::HierarchicalPrior> hierarchical_prior(const po::variables_map& v, task::TaskSource& source,
                                                         const gmm::Gmm& pooled,
                                                         const std::function<const task::TaskFits&()>& training_fits,
                                                         std::string& description) {
  const std::string path = v["prior"].as<std::string>();
  if (!path.empty()) {
    gmm::HierarchicalPrior prior = task::read_prior_file(path, pooled.shape, "--prior", "the checkpoints have");
    description = path;
    return prior;
  }
  if (pooled.shape.covariance != gmm::CovarianceType::diag) {
    description = "(left out: the hierarchical prior is for diagonal covariances)";
    return std::nullopt;
  }
  if (const auto tasks = static_cast<Index>(source.tasks_in(task::Split::train).size()); tasks < task::kMinPriorTasks) {
    description = "(left out: " + std::to_string(tasks) + " training tasks, the prior needs at least " +
                  std::to_string(task::kMinPriorTasks) + ")";
    return std::nullopt;
  }
  return task::estimate_hierarchical_prior(training_fits(), false, description);
}

// Every evaluated task's support and query points, in DIR/episodes.h5 (--save-episodes).
void save_episodes(const std::string& directory, task::TaskSource& source, task::Sampler& sampler, task::Split split,
                   Index max_tasks) {
  Index count = static_cast<Index>(source.tasks_in(split).size());
  if (max_tasks > 0) count = std::min(count, max_tasks);
  const std::string path = (std::filesystem::path(directory) / "episodes.h5").string();
  AtomicFile output(path);
  {
    h5::File file = h5::File::create(output);
    file.set_attribute("/", "split", std::string(task::split_name(split)));
    file.set_attribute("/", "tasks", static_cast<std::int64_t>(count));
    task::Episode episode;
    for (Index i = 0; i < count; ++i) {
      sampler.evaluation(split, i, episode);
      const std::string group = "/" + std::to_string(i);
      file.create_group(group);
      file.set_attribute(group, "task", static_cast<std::int64_t>(episode.task));
      const auto d = static_cast<std::uint64_t>(episode.support.cols());
      file.write<double>(group + "/support", {static_cast<std::uint64_t>(episode.support.rows()), d}, episode.support.data());
      file.write<double>(group + "/query", {static_cast<std::uint64_t>(episode.query.rows()), d}, episode.query.data());
    }
    file.close();
  }
  output.commit();
}

}  // namespace

void add_mixture_eval_options(po::options_description& options) {
  po::options_description mixture("Mixture checkpoints: adaptation curves against the baselines");
  const eval::RunOptions run;
  mixture.add_options()
      ("support", po::value<std::string>(),
       "support points per task, adapted on, or all (fit each whole task and score its own points, the protocol "
       "amortised-clustering papers report); default: the first checkpoint's --support")
      ("query", po::value<Index>()->default_value(0), "query points per task, scored; 0: all the task's other points")
      ("steps", po::value<int>()->default_value(run.steps), "M: every method is scored after 0, 1, ..., M steps")
      ("converge-steps", po::value<int>()->default_value(run.converge_steps),
       "the 'converged' support log-likelihood is a method's value after this many steps")
      ("tol", real_value(run.tolerance), "steps to tolerance: the first step within this many nats per point of it")
      ("reg-covar", po::value<double>(), "variance floor of the EM and MAP steps; default: the first checkpoint's")
      ("relevance", po::value<std::string>()->default_value("tune"),
       "the pooled model's MAP adaptation: relevance factor r, one for every block or WEIGHTS:MEANS:COVARIANCES; "
       "tune: chosen from --relevance-grid to maximise the query log-likelihood after --steps MAP steps on "
       "--tune-tasks validation tasks (one factor for all blocks, then each block in turn, twice)")
      ("relevance-grid", po::value<std::string>()->default_value("0.5,1,2,4,8,16,32,64,128"),
       "--relevance tune: the candidate factors, comma-separated")
      ("tune-tasks", po::value<Index>()->default_value(200),
       "--relevance tune: how many of the validation split's first tasks to tune on (0: all)")
      ("pooled", po::value<std::string>()->default_value(""),
       "pooled model file (metagmm fit --data TASKS:train --out FILE); empty: fitted here by EM from k-means++ "
       "on every training task's points")
      ("prior", po::value<std::string>()->default_value(""),
       "heb: the hierarchical prior file (metagmm fit --data TASKS:train --prior heb --out FILE); empty: estimated "
       "here from the training tasks, each fitted by EM from the pooled model (diagonal mixtures only)")
      ("heb-steps", po::value<std::string>()->default_value("tune"),
       "heb: variational-EM steps before it stops (later steps repeat the model); tune: chosen from 1..--steps to "
       "maximise the query log-likelihood on --tune-tasks validation tasks")
      ("heb-coupled", po::bool_switch(),
       "also heb-coupled: hierarchical empirical Bayes whose means share one Gaussian prior, their full covariance "
       "across the training tasks estimated by moments (each task fitted by EM from the pooled model), for "
       "components that move together; its steps chosen as --heb-steps says")
      ("n-init", po::value<int>()->default_value(10),
       "em-kmeans++xN: the best of N runs of EM from k-means++ by the support log-likelihood after the steps "
       "(scikit-learn's n_init); NAME+xN for each checkpoint: its own run as one of the N, EM from k-means++ the "
       "other N - 1 (the learned start at equal restarts); 1 or 0 leaves them out")
      ("save-episodes", po::bool_switch(), "write every evaluated task's support and query points to DIR/episodes.h5")
      ("max-tasks", po::value<Index>()->default_value(run.max_tasks), "evaluate the split's first N tasks; 0: all")
      ("plot", po::bool_switch(), "draw DIR/loglik.png with tools/plot_eval.py (needs python3-matplotlib)")
      ("progress-seconds", real_value(10.0), "seconds between progress lines on standard error");
  options.add(mixture);
}

std::shared_ptr<MixtureEvaluation> prepare_mixture_evaluation(const po::variables_map& v, EvalInput& input) {
  auto e = std::make_shared<MixtureEvaluation>();
  const EvalCheckpoint& first = input.checkpoints.front();
  const gmm::GmmShape shape = first.checkpoint.model().mixture;
  task::TaskSource& source = *input.source;
  if (shape.dim != source.dim()) {
    throw InputError("--checkpoint " + first.path + ": a mixture in d = " + std::to_string(shape.dim) + ", " +
                     source.describe() + " has d = " + std::to_string(source.dim()));
  }
  task::EpisodeOptions episode;
  if (v.count("support")) {
    episode.set_support(v["support"].as<std::string>(), "--support");
  } else if (const auto stored = stored_setting(first, "support")) {
    episode.set_support(*stored, first.path + ": stored support");
  }
  episode.query = v["query"].as<Index>();
  episode.validate();
  const Index fewest = episode.whole ? source.min_task_size(input.split) : episode.support;
  if (fewest < shape.components) {
    throw InputError("--support " + episode.support_text() + ": k-means++ and random starts need at least " +
                     std::to_string(shape.components) + " points (the components), " +
                     (episode.whole ? "but a " + std::string(task::split_name(input.split)) + " task has " +
                                          std::to_string(fewest)
                                    : std::string("got ") + std::to_string(fewest)));
  }
  // The first checkpoint's variance floor where its algorithm has one.
  const meta::Settings& trained = first.checkpoint.settings;
  const double reg_covar = v.count("reg-covar")       ? v["reg-covar"].as<double>()
                           : trained.has("reg-covar") ? trained.real("reg-covar")
                                                      : gmm::EmOptions{}.reg_covar;
  if (!(reg_covar >= 0.0) || !std::isfinite(reg_covar)) throw InputError("--reg-covar: expected a finite number >= 0");
  const bool tune = v["relevance"].as<std::string>() == "tune";
  gmm::Relevance relevance;
  if (!tune) relevance = gmm::Relevance::parse(v["relevance"].as<std::string>(), "--relevance");
  const std::vector<double> grid = eval::parse_relevance_grid(v["relevance-grid"].as<std::string>(), "--relevance-grid");
  const Index tune_tasks = v["tune-tasks"].as<Index>();
  if (tune_tasks < 0) throw InputError("--tune-tasks: expected an integer >= 0 (0: all)");
  const int restarts = v["n-init"].as<int>();
  if (restarts < 0 || restarts > 10000) throw InputError("--n-init: expected an integer in [0, 10000]");
  const std::string heb_steps = v["heb-steps"].as<std::string>();
  std::optional<int> fixed_heb_steps;
  if (heb_steps != "tune") {
    const auto parsed = parse_integer(heb_steps);
    if (!parsed || *parsed < 1 || *parsed > 1000) throw InputError("--heb-steps: expected tune or an integer in [1, 1000]");
    fixed_heb_steps = static_cast<int>(*parsed);
  }
  e->save_episodes = v["save-episodes"].as<bool>();
  e->run.steps = v["steps"].as<int>();
  e->run.converge_steps = v["converge-steps"].as<int>();
  e->run.tolerance = v["tol"].as<double>();
  e->run.max_tasks = v["max-tasks"].as<Index>();
  e->run.validate();
  e->plot = v["plot"].as<bool>();
  e->progress_seconds = v["progress-seconds"].as<double>();
  if (!(e->progress_seconds > 0.0)) throw InputError("--progress-seconds: expected a number > 0");

  std::map<std::string, int> seen;  // algorithm name -> checkpoints so far, to tell them apart
  std::string checkpoints;
  for (const EvalCheckpoint& c : input.checkpoints) {
    const gmm::GmmShape s = c.checkpoint.model().mixture;
    if (!(s == shape)) {
      throw InputError("--checkpoint " + c.path + ": " + std::to_string(s.components) + " components (" +
                       gmm::to_string(s.covariance) + ") in d = " + std::to_string(s.dim) + ", but " + first.path +
                       " has " + std::to_string(shape.components) + " (" + gmm::to_string(shape.covariance) +
                       ") in d = " + std::to_string(shape.dim) + ": the baselines need one shape");
    }
    const int n = ++seen[c.checkpoint.algorithm];
    const std::string name =
        !c.name.empty() ? c.name : c.checkpoint.algorithm + (n > 1 ? "#" + std::to_string(n) : "");
    auto algorithm = train::checkpoint_mixture_algorithm(c.checkpoint, c.path);
    const bool by_em = algorithm->adapts_by_em();
    Vector meta = train::meta_parameters(c.checkpoint, *algorithm);
    e->methods.push_back(eval::meta_learned_steps(name, std::move(algorithm), std::move(meta), shape));
    if (!by_em) e->methods.push_back(eval::em_from_model(name + "+em", gmm::Gmm::unpack(shape, c.checkpoint.theta), reg_covar));
    if (restarts > 1) {  // its own run as one of the restarts, beside em-kmeans++xN
      auto proposer = train::checkpoint_mixture_algorithm(c.checkpoint, c.path);
      Vector proposer_meta = train::meta_parameters(c.checkpoint, *proposer);
      e->methods.push_back(eval::em_best_of_initializations(
          name + "+x" + std::to_string(restarts), shape, restarts, reg_covar, input.seed,
          eval::meta_learned_steps(name, std::move(proposer), std::move(proposer_meta), shape)));
    }
    checkpoints += (checkpoints.empty() ? "" : "\n") + c.path;
  }
  e->methods.push_back(eval::em_from_initialization("em-kmeans++", shape, gmm::InitMethod::kmeans_plus_plus, reg_covar, input.seed));
  if (restarts > 1) {
    e->methods.push_back(eval::em_best_of_initializations("em-kmeans++x" + std::to_string(restarts), shape, restarts,
                                                          reg_covar, input.seed));
  }
  e->methods.push_back(eval::em_from_initialization("em-random", shape, gmm::InitMethod::random_points, reg_covar, input.seed));
  std::string pooled_description;
  const gmm::Gmm pooled = pooled_model(v, source, shape, reg_covar, input.seed, pooled_description);
  e->methods.push_back(eval::em_from_model("pooled+em", pooled, reg_covar));
  e->sampler = std::make_unique<task::Sampler>(source, episode, input.seed);
  std::vector<task::Episode> tuning;  // the validation episodes, drawn once if a knob is tuned
  auto tuning_episodes = [&](const std::string& what, const std::string& value) -> const std::vector<task::Episode>& {
    if (tuning.empty()) tuning = validation_episodes(source, *e->sampler, tune_tasks, what, value);
    return tuning;
  };
  std::string relevance_description;
  if (tune) {
    const eval::RelevanceChoice choice =
        eval::tune_relevance(pooled, tuning_episodes("--relevance", "R"), grid, e->run.steps, reg_covar);
    relevance = choice.relevance;
    relevance_description = " (tuned: " + std::to_string(choice.candidates) + " settings from the grid " +
                            v["relevance-grid"].as<std::string>() + ", validation query log-likelihood " +
                            shortest_text(choice.score) + ")";
  }
  // A hierarchical prior's method, its steps fixed or tuned on validation; returns what was chosen.
  const auto add_bayes_method = [&](const std::string& name, const gmm::HierarchicalPrior& prior) {
    int stop = fixed_heb_steps.value_or(e->run.steps);
    std::string tuned;
    if (!fixed_heb_steps && e->run.steps >= 1) {
      const eval::StepChoice choice = eval::tune_bayes_steps(prior, tuning_episodes("--heb-steps", "N"), e->run.steps);
      stop = choice.steps;
      tuned = " (tuned: validation query log-likelihood " + shortest_text(choice.score) + ")";
    }
    e->methods.push_back(eval::bayes_from_prior(name, prior, stop));
    return std::to_string(stop) + tuned;
  };
  std::string prior_description, heb_description, coupled_description;
  std::optional<task::TaskFits> fits;
  const auto training_fits = [&]() -> const task::TaskFits& {
    if (!fits) fits = task::fit_tasks_from_pooled(source, task::Split::train, pooled, reg_covar);
    return *fits;
  };
  if (const auto prior = hierarchical_prior(v, source, pooled, training_fits, prior_description)) {
    heb_description = add_bayes_method("heb", *prior);
    if (v["heb-coupled"].as<bool>()) {
      std::string estimated;
      const gmm::HierarchicalPrior coupled = task::estimate_hierarchical_prior(training_fits(), true, estimated);
      coupled_description = add_bayes_method("heb-coupled", coupled) + ", " + estimated;
    }
  }
  e->methods.push_back(eval::map_from_prior("pooled+map", pooled, relevance, reg_covar));
  if (source.has_truth()) e->methods.push_back(eval::oracle("oracle", [&source](Index t) { return source.truth(t); }));

  std::set<std::string> names;  // --names must not take a baseline's (or another column's) name
  for (const auto& method : e->methods)
    if (!names.insert(method->name()).second)
      throw InputError("--names: '" + method->name() + "' is also the name of another method in this evaluation");

  std::ostringstream settings;
  settings << "support = " << episode.support_text() << "\nquery = " << episode.query << "\nsteps = " << e->run.steps
           << "\nconverge-steps = " << e->run.converge_steps << "\ntol = " << shortest_text(e->run.tolerance)
           << "\nreg-covar = " << shortest_text(reg_covar) << "\nrelevance = " << relevance.to_string() << relevance_description
           << "\npooled = " << pooled_description << "\nprior = " << prior_description;
  if (!heb_description.empty()) settings << "\nheb-steps = " << heb_description;
  if (!coupled_description.empty()) settings << "\nheb-coupled = " << coupled_description;
  if (restarts > 1) settings << "\nn-init = " << restarts;
  settings << "\n";
  e->context.tasks = source.describe();
  e->context.split = task::split_name(input.split);
  e->context.checkpoints = checkpoints;
  e->context.settings = settings.str();
  e->context.seed = input.seed;
  e->context.tolerance = e->run.tolerance;
  e->context.converge_steps = e->run.converge_steps;
  return e;
}

void evaluate_mixtures(MixtureEvaluation& e, EvalInput& input, comm::Communicator& comm) {
  const bool leader = comm.rank() == 0;
  if (leader) {
    std::cout << "metagmm eval: " << comm.size() << (comm.size() == 1 ? " rank" : " ranks") << ", "
              << e.context.tasks << ", split " << e.context.split << "\nkernels: " << input.isa << "\n"
              << e.context.settings << std::flush;
  }
  const auto started = Clock::now();
  auto last = started;
  const eval::Results results = eval::evaluate(
      e.methods, *input.source, *e.sampler, input.split, e.run, comm, [&](Index done, Index total) {
        const auto now = Clock::now();
        if (done < total && std::chrono::duration<double>(now - last).count() < e.progress_seconds) return;
        last = now;
        std::cerr << "eval: " << done << " of " << total << " tasks on rank 0, "
                  << static_cast<int>(std::chrono::duration<double>(now - started).count()) << " s" << std::endl;
      });
  if (!leader) return;
  const auto summary = eval::summarize(results);
  eval::write_results(input.out.string(), results, summary, e.context);
  std::cout << "\n" << eval::markdown_table(results, summary, e.context) << "\nresults: " << input.out.string()
            << "/{eval.h5,summary.csv,curves.csv,table.md}\n";
  if (e.save_episodes) {
    save_episodes(input.out.string(), *input.source, *e.sampler, input.split, e.run.max_tasks);
    std::cout << "episodes: " << (input.out / "episodes.h5").string() << "\n";
  }
  if (e.plot) plot(input.out.string());
}

}  // namespace metagmm::cli
