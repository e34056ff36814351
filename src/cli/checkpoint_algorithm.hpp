#pragma once
// The algorithm a checkpoint was trained with, rebuilt from its stored configuration, so that
// commands other than train can adapt its meta-learned model exactly as training did (private
// to the cli layer).
#include <memory>
#include <string>

#include "fewshot_options.hpp"
#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/inner.hpp"
#include "metagmm/meta/maml.hpp"
#include "metagmm/meta/map_maml.hpp"
#include "metagmm/meta/reptile.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::cli {

struct AlgorithmSettings {
  std::string name;  // --algo
  train::ModelShape model;
  meta::InnerOptions inner;
  meta::ReptileWeighting weighting = meta::ReptileWeighting::uniform;
  meta::StepSizeLearning step_sizes = meta::StepSizeLearning::none;
  FewShotSettings fewshot;
};

std::unique_ptr<meta::Algorithm> make_algorithm(const AlgorithmSettings& settings);

// From the checkpoint's `config` (InputError naming `path` if a setting is missing or bad).
std::unique_ptr<meta::Algorithm> checkpoint_algorithm(const train::Checkpoint& checkpoint, const std::string& path);

// The meta-parameters the algorithm adapts from: the model's, then its own (learned step sizes,
// or maml through MAP steps' log relevance factors).
Vector meta_parameters(const train::Checkpoint& checkpoint);

}  // namespace metagmm::cli
