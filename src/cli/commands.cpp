#include "metagmm/cli/commands.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "checkpoint_algorithm.hpp"
#include "common.hpp"
#include "isa_choice.hpp"
#include "metagmm/cli/options.hpp"
#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/build_info.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/init.hpp"
#include "metagmm/gmm/kernels.hpp"
#include "metagmm/gmm/map.hpp"
#include "metagmm/gmm/rand_index.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/meta/encoder.hpp"
#include "metagmm/meta/gmm_head.hpp"
#include "metagmm/task/csv.hpp"
#include "metagmm/task/generate.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/task/provenance.hpp"
#include "metagmm/task/sampler.hpp"
#include "metagmm/task/taskset.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void add_csv_options(po::options_description& options) {
  options.add_options()
      ("label-column", po::value<std::string>()->default_value(""), "CSV column with integer labels (-1 unknown): header name or 0-based index")
      ("task-column", po::value<std::string>()->default_value(""), "CSV column naming each row's task: header name or 0-based index")
      ("delimiter", po::value<char>()->default_value(','), "CSV field separator")
      ("header", po::value<std::string>()->default_value("detect"), "CSV header row: detect (a first row with any non-number), yes, no");
}

task::CsvOptions csv_options(const po::variables_map& v) {
  task::CsvOptions o;
  o.label_column = v["label-column"].as<std::string>();
  o.task_column = v["task-column"].as<std::string>();
  o.delimiter = v["delimiter"].as<char>();
  o.header = task::parse_csv_header(v["header"].as<std::string>(), "--header");
  return o;
}

}  // namespace

// ---- generate ----------------------------------------------------------------------------

int generate_command(const std::vector<std::string>& args) {
  const CommandSpec spec{"generate", "generate --family uniform|anchored|warped --out FILE [options]",
                         "Writes a synthetic task set (HDF5) with labels, true parameters under /truth and a\n"
                         "train/validation/test split. Deterministic for a seed: task t depends only on the seed,\n"
                         "the family options and t."};
  po::options_description options("Options");
  options.add_options()("out", po::value<std::string>()->value_name("FILE"), "output task set (required)");
  add_generator_options(options, "");
  po::variables_map v;
  if (!parse_options(spec, options, args, v)) return kExitOk;
  const auto out = required<std::string>(v, "out");
  const task::GeneratorOptions o = generator_options(v, "");

  const auto start = Clock::now();
  task::generate_task_set(o, out, [&](Index done) {
    std::cerr << "generate: " << done << " / " << o.tasks << " tasks\n";
  });
  const task::TaskSetReader written(out);
  std::cout << "wrote " << written.task_count() << " tasks (" << written.info().points << " points, d = " << o.dim
            << ", family " << task::to_string(o.family) << ") to " << out << " in " << std::fixed
            << std::setprecision(2) << seconds_since(start) << " s\n";
  return kExitOk;
}

// ---- import ------------------------------------------------------------------------------

