// metagmm fit: one Gaussian mixture fitted to one dataset, by EM, MAP-EM or a checkpoint's own
// adaptation.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "command_list.hpp"
#include "common.hpp"
#include "fit_data.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/core/text_file.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/init.hpp"
#include "metagmm/gmm/map.hpp"
#include "metagmm/gmm/rand_index.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/meta/gmm_head.hpp"
#include "metagmm/task/fewshot.hpp"
#include "metagmm/meta/bayes.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/task/hierarchical_prior.hpp"
#include "metagmm/task/prior_file.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::cli {
namespace {

std::string assignments_csv(const IntVector& assignments) {
  std::ostringstream out;
  out << "point,component\n";
  for (Index n = 0; n < assignments.size(); ++n) out << n << "," << assignments[n] << "\n";
  return out.str();
}

std::string default_assignments_path(const std::string& out) {
  std::filesystem::path path(out);
  path.replace_extension();
  return path.string() + ".assignments.csv";
}

// What the options ask for.
struct FitRequest {
  std::string out, assignments, init, adapt, prior;
  int heb_steps = 5, restarts = 1;
  std::optional<int> steps;  // --steps: a checkpoint's own adaptation steps; unset: as in training
  gmm::EmOptions em;
  gmm::Relevance relevance;
  std::uint64_t seed = 0;
  gmm::CovarianceType covariance = gmm::CovarianceType::full;
  std::optional<Index> components;  // given
  bool covariance_given = false;
  bool from_prototypes() const { return init == "prototypes"; }
  bool from_file() const { return init != "kmeans++" && init != "random" && !from_prototypes(); }
};

FitRequest read_request(const po::variables_map& v) {
  FitRequest r;
  r.out = required<std::string>(v, "out");
  r.assignments = v.count("assignments") ? v["assignments"].as<std::string>() : default_assignments_path(r.out);
  r.em.max_iterations = v["max-iter"].as<int>();
  r.em.tolerance = v["tol"].as<double>();
  r.em.reg_covar = v["reg-covar"].as<double>();
  r.em.validate();
  r.init = v["init"].as<std::string>();
  r.adapt = v["adapt"].as<std::string>();
  if (r.adapt != "auto" && r.adapt != "em" && r.adapt != "inner" && r.adapt != "map" && r.adapt != "heb")
    throw InputError("--adapt: expected auto, em, map, heb or inner, got '" + r.adapt + "'");
  r.heb_steps = v["heb-steps"].as<int>();
  if (r.heb_steps < 0 || r.heb_steps > 1000) throw InputError("--heb-steps: expected an integer in [0, 1000]");
  if (given(v, "steps")) {
    r.steps = v["steps"].as<int>();
    if (*r.steps < 0 || *r.steps > 100000) throw InputError("--steps: expected an integer in [0, 100000]");
  }
  r.restarts = v["n-init"].as<int>();
  if (r.restarts < 1 || r.restarts > 10000) throw InputError("--n-init: expected an integer in [1, 10000]");
  r.prior = v["prior"].as<std::string>();
  if (!r.prior.empty() && r.prior != "heb" && r.prior != "heb-coupled")
    throw InputError("--prior: expected heb or heb-coupled (estimate a hierarchical prior from --data TASKS:SPLIT), got '" +
                     r.prior + "'");
  r.relevance = gmm::Relevance::parse(v["relevance"].as<std::string>(), "--relevance");
  r.seed = seed_option(v);
  r.covariance = gmm::parse_covariance_type(v["covariance"].as<std::string>(), "--covariance");
  r.covariance_given = given(v, "covariance");
  if (given(v, "components")) r.components = v["components"].as<Index>();
  return r;
}

// The start --init names when it is a file: a model, or a checkpoint's meta-learned mixture.
struct FileStart {
  gmm::Gmm model{gmm::GmmShape{}};
  std::optional<train::Checkpoint> checkpoint;
  std::optional<gmm::HierarchicalPrior> prior;  // a metagmm.prior file: its first E-step's model
};

FileStart read_file_start(const FitRequest& r) {
  const std::string& init = r.init;
  if (!std::filesystem::exists(init)) {
    throw InputError("--init '" + init + "': expected kmeans++, random, prototypes, or an existing model file or "
                     "checkpoint");
  }
  FileStart start;
  if (h5::is_hdf5_file(init) &&
      h5::File::open(init).string_attribute("/", "format") == std::string(train::kCheckpointFormat)) {
    start.checkpoint = train::read_checkpoint(init);
    if (start.checkpoint->encoder) {
      throw InputError("--init " + init + ": a protonet checkpoint holds an encoder, not a mixture (fit in its "
                       "embedding with --encoder)");
    }
    start.model = gmm::Gmm::unpack(start.checkpoint->shape, start.checkpoint->theta);
  } else if (task::is_prior_file(init)) {
    start.prior = task::read_prior_file(init);
    start.model = start.prior->first_model();
  } else {
    start.model = task::read_gmm_file(init);
  }
  if (r.components && *r.components != start.model.shape.components) {
    throw InputError("--components " + std::to_string(*r.components) + " disagrees with --init " + init +
                     ", which has " + std::to_string(start.model.shape.components));
  }
  if (r.covariance_given && r.covariance != start.model.shape.covariance) {
    throw InputError("--covariance " + gmm::to_string(r.covariance) + " disagrees with --init " + init + ", which is " +
                     gmm::to_string(start.model.shape.covariance));
  }
  return start;
}

// --init prototypes: the labels as classes 0..C-1 (-1 unknown), C the components.
IntVector prototype_classes(const FitRequest& r, const FitData& data) {
  IntVector classes = task::class_numbers(data.labels);
  if (classes.size() == 0 || classes.maxCoeff() < 0)
    throw InputError("--init prototypes: " + data.description + " has no labelled points (a label column or /labels)");
  const Index found = classes.maxCoeff() + 1;
  if (r.components && *r.components != found) {
    throw InputError("--components " + std::to_string(*r.components) + " disagrees with the " + std::to_string(found) +
                     " classes of the labelled points (--init prototypes)");
  }
  return classes;
}

// The fitted model and how the fit went.
struct FitOutcome {
  gmm::Gmm model;
  gmm::EmResult result;
  std::string method;  // "em", "map" or "inner"
};

FitOutcome fit(const FitRequest& r, const FitData& data, const std::optional<FileStart>& file, gmm::Gmm model,
               gmm::Evaluator& evaluator) {
  const bool checkpoint = file && file->checkpoint;
  const bool prior = file && file->prior;
  FitOutcome outcome{std::move(model), {}, r.adapt == "auto" ? (checkpoint ? "inner" : prior ? "heb" : "em") : r.adapt};
  if (r.steps && outcome.method != "inner") {
    throw InputError("--steps: counts a checkpoint's own steps (--adapt inner); " + outcome.method +
                     (outcome.method == "heb" ? " takes --heb-steps" : " stops by --max-iter and --tol"));
  }
  if (outcome.method == "heb") {
    if (!prior) {
      throw InputError("--adapt heb: needs --init PRIOR, a hierarchical prior file (metagmm fit --data TASKS:train "
                       "--prior heb --out PRIOR)");
    }
    std::vector<Vector> iterates;
    std::vector<gmm::PosteriorState> path;
    meta::bayes_iterates(*file->prior, data.points, r.heb_steps, path, iterates);
    outcome.model = gmm::Gmm::unpack(outcome.model.shape, iterates.back());
    outcome.result.mean_log_likelihood = evaluator.mean_log_likelihood(outcome.model, data.points);
    outcome.result.iterations = r.heb_steps;
  } else if (prior) {
    throw InputError("--init " + r.init + ": a hierarchical prior adapts by --adapt heb, not " + outcome.method);
  } else if (outcome.method == "inner") {
    if (!checkpoint) throw InputError("--adapt inner: needs --init CHECKPOINT (a checkpoint's own adaptation)");
    const auto algorithm = train::checkpoint_mixture_algorithm(*file->checkpoint, r.init);
    const Vector meta = train::meta_parameters(*file->checkpoint, *algorithm);
    if (r.steps) {  // its own steps, as many as asked (0: the start itself), as eval follows them
      std::vector<Vector> iterates;
      algorithm->adaptation_path(meta, data.points, *r.steps, iterates);
      outcome.model = gmm::Gmm::unpack(outcome.model.shape, iterates.back());
    } else {
      outcome.model = gmm::Gmm::unpack(outcome.model.shape, algorithm->adapted_model(meta, data.points));
    }
    outcome.result.mean_log_likelihood = evaluator.mean_log_likelihood(outcome.model, data.points);
    outcome.result.iterations = r.steps.value_or(algorithm->adaptation_steps());
  } else if (outcome.method == "map") {
    if (!file) throw InputError("--adapt map: needs --init MODEL or CHECKPOINT, the prior to adapt");
    outcome.result = gmm::fit_map(outcome.model, file->model, data.points, r.em, r.relevance, evaluator);
  } else {
    if (checkpoint) {  // EM from the checkpoint's start for these points (an amortised learner's depends on them)
      const auto algorithm = train::checkpoint_mixture_algorithm(*file->checkpoint, r.init);
      std::vector<Vector> start;
      algorithm->adaptation_path(train::meta_parameters(*file->checkpoint, *algorithm), data.points, 0, start);
      outcome.model = gmm::Gmm::unpack(outcome.model.shape, start.front());
    }
    outcome.result = gmm::fit_em(outcome.model, data.points, r.em, evaluator);
  }
  return outcome;
}

std::string fit_settings(const FitRequest& r, const gmm::GmmShape& shape, const std::string& method) {
  std::ostringstream settings;
  settings << "components = " << shape.components << "\ncovariance = " << gmm::to_string(shape.covariance)
           << "\ninit = " << r.init << "\nadapt = " << method;
  if (method == "map") settings << "\nrelevance = " << r.relevance.to_string();
  if (method == "heb") settings << "\nheb-steps = " << r.heb_steps;
  if (method == "inner" && r.steps) settings << "\nsteps = " << *r.steps;
  if (r.restarts > 1) settings << "\nn-init = " << r.restarts;
  settings << "\nmax-iter = " << r.em.max_iterations << "\ntol = " << r.em.tolerance << "\nreg-covar = " << r.em.reg_covar
           << "\nseed = " << r.seed << "\n";
  return settings.str();
}

// The adjusted Rand index of the assignments against the points' known labels, if any.
void print_agreement(const FitData& data, const IntVector& assignments) {
  if (data.labels.size() == 0 || data.labels.maxCoeff() < 0) return;
  std::vector<Index> known;
  for (Index i = 0; i < data.labels.size(); ++i)
    if (data.labels[i] >= 0) known.push_back(i);
  IntVector truth(static_cast<Index>(known.size())), found(static_cast<Index>(known.size()));
  for (std::size_t i = 0; i < known.size(); ++i) {
    truth[static_cast<Index>(i)] = data.labels[known[i]];
    found[static_cast<Index>(i)] = assignments[known[i]];
  }
  std::cout << "ari         " << std::setprecision(4) << gmm::adjusted_rand_index(truth, found)
            << " (adjusted Rand index against " << known.size() << " known labels)\n";
}

void print_report(const FitRequest& r, const FitData& data, const FitOutcome& f, const std::optional<FileStart>& file,
                  double seconds, gmm::Evaluator& evaluator, const IntVector& assignments) {
  const gmm::GmmShape& shape = f.model.shape;
  const bool inner = f.method == "inner";
  std::cout << "data        " << data.description << ", " << data.points.rows() << " points, d = " << data.points.cols()
            << "\nmodel       " << shape.components << " components, " << gmm::to_string(shape.covariance)
            << " covariance, init " << r.init << "\n";
  if (f.method == "heb") {
    std::cout << "adapt       " << f.result.iterations << " variational-EM steps under the hierarchical prior, "
              << "scored as the posterior predictive";
  } else if (inner) {
    std::cout << "adapt       " << f.result.iterations << " inner steps of " << file->checkpoint->algorithm
              << (r.steps ? (*r.steps == 0 ? " (the meta-learned start itself)" : " (--steps)") : ", as in training");
  } else {
    std::cout << (f.method == "map" ? "map-em      " : "em          ") << f.result.iterations << " iterations, "
              << (f.result.converged ? "converged" : "not converged") << " (tol " << shortest_text(r.em.tolerance) << ")";
  }
  std::cout << ", " << std::fixed << std::setprecision(3) << seconds * 1e3 << " ms\n"
            << "loglik      " << std::setprecision(6) << f.result.mean_log_likelihood << " per point\n";
  if (data.truth) {
    std::cout << "truth       " << evaluator.mean_log_likelihood(*data.truth, data.points)
              << " per point (the task's true parameters)\n";
  }
  print_agreement(data, assignments);
  std::cout << "wrote       " << r.out << ", " << r.assignments << "\n";
}

// fit --prior heb: the hierarchical prior of a split's tasks, written to --out.
int write_hierarchical_prior(const FitRequest& r, const po::variables_map& v) {
  const std::string spec = required<std::string>(v, "data");
  const auto colon = spec.rfind(':');
  const std::string path = colon == std::string::npos ? spec : spec.substr(0, colon);
  const std::string suffix = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (suffix != "train" && suffix != "validation" && suffix != "test")
    throw InputError("--prior heb: --data must be TASKS:SPLIT (a task set and a split, e.g. tasks.h5:train), got '" + spec + "'");
  if (!std::filesystem::exists(path) || !h5::is_hdf5_file(path))
    throw InputError("--data " + path + ": expected a task set (HDF5)");
  if (r.covariance_given && r.covariance != gmm::CovarianceType::diag)
    throw InputError("--covariance " + gmm::to_string(r.covariance) + ": the hierarchical prior is for diag");
  { AtomicFile probe(r.out); }
  const auto source = task::open_task_file(path, std::size_t{1} << 30);
  const task::Split split = task::parse_split(suffix, "--data");
  std::string pooled_description;
  gmm::Gmm pooled{gmm::GmmShape{}};
  if (r.init != "kmeans++") {
    if (!std::filesystem::exists(r.init) || task::is_prior_file(r.init))
      throw InputError("--init " + r.init + ": --prior heb aligns the tasks to a pooled model file (metagmm fit)");
    pooled = task::read_gmm_file(r.init);
    if (pooled.shape.covariance != gmm::CovarianceType::diag || pooled.shape.dim != source->dim())
      throw InputError("--init " + r.init + ": expected a diag model in d = " + std::to_string(source->dim()));
    pooled_description = r.init;
  } else {
    if (!r.components) throw_missing("components");
    if (*r.components < 1) throw InputError("--components: expected an integer >= 1");
    pooled = task::fit_pooled_model(*source, split, gmm::GmmShape{*r.components, source->dim(), gmm::CovarianceType::diag},
                                    r.em.reg_covar, r.seed, pooled_description);
  }
  const auto began = Clock::now();
  std::string description;
  const gmm::HierarchicalPrior prior =
      task::estimate_hierarchical_prior(*source, split, pooled, r.em.reg_covar, description, r.prior == "heb-coupled");
  std::ostringstream settings;
  settings << "prior = " << r.prior << "\npooled = " << pooled_description << "\nreg-covar = " << r.em.reg_covar
           << "\nseed = " << r.seed << "\n";
  task::write_prior_file(r.out, prior, spec + ": " + description, settings.str());
  std::cout << "prior       hierarchical empirical Bayes, " << description << "\npooled      " << pooled_description
            << "\nmodel       " << prior.shape.components << " diag components in d = " << prior.shape.dim
            << "\nconcentration " << std::setprecision(4) << prior.concentration.sum()
            << ", strength (median over k, j) " << [&] {
                 std::vector<double> s(prior.strength.data(), prior.strength.data() + prior.strength.size());
                 std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(s.size() / 2), s.end());
                 return s[s.size() / 2];
               }()
            << " pseudo-points, " << std::fixed << std::setprecision(3) << seconds_since(began) * 1e3 << " ms\n"
            << "wrote       " << r.out << "\n";
  return kExitOk;
}

}  // namespace

