#pragma once
// The few-shot episode and refinement options that `train --algo protonet` and `eval` share
// (private to the cli layer).
#include "metagmm/cli/options.hpp"
#include "metagmm/meta/encoder.hpp"
#include "metagmm/meta/prototypes.hpp"
#include "metagmm/task/fewshot.hpp"

namespace metagmm::cli {

struct FewShotSettings {
  task::FewShotOptions episodes;
  meta::RefinementOptions refine;
};

// --ways, --shots, --queries, --unlabelled, --distractor-classes, and with `refinement`
// --refine-steps and --distractor-cluster, with `defaults` shown in --help (train takes the
// refinement from the algorithm's settings instead).
void add_fewshot_options(po::options_description& options, const FewShotSettings& defaults, bool refinement);
// Throw InputError naming the option for impossible values or combinations.
task::FewShotOptions fewshot_episodes(const po::variables_map& v);
void check_refinement(const meta::RefinementOptions& refine, const task::FewShotOptions& episodes);
FewShotSettings fewshot_settings(const po::variables_map& v);  // with the refinement options

}  // namespace metagmm::cli