int import_command(const std::vector<std::string>& args) {
  const CommandSpec spec{"import", "import --csv FILE --out FILE [--label-column C] [--task-column C] [options]",
                         "Converts a CSV table of points (optionally gzip-compressed, FILE.gz) into a task set.\n"
                         "Every column other than the label and task columns is a coordinate. Rows are grouped\n"
                         "into tasks by the task column, in order of first appearance; without one the whole\n"
                         "file is one task. With --class-split, one labelled pool becomes a few-shot benchmark:\n"
                         "one task per split holding the points of that split's classes."};
  po::options_description options("Options");
  options.add_options()
      ("csv", po::value<std::string>()->value_name("FILE"), "input CSV file (required)")
      ("out", po::value<std::string>()->value_name("FILE"), "output task set (required)")
      ("split", po::value<std::string>()->default_value("1:0:0"), "task fractions TRAIN:VALIDATION:TEST")
      ("seed", po::value<long long>()->default_value(0), "seed of the shuffle that assigns splits")
      ("class-split", po::value<std::string>()->value_name("TRAIN:VALIDATION:TEST"),
       "split one labelled pool by class, e.g. 0-4::5-9 (class lists: ranges and commas; VALIDATION may be "
       "empty): the train task holds the TRAIN classes, the test task the TEST classes; rows of other classes "
       "are left out. Needs --label-column; replaces --split")
      ("validation-fraction", real_value(task::ClassSplit{}.validation_fraction),
       "with --class-split: the fraction of each TRAIN class's rows held out (seeded) into the validation task, "
       "beside the VALIDATION classes");
  add_csv_options(options);
  po::variables_map v;
  if (!parse_options(spec, options, args, v)) return kExitOk;
  const auto csv = required<std::string>(v, "csv");
  const auto out = required<std::string>(v, "out");
  const auto split = task::SplitFractions::parse(v["split"].as<std::string>(), "--split");
  std::optional<task::ClassSplit> classes;
  if (v.count("class-split")) {
    if (given(v, "split")) throw InputError("--class-split: cannot be combined with --split");
    classes = task::ClassSplit::parse(v["class-split"].as<std::string>(), "--class-split");
    classes->validation_fraction = v["validation-fraction"].as<double>();
  } else if (given(v, "validation-fraction")) {
    throw InputError("--validation-fraction: only used with --class-split");
  }
  task::import_csv(csv, out, csv_options(v), split, seed_option(v), classes ? &*classes : nullptr);
  const task::TaskSetReader written(out);
  std::cout << "wrote " << written.task_count() << " tasks (" << written.info().points << " points, d = "
            << written.dim() << (written.info().labels ? ", labelled" : "") << ") to " << out << "\n";
  return kExitOk;
}

// ---- inspect -----------------------------------------------------------------------------

namespace {

void print_settings(const std::string& settings) {
  std::istringstream lines(settings);
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    std::cout << (first ? "settings    " : "            ") << line << "\n";
    first = false;
  }
}

void inspect_task_set(const std::string& path) {
  const task::TaskSetReader reader(path);
  const task::TaskSetInfo& info = reader.info();
  std::vector<Index> sizes(info.tasks);
  for (Index t = 0; t < info.tasks; ++t) sizes[t] = reader.task_size(t);
  std::sort(sizes.begin(), sizes.end());
  std::cout << "file        " << path << "\n"
            << "format      " << info.format << " version " << info.version << "\n"
            << "dim         " << info.dim << "\n"
            << "tasks       " << info.tasks << " (train " << reader.tasks_in(task::Split::train).size() << ", validation "
            << reader.tasks_in(task::Split::validation).size() << ", test " << reader.tasks_in(task::Split::test).size() << ")\n"
            << "points      " << info.points << "; per task min " << sizes.front() << ", median " << sizes[sizes.size() / 2]
            << ", mean " << std::fixed << std::setprecision(1) << static_cast<double>(info.points) / static_cast<double>(info.tasks)
            << ", max " << sizes.back() << "\n"
            << "labels      " << (info.labels ? "yes" : "no") << "\n"
            << "truth       " << (info.truth ? "yes (" + info.truth_space + " space)" : std::string("no")) << "\n"
            << "generator   " << info.generator << "\n";
  print_settings(info.settings);
  std::cout << "created by  " << info.created_by << "\n"
            << "written by  " << task::describe(info.provenance) << "\n";
}