int fit_command(const std::vector<std::string>& args, comm::Communicator&) {
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
       "al. 2000, until --tol or --max-iter), heb (--heb-steps variational-EM steps under --init PRIOR, a "
       "hierarchical prior from fit --prior heb), or inner (a checkpoint's own adaptation, exactly as training adapted "
       "each task: its --inner, --inner-steps, --inner-lr and learned step sizes); auto: inner for a checkpoint, "
       "heb for a prior, em otherwise")
      ("steps", po::value<int>(),
       "--adapt inner: how many of the checkpoint's own adaptation steps to take (0: the meta-learned start "
       "itself, scored as it is); default: as many as in training")
      ("heb-steps", po::value<int>()->default_value(5),
       "--adapt heb: variational-EM steps under the prior (the adapted model is the posterior predictive)")
      ("prior", po::value<std::string>()->default_value(""),
       "heb: instead of fitting a mixture, estimate a hierarchical prior (hierarchical empirical Bayes) from the "
       "tasks of --data TASKS:SPLIT, each fitted by EM from the pooled model (--init MODEL, or fitted here by EM "
       "from k-means++ on the pooled points with --components), and write it to --out; diagonal covariances. "
       "heb-coupled: the same with one Gaussian prior over all K d means, their full covariance across the tasks "
       "(eval's heb-coupled; train --algo bayes --mean-coupling full starts from it)")
      ("n-init", po::value<int>()->default_value(1),
       "--init kmeans++ or random: fit from N starts and keep the best by the final log-likelihood "
       "(scikit-learn's n_init). --init CHECKPOINT: the checkpoint's start for the data (an amortised learner's "
       "encoder proposes it) refined by EM is one of the N, EM from N - 1 k-means++ starts the others")
      ("relevance", po::value<std::string>()->default_value(gmm::Relevance{}.to_string()),
       "--adapt map: relevance factors r, one for every block or WEIGHTS:MEANS:COVARIANCES")
      ("encoder", po::value<std::string>()->value_name("CHECKPOINT"),
       "a metagmm train --algo protonet checkpoint: embed the points with its encoder and fit in the embedding")
      ("transform", po::value<std::string>()->value_name("TASKSET"),
       "data in raw units (e.g. a CSV of temperature and salinity, or of pixels): map it first as this task set of "
       "metagmm import --netcdf or --idx-images maps its raw data (its stored standardisation or projection), so "
       "a model or checkpoint trained on that task set fits it")
      ("max-iter", po::value<int>()->default_value(em_defaults.max_iterations), "EM iterations at most")
      ("tol", real_value(em_defaults.tolerance), "stop when the mean log-likelihood changes by less")
      ("reg-covar", real_value(em_defaults.reg_covar), "added to every variance (covariance diagonal)")
      ("seed", po::value<long long>()->default_value(0), "random seed of the initialisation")
      ("out", po::value<std::string>()->value_name("FILE"), "output model file, HDF5 (required)")
      ("assignments", po::value<std::string>()->value_name("FILE"), "output CSV of assignments (default: OUT without extension + .assignments.csv)");
  add_csv_options(options);
  po::variables_map v;
  if (!parse_options(spec, options, args, v)) return kExitOk;
  const FitRequest r = read_request(v);
  if (!r.prior.empty()) return write_hierarchical_prior(r, v);
  std::optional<FileStart> file;
  if (r.from_file()) file = read_file_start(r);
  if (!file && !r.from_prototypes()) {
    if (!r.components) throw_missing("components");
    if (*r.components < 1) throw InputError("--components: expected an integer >= 1");
  }
  // Check the outputs can be written before spending time on the fit.
  { AtomicFile probe(r.out); }
  { AtomicFile probe(r.assignments); }

  FitData data = load_fit_data(required<std::string>(v, "data"), csv_options(v));
  if (v.count("transform")) transform_like(data, v["transform"].as<std::string>());
  if (v.count("encoder")) embed(data, v["encoder"].as<std::string>());
  const IntVector classes = r.from_prototypes() ? prototype_classes(r, data) : IntVector();
  const Index N = data.points.rows(), d = data.points.cols();
  const Index components = file ? file->model.shape.components : r.from_prototypes() ? classes.maxCoeff() + 1 : *r.components;
  if (components > N) {
    throw InputError("--components " + std::to_string(components) + " is larger than the " + std::to_string(N) +
                     " points of " + data.description);
  }
  const auto began = Clock::now();
  gmm::Gmm model(gmm::GmmShape{components, d, file ? file->model.shape.covariance : r.covariance});
  if (file) {
    if (file->model.shape.dim != d) {
      throw InputError("--init " + r.init + " has dimension " + std::to_string(file->model.shape.dim) + " but " +
                       data.description + " has " + std::to_string(d));
    }
    model = file->model;
  } else if (r.from_prototypes()) {
    model = meta::prototype_start(data.points, classes, r.covariance, r.em.reg_covar);
  } else {
    RandomStream random(r.seed, StreamPurpose::init, static_cast<std::uint64_t>(data.stream));
    model = gmm::initialize(data.points, model.shape, gmm::parse_init_method(r.init, "--init"), r.em.reg_covar, random);
  }
  gmm::Evaluator evaluator;
  // --n-init with a checkpoint: its start refined by EM is one of the N candidates, EM from
  // k-means++ the others, so that it meets EM with restarts at equal restarts.
  const bool checkpoint_restarts = r.restarts > 1 && file && file->checkpoint;
  FitRequest by_em = r;
  if (checkpoint_restarts) {
    if (r.adapt != "auto" && r.adapt != "em")
      throw InputError("--n-init " + std::to_string(r.restarts) + " with a checkpoint refines every start by EM; "
                       "leave --adapt at auto or give --adapt em");
    by_em.adapt = "em";
  }
  FitOutcome outcome = fit(by_em, data, file, model, evaluator);
  // --n-init: more starts from streams (seed, init, data, r), the best final log-likelihood kept.
  const bool restarts = (!file || checkpoint_restarts) && !r.from_prototypes();
  for (int restart = 1; restart < r.restarts && restarts; ++restart) {
    const gmm::InitMethod init = file ? gmm::InitMethod::kmeans_plus_plus : gmm::parse_init_method(r.init, "--init");
    RandomStream random(r.seed, StreamPurpose::init, static_cast<std::uint64_t>(data.stream),
                        static_cast<std::uint64_t>(restart));
    FitOutcome other = fit(by_em, data, std::nullopt,
                           gmm::initialize(data.points, model.shape, init, r.em.reg_covar, random), evaluator);
    if (other.result.mean_log_likelihood > outcome.result.mean_log_likelihood) outcome = std::move(other);
  }
  const double seconds = seconds_since(began);

  task::FitRecord record;
  record.assignments = evaluator.assignments(outcome.model, data.points);
  record.mean_log_likelihood = outcome.result.mean_log_likelihood;
  record.iterations = outcome.result.iterations;
  record.converged = outcome.result.converged;
  record.data = data.description;
  record.settings = fit_settings(r, outcome.model.shape, outcome.method);
  // Both outputs or neither: each is written to its temporary before either is renamed.
  OutputGroup outputs;
  task::write_gmm_file(outputs.add(r.out), outcome.model, &record);
  write_text_file(outputs.add(r.assignments), assignments_csv(record.assignments));
  outputs.commit();
  print_report(r, data, outcome, file, seconds, evaluator, record.assignments);
  return kExitOk;
}

}  // namespace metagmm::cli
