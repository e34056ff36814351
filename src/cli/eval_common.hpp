#pragma once
// metagmm eval's parts (private to the cli layer): the checkpoints and the task set they are
// evaluated on, and one evaluation for each kind of checkpoint (a ProtoNet encoder, or a
// meta-learned mixture initialisation).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "metagmm/cli/options.hpp"
#include "metagmm/comm/communicator.hpp"
#include "metagmm/eval/fewshot.hpp"
#include "metagmm/task/sampler.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::cli {

// Memory for tasks read once and kept (evaluation reads each task a few times).
inline constexpr std::size_t kEvalCacheBytes = std::size_t{1} << 30;

struct EvalCheckpoint {
  std::string path;
  train::Checkpoint checkpoint;
  std::string name;  // --names: its column's name; empty: the algorithm (NAME#2 for its second checkpoint)
};

struct EvalInput {
  std::vector<EvalCheckpoint> checkpoints;
  std::unique_ptr<task::TaskSource> source;  // --tasks, or the first checkpoint's training tasks
  task::Split split = task::Split::test;
  std::filesystem::path out;                 // an existing directory
  std::uint64_t seed = 0;
  std::string isa;  // the kernel level the ranks agreed on, and how
};

void add_protonet_eval_options(po::options_description& options);
// Few-shot accuracy and the GMM head (one rank).
// The few-shot evaluation's options, checked (before the output directory is made).
eval::FewShotEvalOptions protonet_eval_options(const po::variables_map& v, const EvalInput& input);
void evaluate_protonets(const eval::FewShotEvalOptions& options, EvalInput& input);

void add_mixture_eval_options(po::options_description& options);
// The evaluation methods, built on every rank before the run (InputError for bad options).
struct MixtureEvaluation;
std::shared_ptr<MixtureEvaluation> prepare_mixture_evaluation(const po::variables_map& v, EvalInput& input);
// Adaptation curves against the baselines, shared among the ranks; rank 0 writes and prints.
void evaluate_mixtures(MixtureEvaluation& evaluation, EvalInput& input, comm::Communicator& comm);

}  // namespace metagmm::cli