void inspect_model(const std::string& path) {
  const gmm::Gmm model = task::read_gmm_file(path);
  const h5::File file = h5::File::open(path);
  std::cout << "file        " << path << "\n"
            << "format      " << task::kGmmFormat << " version " << file.int_attribute("/", "version").value_or(0) << "\n"
            << "written by  " << task::describe(task::read_provenance(file)) << "\n"
            << "model       " << model.shape.components << " components, " << gmm::to_string(model.shape.covariance)
            << " covariance, d = " << model.shape.dim << ", " << model.shape.parameter_count() << " parameters\n";
  if (auto data = file.string_attribute("/", "data")) {
    std::cout << "fitted on   " << *data << "\n"
              << "loglik      " << std::setprecision(6) << file.double_attribute("/", "mean_log_likelihood").value_or(0)
              << " per point after " << file.int_attribute("/", "iterations").value_or(0) << " iterations ("
              << (file.int_attribute("/", "converged").value_or(0) ? "converged" : "not converged") << ")\n";
  }
  const Vector weights = model.weights();
  std::cout << "weights    ";
  for (Index k = 0; k < weights.size(); ++k) std::cout << " " << std::setprecision(4) << weights[k];
  std::cout << "\n";
}

void inspect_checkpoint(const std::string& path) {
  const train::Checkpoint c = train::read_checkpoint(path);  // checks the checksum
  std::cout << "file        " << path << "\n"
            << "format      " << train::kCheckpointFormat << " version " << c.format_version
            << " (checksum verified)\n"
            << "written by  " << task::describe(c.provenance) << "\n"
            << "algorithm   " << c.algorithm << ", step " << c.step << ", seed " << c.seed << "\n"
            << "model       " << c.model().describe() << ", " << c.theta.size() << " parameters\n"
            << "optimizer   " << c.optimizer << ", " << c.optimizer_state.steps << " updates\n";
  if (c.metrics.size() > 0) {
    std::cout << "last step   loss " << std::setprecision(6) << c.metrics.loss.back() << ", " << c.metrics.elapsed.back()
              << " s of training\n";
    for (std::size_t i = c.metrics.size(); i-- > 0;) {
      if (!std::isnan(c.metrics.validation[i])) {
        std::cout << "validation  " << c.metrics.validation[i] << " per point at step " << c.metrics.step[i] << "\n";
        break;
      }
    }
  }
  if (!c.encoder) {
    const Vector weights = gmm::Gmm::unpack(c.shape, c.theta).weights();
    std::cout << "weights    ";
    for (Index k = 0; k < weights.size(); ++k) std::cout << " " << std::setprecision(4) << weights[k];
  } else {
    std::cout << "weights     |phi| = " << std::setprecision(4) << c.theta.norm();
  }
  const auto config = parse_config_lines(c.config);
  const auto inner = config.find("inner");
  if (c.algorithm == "maml" && inner != config.end() && inner->second == "map") {
    const Vector r = c.inner_log_step_sizes.array().exp();
    std::cout << "\nrelevance   learned r (weights, means, covariances):";
    for (Index b = 0; b < r.size(); ++b) std::cout << " " << std::setprecision(4) << r[b];
  } else if (c.inner_log_step_sizes.size() > 0) {
    const Vector alpha = c.inner_log_step_sizes.array().exp();
    std::cout << "\nstep sizes  " << alpha.size() << " learned inner step sizes (Meta-SGD), from " << alpha.minCoeff()
              << " to " << alpha.maxCoeff();
  }
  std::cout << "\nconfiguration:\n" << c.config;
}

}  // namespace

int inspect_command(const std::vector<std::string>& args) {
  const CommandSpec spec{"inspect", "inspect FILE",
                         "Prints what a task set, a fitted model or a training checkpoint holds: format, version,\n"
                         "dimension, task count and size distribution, splits, labels, truth and how it was made;\n"
                         "for a checkpoint the step, model, optimiser, last loss and validation, and the\n"
                         "configuration (after verifying its checksum)."};
  po::options_description options("Options");
  options.add_options()("file", po::value<std::string>()->value_name("FILE"),
                        "task set, model or checkpoint file (also positional)");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map v;
  if (!parse_options(spec, options, args, v, &positional)) return kExitOk;
  const auto path = required<std::string>(v, "file");
  const h5::File file = h5::File::open(path);
  const auto format = file.string_attribute("/", "format").value_or("(none)");
  if (format == task::kTaskSetFormat) {
    inspect_task_set(path);
  } else if (format == task::kGmmFormat) {
    inspect_model(path);
  } else if (format == train::kCheckpointFormat) {
    inspect_checkpoint(path);
  } else {
    throw InputError(path + ": format '" + format + "' is none of " + task::kTaskSetFormat + ", " + task::kGmmFormat +
                     ", " + train::kCheckpointFormat);
  }
  return kExitOk;
}

