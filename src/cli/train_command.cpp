// metagmm train: options, resume, and the collective error handling around the training loop.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>
#include <set>

#include "algorithm_options.hpp"
#include "command_list.hpp"
#include "common.hpp"
#include "fewshot_options.hpp"
#include "isa_choice.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/comm/communicator.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/meta/protonet.hpp"
#include "metagmm/meta/registry.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/task/transform.hpp"
#include "metagmm/train/checkpoint.hpp"
#include "metagmm/train/signals.hpp"
#include "metagmm/train/trainer.hpp"

namespace metagmm::cli {
namespace {

namespace fs = std::filesystem;

// A resumed run must keep these: they change what the run is, not how long it runs. (Settings
// that change the shape of the meta-parameters, such as learned step sizes, are refused by the
// trainer's check of the checkpoint's blocks.)
const std::vector<std::string> kRunIdentity = {
    "algo", "tasks", "components", "covariance", "encoder-widths", "encoder-start", "seed", "outer",
    "gen-family", "gen-dim", "gen-components", "gen-tasks", "gen-points", "gen-seed", "gen-truth-covariance",
    "gen-box", "gen-scale", "gen-jitter", "gen-drop", "gen-concentration", "gen-warp", "gen-shift", "gen-spin",
    "gen-zoom", "gen-tail-dof", "gen-split"};
// Not part of the stored configuration: where and how this invocation starts.
const std::vector<std::string> kNotStored = {"resume", "run-dir", "config", "help"};

void add_train_options(po::options_description& options) {
  const train::TrainOptions t;
  const task::EpisodeOptions e;
  po::options_description run("Run");
  run.add_options()
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
      ("support", po::value<std::string>()->default_value(e.support_text()),
       "support points per task: what the inner loop adapts on; all: every point of the task is both support and "
       "query (whole-task fitting, the protocol amortised-clustering papers report)")
      ("query", po::value<Index>()->default_value(e.query), "query points per task, scored after adaptation; 0: all the rest");
  po::options_description protonet("Encoder and few-shot episodes (algorithms that learn an encoder: protonet)");
  protonet.add_options()
      ("encoder-widths", po::value<std::string>()->default_value("64,64"),
       "the encoder's layer widths, comma-separated (ReLU between layers; the last is the embedding's dimension)")
      ("encoder-start", po::value<std::string>()->default_value("he"),
       "he: a plain perceptron on the raw inputs, He-initialised; identity: s x + g(x), s a power of two that puts two "
       "random points' squared distance near 16, g reading inputs standardised by the training split's mean and "
       "deviation (both stored in the checkpoint) with its last layer at zero, so that training starts exactly at "
       "raw-feature prototypes (the last width must equal the input dimension)");
  add_fewshot_options(protonet, FewShotSettings{}, false);
  protonet.add_options()
      ("validation-ways", po::value<Index>()->default_value(0),
       "classes per validation episode; 0: --ways, or as many as the validation split's tasks have when fewer "
       "(held-out validation classes from import --class-split)");
  std::string defaults;
  for (const meta::AlgorithmEntry& entry : meta::registered_algorithms())
    defaults += (defaults.empty() ? "" : ", ") + entry.name + " " + entry.outer.method + " " + shortest_text(entry.outer.learning_rate);
  const std::string outer_rate_help =
      "outer learning rate (reptile with sgd: the step fraction epsilon towards the adapted parameters); left at its "
      "default, each algorithm's own: " + defaults;
  const std::string outer_help = "outer optimiser on the meta-gradient: sgd or adam; left at its default, each "
                                 "algorithm's own (see --outer-lr)";
  po::options_description outer("Outer update");
  outer.add_options()
      ("outer", po::value<std::string>()->default_value("sgd"), outer_help.c_str())
      ("outer-lr", real_value(t.outer.learning_rate), outer_rate_help.c_str())
      ("outer-beta1", real_value(t.outer.beta1), "adam: first-moment decay")
      ("outer-beta2", real_value(t.outer.beta2), "adam: second-moment decay")
      ("outer-lr-decay-steps", po::value<long long>()->default_value(0),
       "0: a constant --outer-lr; N > 0: the rate falls from --outer-lr to 0 along half a cosine over the first N "
       "steps (usually --steps), so that the last checkpoints settle instead of jumping about at the full rate; a "
       "function of the step alone, so a resumed run continues it exactly");
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
      ("keep-best", po::value<std::string>()->default_value("no"),
       "yes: also keep DIR/best.h5, the checkpoint of the best validation score so far (protonet: validation "
       "episodes of the validation split's own classes, which must not be training classes; the start counts as "
       "step 0, so best.h5 is the start when no step transfers better)")
      ("progress-seconds", real_value(t.progress_seconds),
       "seconds between progress lines when stderr is not a terminal")
      ("task-cache-mb", real_value(1024), "memory per rank for tasks read once and kept");
  po::options_description family("Tasks generated on the fly (when --tasks is empty)");
  add_generator_options(family, "gen-");
  options.add(run);
  add_algorithm_options(options);
  options.add(model).add(episodes).add(protonet).add(outer).add(monitor).add(family);
}

struct TrainSetup {
  train::TrainOptions options;
  train::ModelShape model;  // the mixture's shape, or protonet's encoder
  task::FewShotOptions fewshot;  // episodes of an encoder-learning algorithm
  task::EpisodeOptions episode;  // support and query of a mixture-learning one
  std::unique_ptr<meta::Algorithm> algorithm;
  std::unique_ptr<task::TaskSource> source;
  std::optional<train::Checkpoint> resume;
  std::optional<gmm::Gmm> init;  // --init FILE
  std::string isa;               // the kernel level and how it was chosen
  bool created_run_dir = false;  // this run made --run-dir: a refusal removes it again
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
  const auto before = parse_key_value_lines(stored), now = parse_key_value_lines(current);
  for (const auto& key : kRunIdentity) {
    const auto a = before.find(key), b = now.find(key);
    // A checkpoint written before an option existed does not store it (the family's --shift, say):
    // its run had the option's default, which a requeued job's unchanged command line repeats.
    if (a == before.end() && b != now.end()) continue;
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

// A resumed run learns the same blocks of extra meta-parameters as its checkpoint holds; when the
// settings would change them, name the settings that changed.
void check_same_blocks(const train::Checkpoint& checkpoint, const meta::Algorithm& algorithm,
                       const std::string& path) {
  const std::string mismatch = train::extra_blocks_mismatch(checkpoint, algorithm);
  if (mismatch.empty()) return;
  std::string changed;
  const meta::Settings now = algorithm.settings();  // kept: values() refers into it
  for (const auto& [name, value] : now.values()) {
    if (!checkpoint.settings.has(name) || checkpoint.settings.at(name) != value) {
      const std::string before = checkpoint.settings.has(name) ? meta::setting_text(checkpoint.settings.at(name)) : "(unset)";
      changed += (changed.empty() ? "" : ", ") + name + " = " + before + " -> " + meta::setting_text(value);
    }
  }
  throw InputError("--resume: " + path + " " + mismatch + " (changed: " + (changed.empty() ? std::string("none") : changed) +
                   "); a resumed run keeps what it learns (start a new --run-dir to change it)");
}

// --tasks as an absolute path, so that the stored configuration still names the file when a
// resumed job starts from another directory (and a relative spelling of it is the same run).
void absolute_tasks_path(po::variables_map& v) {
  const std::string tasks = v["tasks"].as<std::string>();
  if (!tasks.empty()) v.at("tasks").value() = fs::absolute(tasks).lexically_normal().string();
}

// Everything before the first meta-step. Returns nullptr when --help was shown.
// --encoder-widths and --encoder-start; a resumed run keeps its checkpoint's standardisation.
meta::EncoderShape encoder_shape(const po::variables_map& v, task::TaskSource& source, const train::Checkpoint* resume) {
  meta::EncoderShape shape{source.dim(), meta::parse_widths(v["encoder-widths"].as<std::string>(), "--encoder-widths")};
  const std::string start = v["encoder-start"].as<std::string>();
  if (start != "he" && start != "identity")
    throw InputError("--encoder-start: expected he or identity, got '" + start + "'");
  shape.residual = start == "identity";
  if (shape.residual && shape.widths.back() != shape.input) {
    throw InputError("--encoder-widths: --encoder-start identity needs the last width equal to the input dimension d = " +
                     std::to_string(shape.input) + " of " + source.describe() + ", got " +
                     std::to_string(shape.widths.back()) + " (e.g. --encoder-widths 64," + std::to_string(shape.input) + ")");
  }
  if (resume && resume->encoder) return *resume->encoder;
  if (shape.residual) {
    const task::Standardisation fitted =
        task::Standardisation::fit(task::pool_split(source, task::Split::train).points, source.describe() + ": the train split");
    shape.input_offset.assign(fitted.offset.data(), fitted.offset.data() + fitted.offset.size());
    shape.input_scale.assign(fitted.scale.data(), fitted.scale.data() + fitted.scale.size());
    // The softmax's temperature: two random points lie about sqrt(2 d) rms apart, so scaling by
    // sqrt(8 / d) / rms puts their squared distance near 16, whatever d (16 letter features or 784
    // pixels): logits that neither saturate nor all tie.
    const auto d = static_cast<double>(shape.input);
    const double rms = std::sqrt(fitted.scale.squaredNorm() / d);
    shape.skip_scale = meta::power_of_two_near(std::sqrt(8.0 / d) / rms);
  }
  shape.validate();
  return shape;
}

// Choosing a protonet checkpoint by validation only says how it transfers when the validation
// episodes come from classes that training never saw.
void check_held_out_classes(task::TaskSource& source) {
  std::set<std::int32_t> train_classes, validation_classes;
  auto collect = [&](task::Split split, std::set<std::int32_t>& into) {
    for (const Index t : source.tasks_in(split))
      for (const std::int32_t label : source.labels(t))
        if (label >= 0) into.insert(label);
  };
  collect(task::Split::train, train_classes);
  collect(task::Split::validation, validation_classes);
  std::vector<std::int32_t> shared;
  std::set_intersection(train_classes.begin(), train_classes.end(), validation_classes.begin(),
                        validation_classes.end(), std::back_inserter(shared));
  if (validation_classes.empty() || !shared.empty()) {
    throw InputError("--keep-best: protonet chooses its checkpoint on classes it never trained on, and " +
                     source.describe() + "'s validation split " +
                     (validation_classes.empty() ? std::string("has no labelled classes")
                                                 : "shares " + std::to_string(shared.size()) +
                                                       " class(es) with the train split") +
                     " (import --class-split TRAIN:VALIDATION:TEST with VALIDATION classes of its own)");
  }
}

std::unique_ptr<TrainSetup> prepare(const std::vector<std::string>& args, comm::Communicator& comm) {
  const CommandSpec spec{"train", "train [--algo NAME] [--tasks FILE] --run-dir DIR [--resume auto|PATH] [options]",
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
  std::string resumed_from;
  // Before anything a rank could fail at alone: every rank takes part in the agreement.
  setup->isa = agree_isa(comm);
  absolute_tasks_path(v);
  const fs::path run_dir = required<std::string>(v, "run-dir");
  if (v.count("resume")) {
    const std::string resume = v["resume"].as<std::string>();
    const std::string chosen = choose_checkpoint(resume, run_dir, comm);
    if (!chosen.empty()) {
      setup->resume = train::read_checkpoint(chosen);
      resumed_from = chosen;
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

  const meta::AlgorithmEntry& entry = meta::algorithm_entry(v["algo"].as<std::string>());
  const bool encoder = entry.model == meta::ModelKind::encoder;
  if (v["outer-lr"].defaulted()) v.at("outer-lr").value() = entry.outer.learning_rate;
  if (v["outer"].defaulted()) v.at("outer").value() = entry.outer.method;
  train::TrainOptions& o = setup->options;
  o.steps = v["steps"].as<long long>();
  o.seed = seed_option(v);
  o.meta_batch = v["meta-batch"].as<Index>();
  o.outer.method = meta::parse_optimizer(v["outer"].as<std::string>(), "--outer");
  o.outer.learning_rate = v["outer-lr"].as<double>();
  o.outer.beta1 = v["outer-beta1"].as<double>();
  o.outer.beta2 = v["outer-beta2"].as<double>();
  o.outer.decay_steps = non_negative<long long>(v, "outer-lr-decay-steps");
  o.validate_every = non_negative<long long>(v, "validate-every");
  o.validation_tasks = non_negative<Index>(v, "validation-tasks");
  o.checkpoint_every = non_negative<long long>(v, "checkpoint-every");
  o.checkpoint_seconds = v["checkpoint-seconds"].as<double>();
  o.keep = v["keep"].as<int>();
  o.keep_best = yes_no_option(v, "keep-best");
  o.progress_seconds = v["progress-seconds"].as<double>();
  o.run_dir = run_dir;
  o.config = resolved_config(options, v, kNotStored);
  o.validate();

  setup->episode.set_support(v["support"].as<std::string>(), "--support");
  setup->episode.query = v["query"].as<Index>();
  setup->episode.validate();
  const meta::Settings settings = algorithm_settings(entry, v);
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
  if (!encoder) {
    // Every component needs a support point to start from (k-means++ would search for them forever).
    const Index fewest = setup->episode.whole ? setup->source->min_task_size(task::Split::train) : setup->episode.support;
    if (mixture.components > fewest) {
      throw InputError("--components " + std::to_string(mixture.components) + ": more than the " + std::to_string(fewest) +
                       " support points a task adapts on (" +
                       (setup->episode.whole ? "its smallest training task" : "--support") + ")");
    }
  }
  if (encoder) {
    setup->fewshot = fewshot_episodes(v);
    // The episodes must hold what the algorithm's refinement of the prototypes uses.
    if (settings.has("refine-steps"))
      check_refinement({static_cast<int>(settings.integer("refine-steps")), false}, setup->fewshot);
    if (o.validation_tasks > 0) setup->fewshot.validation_episodes = o.validation_tasks;
    setup->fewshot.validation_ways = non_negative<Index>(v, "validation-ways");
    setup->fewshot.validate();
    if (o.keep_best) check_held_out_classes(*setup->source);
    setup->model = train::ModelShape(encoder_shape(v, *setup->source, setup->resume ? &*setup->resume : nullptr));
  }
  // A resumed run continues from its checkpoint: the start it once had is not read again (a
  // requeued job must not fail because that file has moved).
  if (const std::string init = v["init"].as<std::string>(); !init.empty() && !setup->resume) {
    if (encoder) throw InputError("--init: a mixture model file starts a mixture; " + entry.name + " learns an encoder");
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
  setup->algorithm = meta::make_algorithm(entry.name, setup->model, settings);
  if (!setup->resume) {
    if (const auto start = setup->algorithm->initial_model()) {
      if (setup->init)
        throw InputError("--init: --algo " + entry.name + " starts from its own settings' model; leave --init out");
      // Read here, before anything is written, so that a bad start is refused with exit 2.
      setup->init = gmm::Gmm::unpack(mixture, *start);
    }
  }
  if (setup->resume) check_same_blocks(*setup->resume, *setup->algorithm, resumed_from);

  std::error_code error;
  setup->created_run_dir = !fs::exists(run_dir, error);
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

// Runs a prepared training: what may still refuse it (the episodes, the start), then the trainer.
int train_prepared(TrainSetup& setup, comm::Communicator& comm) {
  std::unique_ptr<task::EpisodeSource> episodes;
  Vector initial;
  std::optional<Vector> start;  // an encoder's start, a pure function of the seed: a --keep-best candidate
  const std::uint64_t seed = setup.options.seed;
  if (setup.model.encoder) {
    auto fewshot = std::make_unique<task::FewShotSampler>(*setup.source, setup.fewshot, seed);
    fewshot->check_training_episodes();
    episodes = std::move(fewshot);
    RandomStream random(seed, StreamPurpose::meta_init);
    start = meta::initial_encoder_weights(*setup.model.encoder, random);
    if (!setup.resume) initial = *start;
    if (auto* net = dynamic_cast<meta::ProtoNet*>(setup.algorithm.get())) net->set_anchor(*start);
  } else {
    episodes = std::make_unique<task::Sampler>(*setup.source, setup.episode, seed);
    if (!setup.resume) {
      initial = setup.init ? setup.init->pack()
                            : train::initial_meta_parameters(*setup.source, setup.model.mixture, seed);
    }
  }
  train::Trainer trainer(setup.options, setup.model, *episodes, *setup.algorithm, comm, std::cerr,
                         isatty(STDERR_FILENO));
  const auto result = trainer.run(initial, setup.resume ? &*setup.resume : nullptr, start ? &*start : nullptr);
  if (comm.rank() == 0) {
    if (result.outcome == train::TrainOutcome::stopped) {
      std::cout << "stopped by " << train::signal_name(train::stop_signal()) << " after step " << result.step
                << "; checkpoint " << result.checkpoint.string() << "\n";
    } else {
      std::cout << "finished " << result.step << " steps; checkpoint "
                << (result.checkpoint.empty() ? std::string("(none: nothing to do)") : result.checkpoint.string())
                << "\n";
    }
    if (result.best_step >= 0) {
      std::cout << "best validation score " << shortest_text(result.best_validation) << " at step " << result.best_step
                << (result.best_step == 0 ? " (the start: no step improved on it)" : "") << "; checkpoint "
                << (setup.options.run_dir / train::kBestCheckpointName).string() << "\n";
    }
    print_times(result, setup.options.meta_batch);
  }
  return result.outcome == train::TrainOutcome::stopped ? kExitStopped : kExitOk;
}


}  // namespace

int train_command(const std::vector<std::string>& args, comm::Communicator& comm) {
  std::unique_ptr<TrainSetup> setup;
  bool help = false;
  if (const int status = collectively(comm, "train", [&] {
        setup = prepare(args, comm);
        help = !setup;
      });
      status != kExitOk || help) {
    return status;
  }
  const OutputDirectoryGuard guard(setup->options.run_dir, setup->created_run_dir, comm.rank() == 0);
  return train_prepared(*setup, comm);
}


}  // namespace metagmm::cli
