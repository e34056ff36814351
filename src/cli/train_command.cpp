// metagmm train: options, resume, and the collective error handling around the training loop.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>

#include "common.hpp"
#include "checkpoint_algorithm.hpp"
#include "fewshot_options.hpp"
#include "isa_choice.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/comm/communicator.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/meta/maml.hpp"
#include "metagmm/meta/protonet.hpp"
#include "metagmm/meta/reptile.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/train/checkpoint.hpp"
#include "metagmm/train/signals.hpp"
#include "metagmm/train/trainer.hpp"

namespace metagmm::cli {
namespace {

namespace fs = std::filesystem;

// A resumed run must keep these: they change what the run is, not how long it runs.
const std::vector<std::string> kRunIdentity = {
    "algo", "meta-sgd", "tasks", "components", "covariance", "encoder-widths", "seed", "outer",
    "gen-family", "gen-dim", "gen-components", "gen-tasks", "gen-points", "gen-seed", "gen-truth-covariance",
    "gen-box", "gen-scale", "gen-jitter", "gen-drop", "gen-concentration", "gen-warp", "gen-split"};
// Not part of the stored configuration: where and how this invocation starts.
const std::vector<std::string> kNotStored = {"resume", "run-dir", "config", "help"};

// The default outer learning rate of the gradient-based algorithms: --outer-lr's default of 1 is
// Reptile's step fraction, far too long a step along a meta-gradient.
constexpr double kGradientOuterRate = 0.01;
// ProtoNet's defaults: Adam with Snell et al.'s learning rate.
constexpr double kEncoderOuterRate = 0.001;
constexpr const char* kEncoderOuter = "adam";

void add_train_options(po::options_description& options) {
  const train::TrainOptions t;
  const task::EpisodeOptions e;
  const meta::InnerOptions i;
  po::options_description run("Run");
  run.add_options()
      ("algo", po::value<std::string>()->default_value("reptile"),
       "meta-learning algorithm: reptile (move towards the adapted parameters), maml (exact second-order "
       "meta-gradient through the inner steps), fomaml (first-order MAML: the query gradient at the adapted "
       "parameters) or protonet (Prototypical Networks: an encoder learned on N-way K-shot episodes of labelled "
       "tasks)")
      ("tasks", po::value<std::string>()->default_value(""),
       "task set file (HDF5, from metagmm generate or import); empty: generate tasks on the fly with the --gen-* options")
      ("run-dir", po::value<std::string>()->value_name("DIR"),
       "directory for checkpoints and metrics.jsonl (required; created if missing)")
      ("resume", po::value<std::string>()->value_name("auto|PATH"),
       "auto: continue from the newest checkpoint in --run-dir that reads back whole (a new run if there is none); "
       "PATH: from that checkpoint. Options not given are taken from the checkpoint's configuration")
      ("steps", po::value<long long>()->default_value(t.steps), "meta-steps in total (a resumed run continues up to it)")
      ("seed", po::value<long long>()->default_value(0), "random seed: task sampling, support/query splits, start")
      ("meta-batch", po::value<Index>()->default_value(t.meta_batch), "tasks per meta-step, shared out to the ranks");
  po::options_description model("Model");
  model.add_options()
      ("components", po::value<Index>()->default_value(4), "mixture components K of the meta-parameters")
      ("covariance", po::value<std::string>()->default_value("diag"), "covariance type: diag, spherical or full")
      ("init", po::value<std::string>()->default_value(""),
       "the mixture's starting meta-parameters: a model file of the same shape (metagmm fit --out; e.g. the pooled "
       "model of fit --data TASKS:train, from which maml --inner map starts at the pooled+MAP baseline); empty: "
       "k-means++ and one M-step on a few training tasks' points");
  po::options_description episodes("Episodes and adaptation");
  episodes.add_options()
      ("support", po::value<Index>()->default_value(e.support), "support points per task: what the inner loop adapts on")
      ("query", po::value<Index>()->default_value(e.query), "query points per task, scored after adaptation; 0: all the rest")
      ("inner", po::value<std::string>()->default_value("sgd"),
       "inner adaptation: sgd (gradient steps), adam, em, or map (MAP-EM steps towards the meta-parameters as the "
       "prior, Reynolds et al. 2000; with --algo maml the exact meta-gradient through the steps, and the relevance "
       "factors are meta-learned too)")
      ("inner-steps", po::value<int>()->default_value(i.steps), "inner adaptation steps m")
      ("inner-lr", real_value(i.learning_rate),
       "inner learning rate alpha (sgd, adam); with --meta-sgd, the learned step sizes' starting value")
      ("meta-sgd", po::value<std::string>()->default_value("none"),
       "maml/fomaml with --inner sgd: meta-learn the inner step sizes with the initialisation (Meta-SGD): none, "
       "block (one each for the logits, means and covariances) or parameter (one per parameter); saved in checkpoints")
      ("reg-covar", real_value(i.reg_covar), "variance floor added by inner EM and MAP steps")
      ("relevance", po::value<std::string>()->default_value(i.relevance.to_string()),
       "map: relevance factors r, one for every block or WEIGHTS:MEANS:COVARIANCES; each component moves from the "
       "prior towards its data by n_k / (n_k + r). maml --inner map: their starting values (learned as log r)")
      ("weighting", po::value<std::string>()->default_value("uniform"),
       "reptile: how tasks' adapted parameters are averaged: uniform, or distance (weights proportional to "
       "|theta_i - theta|^2)");
  po::options_description protonet("ProtoNet (--algo protonet): encoder and few-shot episodes");
  protonet.add_options()
      ("encoder-widths", po::value<std::string>()->default_value("64,64"),
       "the encoder's layer widths, comma-separated (ReLU between layers; the last is the embedding's dimension)");
  add_fewshot_options(protonet, FewShotSettings{});
  const std::string outer_rate_help =
      "outer learning rate (reptile with sgd: the step fraction epsilon towards the adapted parameters); left at its "
      "default, maml and fomaml use " + shortest_text(kGradientOuterRate) + ", a step along a meta-gradient, and "
      "protonet " + shortest_text(kEncoderOuterRate);
  const std::string outer_help =
      std::string("outer optimiser on the meta-gradient: sgd or adam (left at its default, protonet uses ") +
      kEncoderOuter + ")";
  po::options_description outer("Outer update");
  outer.add_options()
      ("outer", po::value<std::string>()->default_value("sgd"), outer_help.c_str())
      ("outer-lr", real_value(t.outer.learning_rate), outer_rate_help.c_str())
      ("outer-beta1", real_value(t.outer.beta1), "adam: first-moment decay")
      ("outer-beta2", real_value(t.outer.beta2), "adam: second-moment decay");
  po::options_description monitor("Validation, checkpoints, progress");
  monitor.add_options()
      ("validate-every", po::value<long long>()->default_value(t.validate_every),
       "steps between validations (mean query log-likelihood after adaptation); 0: never")
      ("validation-tasks", po::value<Index>()->default_value(t.validation_tasks),
       "validation tasks used: the first N of the validation split; 0: all (protonet: N fixed validation "
       "episodes; 0: 256)")
      ("checkpoint-every", po::value<long long>()->default_value(t.checkpoint_every),
       "steps between checkpoints; 0: only at the end and on a signal")
      ("checkpoint-seconds", real_value(t.checkpoint_seconds),
       "also checkpoint when this many seconds passed since the last one")
      ("keep", po::value<int>()->default_value(t.keep), "checkpoints kept in --run-dir (older ones are removed)")
      ("progress-seconds", real_value(t.progress_seconds),
       "seconds between progress lines when stderr is not a terminal")
      ("task-cache-mb", real_value(1024), "memory per rank for tasks read once and kept");
  po::options_description family("Tasks generated on the fly (when --tasks is empty)");
  add_generator_options(family, "gen-");
  options.add(run).add(model).add(episodes).add(protonet).add(outer).add(monitor).add(family);
}

struct TrainSetup {
  train::TrainOptions options;
  train::ModelShape model;  // the mixture's shape, or protonet's encoder
  FewShotSettings fewshot;
  task::EpisodeOptions episode;
  meta::InnerOptions inner;
  meta::ReptileWeighting weighting = meta::ReptileWeighting::uniform;
  meta::StepSizeLearning step_sizes = meta::StepSizeLearning::none;
  std::unique_ptr<meta::Algorithm> algorithm;
  std::unique_ptr<task::TaskSource> source;
  std::optional<train::Checkpoint> resume;
  std::optional<gmm::Gmm> init;  // --init FILE
  std::string isa;               // the kernel level and how it was chosen
};

template <typename T>
T non_negative(const po::variables_map& v, const std::string& name) {
  const auto value = v[name].as<T>();
  if (value < 0) throw InputError("--" + name + ": expected an integer >= 0");
  return value;
}

// Which checkpoint to resume from: decided by rank 0 (it reports damaged ones) and broadcast.
std::string choose_checkpoint(const std::string& resume, const fs::path& run_dir, comm::Communicator& comm) {
  std::string chosen;
  std::string failure;
  if (comm.rank() == 0) {
    if (resume == "auto") {
      const auto found = train::newest_valid_checkpoint(run_dir, [](const fs::path& path, const std::string& why) {
        std::cerr << "metagmm train: skipping damaged checkpoint " << path.string() << ": " << why << "\n";
      });
      if (found) chosen = found->string();
    } else {
      chosen = resume;
      try {
        train::read_checkpoint(chosen);
      } catch (const InputError& error) {
        failure = std::string("--resume: ") + error.what();
      }
    }
  }
  std::string message = failure.empty() ? "ok" : "!" + failure;
  comm.broadcast(message, 0);
  if (message != "ok") throw InputError(message.substr(1));
  comm.broadcast(chosen, 0);
  return chosen;
}

void check_same_run(const std::string& stored, const std::string& current, const std::string& checkpoint,
                    bool leader) {
  const auto before = parse_config_lines(stored), now = parse_config_lines(current);
  for (const auto& key : kRunIdentity) {
    const auto a = before.find(key), b = now.find(key);
    const std::string old_value = a == before.end() ? "(unset)" : a->second;
    const std::string new_value = b == now.end() ? "(unset)" : b->second;
    if (old_value != new_value) {
      throw InputError("--resume: " + checkpoint + " was made with " + key + " = " + old_value + ", this run asks " +
                       key + " = " + new_value + "; a resumed run keeps the model shape, algorithm, seed and tasks " +
                       "(start a new --run-dir to change them)");
    }
  }
  if (!leader) return;
  for (const auto& [key, value] : now) {
    const auto old = before.find(key);
    if (old != before.end() && old->second != value)
      std::cout << "resume: " << key << " changed from " << old->second << " to " << value << "\n";
  }
}

// --tasks as an absolute path, so that the stored configuration still names the file when a
// resumed job starts from another directory (and a relative spelling of it is the same run).
void absolute_tasks_path(po::variables_map& v) {
  const std::string tasks = v["tasks"].as<std::string>();
  if (!tasks.empty()) v.at("tasks").value() = fs::absolute(tasks).lexically_normal().string();
}

// Everything before the first meta-step. Returns nullptr when --help was shown.
std::unique_ptr<TrainSetup> prepare(const std::vector<std::string>& args, comm::Communicator& comm) {
  const CommandSpec spec{"train", "train --algo reptile|maml|fomaml|protonet [--tasks FILE] --run-dir DIR [--resume auto|PATH] [options]",
                         "Meta-learns a Gaussian mixture across tasks. Run it directly (one rank) or under\n"
                         "mpirun -np R: each rank adapts to its share of every meta-batch, one reduction per step\n"
                         "combines them, and the result is bit-identical for any R. Checkpoints go to --run-dir\n"
                         "every --checkpoint-every steps, and on SIGTERM, SIGINT or SIGUSR1, after which the job\n"
                         "exits with status 3; --resume auto continues exactly where it stopped.\n"
                         "Exit status: 0 done, 2 bad input or options, 3 stopped by a signal after a clean\n"
                         "checkpoint, 1 anything else."};
  po::options_description options("Options");
  add_train_options(options);
  po::variables_map v;
  const bool leader = comm.rank() == 0;
  if (!parse_options(spec, options, args, v, nullptr, leader)) return nullptr;

  auto setup = std::make_unique<TrainSetup>();
  // Before anything a rank could fail at alone: every rank takes part in the agreement.
  setup->isa = agree_isa(comm);
  absolute_tasks_path(v);
  const fs::path run_dir = required<std::string>(v, "run-dir");
  if (v.count("resume")) {
    const std::string resume = v["resume"].as<std::string>();
    const std::string chosen = choose_checkpoint(resume, run_dir, comm);
    if (!chosen.empty()) {
      setup->resume = train::read_checkpoint(chosen);
      store_config_text(setup->resume->config, chosen + ": stored configuration", options, v);
      check_same_run(setup->resume->config, resolved_config(options, v, kNotStored), chosen, leader);
      if (leader) std::cout << "resuming from " << chosen << " at step " << setup->resume->step << "\n";
      std::string warning;
      setup->isa = keep_checkpoint_isa(setup->resume->provenance, setup->isa, warning);
      if (leader && !warning.empty()) std::cout << "warning: " << warning << "\n";
    } else if (leader) {
      std::cout << "no checkpoint in " << run_dir.string() << ": starting a new run\n";
    }
  } else if (!train::list_checkpoints(run_dir).empty()) {
    throw InputError("--run-dir " + run_dir.string() +
                     " already holds checkpoints: continue it with --resume auto, or choose another --run-dir");
  }

  const std::string algorithm = v["algo"].as<std::string>();
  if (algorithm != "reptile" && algorithm != "maml" && algorithm != "fomaml" && algorithm != "protonet")
    throw InputError("--algo: expected reptile, maml, fomaml or protonet, got '" + algorithm + "'");
  const bool protonet = algorithm == "protonet";
  if (algorithm != "reptile" && v["outer-lr"].defaulted())
    v.at("outer-lr").value() = protonet ? kEncoderOuterRate : kGradientOuterRate;
  if (protonet && v["outer"].defaulted()) v.at("outer").value() = std::string(kEncoderOuter);
  train::TrainOptions& o = setup->options;
  o.algorithm = algorithm;
  o.steps = v["steps"].as<long long>();
  o.seed = seed_option(v);
  o.meta_batch = v["meta-batch"].as<Index>();
  o.outer.method = meta::parse_optimizer(v["outer"].as<std::string>(), "--outer");
  o.outer.learning_rate = v["outer-lr"].as<double>();
  o.outer.beta1 = v["outer-beta1"].as<double>();
  o.outer.beta2 = v["outer-beta2"].as<double>();
  o.validate_every = non_negative<long long>(v, "validate-every");
  o.validation_tasks = non_negative<Index>(v, "validation-tasks");
  o.checkpoint_every = non_negative<long long>(v, "checkpoint-every");
  o.checkpoint_seconds = v["checkpoint-seconds"].as<double>();
  o.keep = v["keep"].as<int>();
  o.progress_seconds = v["progress-seconds"].as<double>();
  o.run_dir = run_dir;
  o.config = resolved_config(options, v, kNotStored);
  o.validate();

  setup->episode.support = v["support"].as<Index>();
  setup->episode.query = v["query"].as<Index>();
  setup->episode.validate();
  setup->inner.method = meta::parse_inner_method(v["inner"].as<std::string>(), "--inner");
  setup->inner.steps = v["inner-steps"].as<int>();
  setup->inner.learning_rate = v["inner-lr"].as<double>();
  setup->inner.reg_covar = v["reg-covar"].as<double>();
  setup->inner.relevance = gmm::Relevance::parse(v["relevance"].as<std::string>(), "--relevance");
  setup->inner.validate();
  setup->weighting = meta::parse_reptile_weighting(v["weighting"].as<std::string>(), "--weighting");
  setup->step_sizes = meta::parse_step_size_learning(v["meta-sgd"].as<std::string>(), "--meta-sgd");
  if ((algorithm == "reptile" || protonet) && setup->step_sizes != meta::StepSizeLearning::none)
    throw InputError("--meta-sgd: learned step sizes need --algo maml or fomaml");

  const double cache_mb = v["task-cache-mb"].as<double>();
  if (!(cache_mb >= 0)) throw InputError("--task-cache-mb: expected a number >= 0");
  const auto cache_bytes = static_cast<std::size_t>(cache_mb * 1024 * 1024);
  const std::string tasks = v["tasks"].as<std::string>();
  setup->source = tasks.empty() ? task::make_generated_source(generator_options(v, "gen-"), cache_bytes)
                                : task::open_task_file(tasks, cache_bytes);

  gmm::GmmShape& mixture = setup->model.mixture;
  mixture.components = v["components"].as<Index>();
  if (mixture.components < 1) throw InputError("--components: expected an integer >= 1");
  mixture.covariance = gmm::parse_covariance_type(v["covariance"].as<std::string>(), "--covariance");
  mixture.dim = setup->source->dim();
  if (protonet) {
    setup->fewshot = fewshot_settings(v);
    if (o.validation_tasks > 0) setup->fewshot.episodes.validation_episodes = o.validation_tasks;
    setup->model = train::ModelShape(
        meta::EncoderShape{setup->source->dim(), parse_widths(v["encoder-widths"].as<std::string>(), "--encoder-widths")});
  }
  // A resumed run continues from its checkpoint: the start it once had is not read again (a
  // requeued job must not fail because that file has moved).
  if (const std::string init = v["init"].as<std::string>(); !init.empty() && !setup->resume) {
    if (protonet) throw InputError("--init: a mixture model file starts a mixture; protonet learns an encoder");
    setup->init = task::read_gmm_file(init);
    if (!(setup->init->shape == mixture)) {
      throw InputError("--init " + init + ": has " + std::to_string(setup->init->shape.components) + " components (" +
                       gmm::to_string(setup->init->shape.covariance) + ") in d = " +
                       std::to_string(setup->init->shape.dim) + ", the configuration " +
                       std::to_string(mixture.components) + " (" + gmm::to_string(mixture.covariance) + ") in d = " +
                       std::to_string(mixture.dim));
    }
  }
  if (setup->resume && !(setup->resume->model() == setup->model))
    throw InputError("--resume: the checkpoint's model (" + setup->resume->model().describe() +
                     ") does not match the configuration (" + setup->model.describe() + ")");
  setup->algorithm = make_algorithm({algorithm, setup->model, setup->inner, setup->weighting, setup->step_sizes,
                                     setup->fewshot});

  std::error_code error;
  fs::create_directories(run_dir, error);
  if (!fs::is_directory(run_dir)) throw InputError("--run-dir " + run_dir.string() + ": cannot create the directory");
  if (leader) {
    std::cout << "metagmm train: " << comm.size() << (comm.size() == 1 ? " rank" : " ranks") << ", tasks from "
              << setup->source->describe() << "\nkernels: " << setup->isa << "\nconfiguration:\n" << o.config
              << std::flush;
  }
  return setup;
}

// One line a benchmark can parse: where rank 0's time went.
void print_times(const train::TrainResult& result, Index meta_batch) {
  const train::TrainTimes& t = result.times;
  const std::int64_t steps = result.steps_run;
  std::cout << std::setprecision(4) << "time: total " << t.total << " s, adapt " << t.adapt << " s, reduce "
            << t.reduce << " s (waiting " << t.wait << " s), update " << t.update << " s, validate " << t.validate
            << " s, checkpoint " << t.checkpoint << " s (" << t.saves << " saves), " << steps << " steps, "
            << (t.total > 0 ? static_cast<double>(steps * meta_batch) / t.total : 0.0) << " tasks/s\n";
}

}  // namespace

int train_command(const std::vector<std::string>& args) {
  // Before MPI_Init, which can take seconds: a stop signal (a batch job's time-limit warning)
  // arriving during start-up then stops the run at its first step boundary, with a checkpoint,
  // instead of killing the rank.
  train::install_stop_handlers();
  comm::MpiRuntime mpi;
  const auto comm = mpi.communicator();
  std::unique_ptr<TrainSetup> setup;
  bool help = false;
  if (const int status = collectively(*comm, "train", [&] {
        setup = prepare(args, *comm);
        help = !setup;
      });
      status != kExitOk || help) {
    return status;
  }
  try {
    std::unique_ptr<task::EpisodeSource> episodes;
    Vector initial;
    const std::uint64_t seed = setup->options.seed;
    if (setup->model.encoder) {
      auto fewshot = std::make_unique<task::FewShotSampler>(*setup->source, setup->fewshot.episodes, seed);
      fewshot->check_training_episodes();
      episodes = std::move(fewshot);
      RandomStream random(seed, StreamPurpose::meta_init);
      if (!setup->resume) initial = meta::he_initial_weights(*setup->model.encoder, random);
    } else {
      episodes = std::make_unique<task::Sampler>(*setup->source, setup->episode, seed);
      if (!setup->resume) {
        initial = setup->init ? setup->init->pack()
                              : train::initial_meta_parameters(*setup->source, setup->model.mixture, seed);
      }
    }
    train::Trainer trainer(setup->options, setup->model, *episodes, *setup->algorithm, *comm, std::cerr,
                           isatty(STDERR_FILENO));
    const auto result = trainer.run(initial, setup->resume ? &*setup->resume : nullptr);
    if (comm->rank() == 0) {
      if (result.outcome == train::TrainOutcome::stopped) {
        std::cout << "stopped by " << train::signal_name(train::stop_signal()) << " after step " << result.step
                  << "; checkpoint " << result.checkpoint.string() << "\n";
      } else {
        std::cout << "finished " << result.step << " steps; checkpoint "
                  << (result.checkpoint.empty() ? std::string("(none: nothing to do)") : result.checkpoint.string())
                  << "\n";
      }
      print_times(result, setup->options.meta_batch);
    }
    return result.outcome == train::TrainOutcome::stopped ? kExitStopped : kExitOk;
  } catch (const std::exception& error) {
    const int status = dynamic_cast<const InputError*>(&error) ? kExitBadInput : kExitFailure;
    std::cerr << "metagmm train: " << (status == kExitBadInput ? "error" : "failed")
              << (comm->size() > 1 ? " on rank " + std::to_string(comm->rank()) : std::string()) << ": "
              << error.what() << std::endl;
    // The other ranks may be waiting in a reduction: end them all now.
    if (comm->size() > 1) comm->abort(status);
    return status;
  }
}

}  // namespace metagmm::cli