// ---- fit ---------------------------------------------------------------------------------

namespace {

struct FitData {
  RowMatrix points;
  std::optional<gmm::Gmm> truth;  // the task's true parameters, where stored in data space
  std::string description;
  Index stream = 0;  // names the initialisation's random stream: the task index
  IntVector labels;  // component or class per point (-1 unknown); empty when the data has none
};

// Every task of one split of a task set, pooled into one point set.
FitData pooled_split(const std::string& path, task::Split split) {
  const auto source = task::open_task_file(path, 0);
  task::PooledTasks pooled = task::pool_split(*source, split);
  FitData data;
  data.points = std::move(pooled.points);
  data.labels = std::move(pooled.labels);
  // Its own initialisation stream, apart from every task's (whose index names theirs).
  data.stream = pooled_stream(*source, split);
  data.description = path + ":" + task::split_name(split) + " (the " + std::to_string(pooled.tasks) +
                     " tasks of the " + task::split_name(split) + " split, pooled)";
  return data;
}

FitData load_fit_data(const std::string& spec, const task::CsvOptions& csv) {
  // FILE:TASK selects a task of a task set, FILE:SPLIT pools a split's tasks; the suffix must be
  // a number or a split name so that paths with colons work.
  std::string path = spec;
  std::optional<Index> task;
  const auto colon = spec.rfind(':');
  const std::string suffix = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (!suffix.empty() && std::filesystem::exists(spec.substr(0, colon))) {
    if (suffix == "train" || suffix == "validation" || suffix == "test") {
      if (!h5::is_hdf5_file(spec.substr(0, colon)))
        throw InputError("--data " + spec + ": FILE:SPLIT needs a task set (HDF5)");
      return pooled_split(spec.substr(0, colon), task::parse_split(suffix, "--data"));
    }
    if (std::all_of(suffix.begin(), suffix.end(), ::isdigit)) {
      path = spec.substr(0, colon);
      task = std::stoll(suffix);
    }
  }
  if (!std::filesystem::exists(path)) throw InputError("--data " + path + ": no such file");
  FitData data;
  if (h5::is_hdf5_file(path)) {
    const task::TaskSetReader reader(path);
    const Index t = task.value_or(0);
    data.points = reader.points(t);
    data.stream = t;
    if (reader.info().labels) data.labels = reader.labels(t);
    if (reader.info().truth && reader.info().truth_space == "data") data.truth = reader.truth(t);
    data.description = path + ":" + std::to_string(t) + " (task " + std::to_string(t) + " of " +
                       std::to_string(reader.task_count()) + (task ? "" : "; choose one with FILE:TASK") + ")";
  } else {
    if (task) throw InputError("--data " + spec + ": FILE:TASK needs a task set (HDF5), not a CSV file");
    const task::CsvData table = task::read_csv(path, csv);
    if (table.task_names.size() != 1) {
      throw InputError("--data " + path + ": the CSV holds " + std::to_string(table.task_names.size()) +
                       " tasks; import it (metagmm import) and fit FILE:TASK");
    }
    data.points = table.points;
    data.labels = table.labels;
    data.description = path;
  }
  return data;
}

// The inner steps a checkpoint's adaptation takes (from its stored configuration).
int inner_steps(const train::Checkpoint& checkpoint) {
  const auto config = parse_config_lines(checkpoint.config);
  const auto found = config.find("inner-steps");
  return found == config.end() ? 0 : std::stoi(found->second);
}

// The points replaced by their embedding under a ProtoNet checkpoint's encoder.
void embed(FitData& data, const std::string& checkpoint_path) {
  const train::Checkpoint checkpoint = train::read_checkpoint(checkpoint_path);
  if (!checkpoint.encoder) {
    throw InputError("--encoder " + checkpoint_path + ": trained with --algo " + checkpoint.algorithm +
                     ", which has no encoder (expected protonet)");
  }
  if (checkpoint.encoder->input != data.points.cols()) {
    throw InputError("--encoder " + checkpoint_path + ": its encoder takes " + std::to_string(checkpoint.encoder->input) +
                     " inputs, " + data.description + " has d = " + std::to_string(data.points.cols()));
  }
  meta::Encoder encoder(*checkpoint.encoder);
  data.points = encoder.forward(checkpoint.theta, data.points);
  data.truth.reset();  // the true parameters live in the data space
  data.description += ", embedded by " + checkpoint_path;
}

void write_assignments_csv(const std::string& path, const IntVector& assignments) {
  AtomicFile output(path);
  {
    std::ofstream out(output.temp_path());
    out << "point,component\n";
    for (Index n = 0; n < assignments.size(); ++n) out << n << "," << assignments[n] << "\n";
    out.flush();
    if (!out) throw InputError("cannot write " + path + " (disk full?)");
  }
  output.commit();
}

std::string default_assignments_path(const std::string& out) {
  std::filesystem::path path(out);
  path.replace_extension();
  return path.string() + ".assignments.csv";
}

}  // namespace

