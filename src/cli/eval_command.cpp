// metagmm eval: trained checkpoints on held-out tasks. Checkpoints of mixture algorithms get
// adaptation curves against the baselines (eval_mixture.cpp, eval/runner.hpp); checkpoints of
// encoders (ProtoNet) few-shot accuracy and the GMM head (eval_protonet.cpp, eval/fewshot.hpp).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "command_list.hpp"
#include "common.hpp"
#include "eval_common.hpp"
#include "isa_choice.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/error.hpp"

namespace metagmm::cli {
namespace {

namespace fs = std::filesystem;

// The tasks the first checkpoint was trained on: its file, or its generated family.
std::unique_ptr<task::TaskSource> training_source(const train::Checkpoint& c, const std::string& path) {
  po::options_description stored;
  stored.add_options()("tasks", po::value<std::string>()->default_value(""), "");
  add_generator_options(stored, "gen-");
  po::variables_map v;
  store_config_text(c.config, path + ": stored configuration", stored, v, true);
  const std::string tasks = v["tasks"].as<std::string>();
  if (!tasks.empty()) return task::open_task_file(tasks, kEvalCacheBytes);
  return task::make_generated_source(generator_options(v, "gen-"), kEvalCacheBytes);
}

// --names: one name per checkpoint, in order, distinct, and spelt so that every table and file can
// carry it (eval.h5 joins the methods' names with newlines; the Markdown tables split on '|').
void name_checkpoints(const std::vector<std::string>& names, std::vector<EvalCheckpoint>& checkpoints) {
  if (names.size() != checkpoints.size()) {
    throw InputError("--names: " + std::to_string(names.size()) + " names for " + std::to_string(checkpoints.size()) +
                     " checkpoints; give one per --checkpoint, in order");
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    const bool spelt = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '+' || c == '#';
    });
    if (!spelt) throw InputError("--names: '" + name + "': expected letters, digits and - _ . + # only");
    if (!seen.insert(name).second) throw InputError("--names: '" + name + "' is given twice");
    checkpoints[i].name = name;
  }
}

EvalInput read_input(const po::variables_map& v) {
  EvalInput input;
  if (!v.count("checkpoint")) throw_missing("checkpoint");
  input.out = required<std::string>(v, "out");
  input.split = task::parse_split(v["split"].as<std::string>(), "--split");
  input.seed = seed_option(v);
  for (const std::string& path : v["checkpoint"].as<std::vector<std::string>>())
    input.checkpoints.push_back({path, train::read_checkpoint(path), ""});
  const bool encoders = input.checkpoints.front().checkpoint.encoder.has_value();
  if (v.count("names")) {
    if (encoders) throw InputError("--names: names mixture checkpoints; ProtoNet results are keyed by each checkpoint's path");
    std::vector<std::string> names = v["names"].as<std::vector<std::string>>();
    if (names == std::vector<std::string>{"run-dirs"}) {  // each named after the directory it was saved in
      names.clear();
      for (const EvalCheckpoint& c : input.checkpoints)
        names.push_back(fs::absolute(fs::path(c.path)).parent_path().filename().string());
    }
    name_checkpoints(names, input.checkpoints);
  }
  for (const EvalCheckpoint& c : input.checkpoints) {
    if (c.checkpoint.encoder.has_value() != encoders) {
      throw InputError("--checkpoint " + c.path + ": trained with --algo " + c.checkpoint.algorithm +
                       ", which cannot be compared with " + input.checkpoints.front().path + " (--algo " +
                       input.checkpoints.front().checkpoint.algorithm +
                       "): evaluate ProtoNet and mixture checkpoints apart");
    }
  }
  const std::string tasks = v["tasks"].as<std::string>();
  input.source = tasks.empty() ? training_source(input.checkpoints.front().checkpoint, input.checkpoints.front().path)
                               : task::open_task_file(tasks, kEvalCacheBytes);
  if (input.source->tasks_in(input.split).empty()) {
    throw InputError(input.source->describe() + ": no tasks in the " + std::string(task::split_name(input.split)) +
                     " split");
  }
  return input;
}

// Made once the inputs and options have been checked: a refused run leaves no directory behind.
// True when this run made it.
bool make_out_directory(const fs::path& out) {
  std::error_code error;
  const bool made = !fs::exists(out, error);
  fs::create_directories(out, error);
  if (!fs::is_directory(out)) throw InputError("--out " + out.string() + ": cannot create the directory");
  return made;
}

}  // namespace

