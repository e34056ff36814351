#pragma once
// Few-shot evaluation of encoders (ProtoNet checkpoints) on held-out tasks: accuracy over many
// N-way K-shot episodes (mean and 95% confidence interval), with and without semi-supervised
// refinement, beside the identity encoder (prototypes on the raw inputs) and the linear
// baselines (PCA, shrinkage LDA: eval/linear_baselines.hpp) on the same episodes;
// and the GMM head: clustering of whole held-out tasks by EM in each embedding against EM on the
// raw points, scored by the adjusted Rand index against the true labels.
#include <filesystem>
#include <string>
#include <vector>

#include "metagmm/eval/linear_baselines.hpp"
#include "metagmm/eval/report.hpp"
#include "metagmm/meta/encoder.hpp"
#include "metagmm/meta/gmm_head.hpp"
#include "metagmm/meta/prototypes.hpp"
#include "metagmm/task/fewshot.hpp"
#include "metagmm/task/sampler.hpp"

namespace metagmm::eval {

// A trained encoder: its weights and where they came from.
struct EncoderModel {
  std::string path;
  meta::EncoderShape shape;
  Vector weights;
};

struct FewShotEvalOptions {
  Index episodes = 1000;           // evaluated episodes
  task::FewShotOptions fewshot;    // ways, shots, queries, unlabelled, distractors
  meta::RefinementOptions refine;  // the refinement rows (none when steps = 0)
  Index head_tasks = 100;          // tasks clustered by the GMM head (the split's first N; 0: none)
  bool linear_baselines = true;    // PCA and shrinkage LDA rows
  LinearBaselineOptions linear;    // their settings, given or chosen on validation episodes
  meta::HeadOptions head;
  task::Split split = task::Split::test;
  std::uint64_t seed = 0;
  void validate() const;  // SettingError naming the setting
};

struct FewShotRow {
  std::string name;        // "protonet", "identity encoder (raw inputs)", ...
  std::string checkpoint;  // empty for the identity encoder and the linear baselines
  int refine_steps = 0;
  Summary accuracy;
  std::vector<double> per_episode{};  // each episode's accuracy, for paired comparisons
};

struct HeadRow {
  std::string name;  // "raw_kmeans++", "embedded_prototypes", ...
  Summary ari;
  std::vector<IntVector> assignments;  // per clustered task
};

struct HeadTask {
  Index task;
  IntVector labels;
};

struct FewShotReport {
  std::string tasks;  // the task source
  FewShotEvalOptions options;
  std::vector<FewShotRow> accuracy;
  std::string baseline_selection;  // which split's episodes chose the linear baselines' settings
  std::vector<HeadRow> clustering;
  std::vector<HeadTask> clustered;  // the tasks the head clustered
};

// Every model and the identity encoder on the same episodes and tasks; InputError if a model's
// input dimension is not the tasks'.
FewShotReport evaluate_fewshot(const std::vector<EncoderModel>& models, task::TaskSource& source,
                               const FewShotEvalOptions& options);
// The report as text (what `metagmm eval` prints).
std::string fewshot_text(const FewShotReport& report);
// DIR/eval.json, DIR/episodes.csv (each episode's accuracy by method: paired comparisons), and
// DIR/assignments.csv when the head clustered any task; each written atomically.
void write_fewshot_results(const std::filesystem::path& directory, const FewShotReport& report);

}  // namespace metagmm::eval