int fit_command(const std::vector<std::string>& args) {
  const CommandSpec spec{"fit", "fit --data FILE[:TASK|:SPLIT] --components K [--covariance diag|spherical|full] "
                                "[--init kmeans++|random|prototypes|MODEL] [--encoder CHECKPOINT] --out FILE [options]",
                         "Fits a Gaussian mixture to one dataset (a CSV file, or task TASK of a task set) by EM,\n"
                         "with scikit-learn's algorithm and stopping rule. Writes the parameters and the\n"
                         "assignments to an HDF5 model file and the assignments to a CSV file, and prints the\n"
                         "mean log-likelihood per point and the iterations used. With --encoder (a ProtoNet\n"
                         "checkpoint) the points are embedded first and the mixture is fitted in the embedding\n"
                         "(the GMM head). Where points carry labels, the adjusted Rand index of the assignments\n"
                         "against them is printed."};
  const gmm::EmOptions em_defaults;
  po::options_description options("Options");
  options.add_options()
      ("data", po::value<std::string>()->value_name("FILE[:TASK|:SPLIT]"),
       "CSV file, or task set with an optional task index (default 0), or with train, validation or test: all "
       "that split's tasks pooled, e.g. for a pooled model to MAP-adapt (required)")
      ("components", po::value<Index>(), "number of components K (required unless --init is a model file)")
      ("covariance", po::value<std::string>()->default_value("full"), "covariance type: diag, spherical or full")
      ("init", po::value<std::string>()->default_value("kmeans++"),
       "start: kmeans++ (k-means++ seeding and Lloyd's k-means, scikit-learn's default), random (K distinct "
       "points), prototypes (the means of the labelled points' classes, K = their number; points labelled -1 "
       "are unlabelled), a model file written by metagmm fit, or a checkpoint of metagmm train (its "
       "meta-learned mixture)")
      ("adapt", po::value<std::string>()->default_value("auto"),
       "from a start: em (EM until --tol or --max-iter), map (MAP-EM towards the start as the prior, Reynolds et "
       "al. 2000, until --tol or --max-iter), or inner (a checkpoint's own adaptation, exactly as training adapted "
       "each task: its --inner, --inner-steps, --inner-lr and learned step sizes); auto: inner for a checkpoint, "
       "em otherwise")
      ("relevance", po::value<std::string>()->default_value(gmm::Relevance{}.to_string()),
       "--adapt map: relevance factors r, one for every block or WEIGHTS:MEANS:COVARIANCES")
      ("encoder", po::value<std::string>()->value_name("CHECKPOINT"),
       "a metagmm train --algo protonet checkpoint: embed the points with its encoder and fit in the embedding")
      ("max-iter", po::value<int>()->default_value(em_defaults.max_iterations), "EM iterations at most")
      ("tol", real_value(em_defaults.tolerance), "stop when the mean log-likelihood changes by less")
      ("reg-covar", real_value(em_defaults.reg_covar), "added to every variance (covariance diagonal)")
      ("seed", po::value<long long>()->default_value(0), "random seed of the initialisation")
      ("out", po::value<std::string>()->value_name("FILE"), "output model file, HDF5 (required)")
      ("assignments", po::value<std::string>()->value_name("FILE"), "output CSV of assignments (default: OUT without extension + .assignments.csv)");
  add_csv_options(options);
  po::variables_map v;
  if (!parse_options(spec, options, args, v)) return kExitOk;

  const auto out = required<std::string>(v, "out");
  const auto assignments_path = v.count("assignments") ? v["assignments"].as<std::string>() : default_assignments_path(out);
  gmm::EmOptions em;
  em.max_iterations = v["max-iter"].as<int>();
  em.tolerance = v["tol"].as<double>();
  em.reg_covar = v["reg-covar"].as<double>();
  em.validate();
  const std::string init = v["init"].as<std::string>();
  const bool from_prototypes = init == "prototypes";
  const std::string adapt = v["adapt"].as<std::string>();
  if (adapt != "auto" && adapt != "em" && adapt != "inner" && adapt != "map")
    throw InputError("--adapt: expected auto, em, map or inner, got '" + adapt + "'");
  const gmm::Relevance relevance = gmm::Relevance::parse(v["relevance"].as<std::string>(), "--relevance");
  const bool init_from_file = init != "kmeans++" && init != "random" && !from_prototypes;
  const auto seed = seed_option(v);
  auto covariance = gmm::parse_covariance_type(v["covariance"].as<std::string>(), "--covariance");
  std::optional<gmm::Gmm> start;
  std::optional<train::Checkpoint> checkpoint;  // --init CHECKPOINT
  Index components = 0;
  if (init_from_file) {
    if (!std::filesystem::exists(init)) {
      throw InputError("--init '" + init + "': expected kmeans++, random, prototypes, or an existing model file or "
                       "checkpoint");
    }
    if (h5::is_hdf5_file(init) &&
        h5::File::open(init).string_attribute("/", "format") == std::string(train::kCheckpointFormat)) {
      checkpoint = train::read_checkpoint(init);
      if (checkpoint->encoder) {
        throw InputError("--init " + init + ": a protonet checkpoint holds an encoder, not a mixture (fit in its "
                         "embedding with --encoder)");
      }
      start = gmm::Gmm::unpack(checkpoint->shape, checkpoint->theta);
    } else {
      start = task::read_gmm_file(init);
    }
    if (given(v, "components") && v["components"].as<Index>() != start->shape.components) {
      throw InputError("--components " + std::to_string(v["components"].as<Index>()) + " disagrees with --init " + init +
                       ", which has " + std::to_string(start->shape.components));
    }
    if (given(v, "covariance") && covariance != start->shape.covariance) {
      throw InputError("--covariance " + gmm::to_string(covariance) + " disagrees with --init " + init + ", which is " +
                       gmm::to_string(start->shape.covariance));
    }
    components = start->shape.components;
    covariance = start->shape.covariance;
  } else if (!from_prototypes) {
    components = required<Index>(v, "components");
    if (components < 1) throw InputError("--components: expected an integer >= 1");
  }
  // Check the outputs can be written before spending time on the fit.
  { AtomicFile probe(out); }
  { AtomicFile probe(assignments_path); }

  FitData data = load_fit_data(required<std::string>(v, "data"), csv_options(v));
  if (v.count("encoder")) embed(data, v["encoder"].as<std::string>());
  IntVector classes;  // the labels as classes 0..C-1 (-1 unknown), for --init prototypes
  if (from_prototypes) {
    classes = class_numbers(data.labels);
    if (classes.size() == 0 || classes.maxCoeff() < 0)
      throw InputError("--init prototypes: " + data.description + " has no labelled points (a label column or /labels)");
    const Index found = classes.maxCoeff() + 1;
    if (given(v, "components") && v["components"].as<Index>() != found) {
      throw InputError("--components " + std::to_string(v["components"].as<Index>()) + " disagrees with the " +
                       std::to_string(found) + " classes of the labelled points (--init prototypes)");
    }
    components = found;
  }
  const Index N = data.points.rows(), d = data.points.cols();
  if (components > N) {
    throw InputError("--components " + std::to_string(components) + " is larger than the " + std::to_string(N) +
                     " points of " + data.description);
  }
  const auto began = Clock::now();
  gmm::Gmm model(gmm::GmmShape{components, d, covariance});
  if (start) {
    if (start->shape.dim != d) {
      throw InputError("--init " + init + " has dimension " + std::to_string(start->shape.dim) + " but " + data.description +
                       " has " + std::to_string(d));
    }
    model = *start;
  } else if (from_prototypes) {
    model = meta::prototype_start(data.points, classes, covariance, em.reg_covar);
  } else {
    RandomStream random(seed, StreamPurpose::init, static_cast<std::uint64_t>(data.stream));
    model = gmm::initialize(data.points, model.shape, gmm::parse_init_method(init, "--init"), em.reg_covar, random);
  }
  const bool inner = adapt == "inner" || (adapt == "auto" && checkpoint);
  if (inner && !checkpoint) throw InputError("--adapt inner: needs --init CHECKPOINT (a checkpoint's own adaptation)");
  const bool map = adapt == "map";
  if (map && !start) throw InputError("--adapt map: needs --init MODEL or CHECKPOINT, the prior to adapt");
  std::unique_ptr<meta::Algorithm> algorithm;
  if (inner) algorithm = checkpoint_algorithm(*checkpoint, init);
  gmm::Evaluator evaluator;
  gmm::EmResult result;
  if (inner) {
    model = gmm::Gmm::unpack(model.shape, algorithm->adapted_model(meta_parameters(*checkpoint), data.points));
    result.mean_log_likelihood = evaluator.mean_log_likelihood(model, data.points);
    result.iterations = inner_steps(*checkpoint);
  } else if (map) {
    result = gmm::fit_map(model, *start, data.points, em, relevance, evaluator);
  } else {
    result = gmm::fit_em(model, data.points, em, evaluator);
  }

  task::FitRecord record;
  record.assignments = evaluator.assignments(model, data.points);
  record.mean_log_likelihood = result.mean_log_likelihood;
  record.iterations = result.iterations;
  record.converged = result.converged;
  record.data = data.description;
  std::ostringstream settings;
  settings << "components = " << components << "\ncovariance = " << gmm::to_string(covariance) << "\ninit = " << init
           << "\nadapt = " << (inner ? "inner" : map ? "map\nrelevance = " + relevance.to_string() : "em")
           << "\nmax-iter = " << em.max_iterations << "\ntol = " << em.tolerance << "\nreg-covar = " << em.reg_covar
           << "\nseed = " << seed << "\n";
  record.settings = settings.str();
  task::write_gmm_file(out, model, &record);
  write_assignments_csv(assignments_path, record.assignments);

  std::cout << "data        " << data.description << ", " << N << " points, d = " << d << "\n"
            << "model       " << components << " components, " << gmm::to_string(covariance) << " covariance, init "
            << init << "\n"
            << (inner ? "adapt       " : map ? "map-em      " : "em          ") << result.iterations << (inner ? " inner steps of " + checkpoint->algorithm + ", " : " iterations, ")
            << (inner ? "as in training" : result.converged ? "converged" : "not converged")
            << (inner ? std::string() : " (tol " + shortest_text(em.tolerance) + ")") << ", " << std::fixed << std::setprecision(3) << seconds_since(began) * 1e3 << " ms\n"
            << "loglik      " << std::setprecision(6) << result.mean_log_likelihood << " per point\n";
  if (data.truth) {
    std::cout << "truth       " << evaluator.mean_log_likelihood(*data.truth, data.points)
              << " per point (the task's true parameters)\n";
  }
  if (data.labels.size() > 0 && data.labels.maxCoeff() >= 0) {
    std::vector<Index> known;
    for (Index i = 0; i < N; ++i)
      if (data.labels[i] >= 0) known.push_back(i);
    IntVector truth(static_cast<Index>(known.size())), found(static_cast<Index>(known.size()));
    for (std::size_t i = 0; i < known.size(); ++i) {
      truth[static_cast<Index>(i)] = data.labels[known[i]];
      found[static_cast<Index>(i)] = record.assignments[known[i]];
    }
    std::cout << "ari         " << std::setprecision(4) << gmm::adjusted_rand_index(truth, found) << " (adjusted Rand index against "
              << known.size() << " known labels)\n";
  }
  std::cout << "wrote       " << out << ", " << assignments_path << "\n";
  return kExitOk;
}