int eval_command(const std::vector<std::string>& args, comm::Communicator& comm) {
  const CommandSpec spec{
      "eval", "eval --checkpoint FILE [FILE ...] [--tasks FILE] [--split test] --out DIR [options]",
      "Evaluates trained checkpoints on held-out tasks (the --split of --tasks, by default the test\n"
      "split of the tasks the first checkpoint was trained on).\n"
      "\n"
      "Mixture checkpoints (reptile, maml, fomaml; several are compared): each task's points are\n"
      "split into --support points to adapt on and query points to score. Every method adapts and\n"
      "is scored after 0, 1, ..., --steps steps: each checkpoint by its own inner steps (its learned\n"
      "step sizes where it has them) and by EM; EM from k-means++ and from random points; the pooled\n"
      "model (EM on every training task's points) as an EM start and MAP-adapted with --relevance;\n"
      "and the oracle (the task's true parameters) where the tasks store them. Reported: the mean\n"
      "query log-likelihood per point with a 95% confidence interval over the tasks, the adjusted\n"
      "Rand index of the query where labels are known, the steps until the support log-likelihood\n"
      "is within --tol of its value after --converge-steps steps, and the wall time per method.\n"
      "Writes DIR/eval.h5 (every per-task number), DIR/summary.csv, DIR/curves.csv and DIR/table.md,\n"
      "prints the table, and with --plot draws DIR/loglik.png (tools/plot_eval.py). Under mpirun the\n"
      "tasks are shared among the ranks; the numbers are the same for any number of ranks.\n"
      "\n"
      "ProtoNet checkpoints (one rank): few-shot accuracy over --episodes N-way K-shot episodes,\n"
      "without and with semi-supervised refinement, beside the identity encoder (prototypes on the\n"
      "raw inputs); then the GMM head: each of the first --head-tasks tasks is clustered by EM on the\n"
      "raw points and in the embedding, from k-means++ and from the prototypes of --shots labelled\n"
      "points per class, scored by the adjusted Rand index. Writes DIR/eval.json and\n"
      "DIR/assignments.csv.\n"
      "Exit status: 0 done, 2 bad input or options, 1 anything else."};
  po::options_description options("Options");
  po::options_description run("Run");
  run.add_options()
      ("checkpoint", po::value<std::vector<std::string>>()->multitoken()->value_name("FILE ..."),
       "checkpoints of metagmm train to evaluate, all on the same tasks: mixture checkpoints (reptile, maml, "
       "fomaml) or protonet checkpoints, not both (required)")
      ("names", po::value<std::vector<std::string>>()->multitoken()->value_name("NAME ..."),
       "the checkpoints' names in the tables and files, one per --checkpoint in order (letters, digits, - _ . + #); "
       "default: the algorithm (NAME#2 for its second checkpoint); run-dirs: each the name of its run directory "
       "(runs/m1/checkpoint-...h5: m1); mixture checkpoints only")
      ("tasks", po::value<std::string>()->default_value(""),
       "task set; empty: the first checkpoint's training tasks (its file, or its generated family)")
      ("split", po::value<std::string>()->default_value("test"), "which split's tasks: train, validation or test")
      ("out", po::value<std::string>()->value_name("DIR"), "directory for the results (required; created if missing)")
      ("seed", po::value<long long>()->default_value(0),
       "random seed of the support/query splits and the baselines' starts (episodes and head starts for protonet)");
  options.add(run);
  add_mixture_eval_options(options);
  add_protonet_eval_options(options);
  po::variables_map v;
  bool help = false;
  EvalInput input;
  bool made_out = false;
  std::shared_ptr<MixtureEvaluation> mixtures;
  eval::FewShotEvalOptions protonet_options;
  if (const int status = collectively(comm, "eval", [&] {
        help = !parse_options(spec, options, args, v, nullptr, comm.rank() == 0);
        if (help) return;
        // Before anything a rank could fail at alone: every rank takes part in the agreement.
        const std::string isa = agree_isa(comm);
        input = read_input(v);
        input.isa = isa;
        if (!input.checkpoints.front().checkpoint.encoder) mixtures = prepare_mixture_evaluation(v, input);
        else protonet_options = protonet_eval_options(v, input);
        made_out = make_out_directory(input.out);
      });
      status != kExitOk || help) {
    return status;
  }
  const OutputDirectoryGuard guard(input.out, made_out, comm.rank() == 0);
  if (!mixtures) {  // ProtoNet evaluation is serial: rank 0 does it
    if (comm.rank() == 0) evaluate_protonets(protonet_options, input);
    return kExitOk;
  }
  evaluate_mixtures(*mixtures, input, comm);
  return kExitOk;
}

}  // namespace metagmm::cli