// ---- version -----------------------------------------------------------------------------

int version_command() {
  std::cout << "metagmm " << version() << " (revision " << git_revision() << ")\n"
            << "compiler    " << compiler() << "\n"
            << "built for   " << build_target()
            << (build_target() == "native" ? " (this build's processor only)" : " (any x86-64-v3 processor)") << "\n"
            << "kernels     " << join_isa_levels(gmm::compiled_kernel_levels()) << " compiled in; this processor supports "
            << join_isa_levels(supported_isa_levels()) << "\n"
            << "in use      " << to_string(gmm::kernels().level)
            << (isa_forced() ? " (METAGMM_ISA)" : " (the highest this processor supports)")
            << "\n";
  return kExitOk;
}

// ---- dispatch ----------------------------------------------------------------------------

int run(int argc, char** argv) {
  const std::string overview =
      "usage: metagmm COMMAND [options]   (metagmm COMMAND --help for its options)\n\n"
      "commands:\n"
      "  generate   write a synthetic task set (uniform, anchored or warped family)\n"
      "  import     convert a CSV table of points into a task set\n"
      "  inspect    show what a task set or model file holds\n"
      "  fit        fit a Gaussian mixture to one dataset by EM\n"
      "  train      meta-learn across tasks (Reptile, MAML, FOMAML, ProtoNet), under mpirun or alone\n"
      "  eval       evaluate trained checkpoints on held-out tasks against the baselines\n"
      "             (mixtures: log-likelihood curves; ProtoNet: few-shot accuracy and clustering)\n\n"
      "  --version  the version, git revision, compiler and kernel levels (compiled in and in use)\n\n"
      "environment: METAGMM_ISA=sse2|avx2|avx512|auto chooses the kernels' instruction set\n"
      "             (default auto: the highest this processor supports; under MPI, the lowest\n"
      "             of the ranks' levels)\n\n"
      "exit status: 0 done, 2 bad input or options, 3 stopped by a signal after a checkpoint,\n"
      "             1 anything else\n";
  if (argc < 2) {
    std::cerr << overview;
    return kExitBadInput;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << overview;
    return kExitOk;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    choose_process_isa();
    if (command == "--version" || command == "version") return version_command();
    if (command == "generate") return generate_command(args);
    if (command == "import") return import_command(args);
    if (command == "inspect") return inspect_command(args);
    if (command == "fit") return fit_command(args);
    if (command == "train") return train_command(args);
    if (command == "eval") return eval_command(args);
    std::cerr << "metagmm: unknown command '" << command << "'\n" << overview;
    return kExitBadInput;
  } catch (const InputError& error) {
    std::cerr << "metagmm " << command << ": error: " << error.what() << std::endl;
    return kExitBadInput;
  } catch (const std::exception& error) {
    std::cerr << "metagmm " << command << ": failed: " << error.what() << std::endl;
    return kExitFailure;
  }
}

}  // namespace metagmm::cli
