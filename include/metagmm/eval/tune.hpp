#pragma once
// The baselines at their strongest: pooled+MAP's relevance factors and the hierarchical
// empirical Bayes adaptation's step count chosen on validation tasks.
#include <vector>

#include "metagmm/gmm/bayes.hpp"
#include "metagmm/gmm/map.hpp"
#include "metagmm/task/sampler.hpp"

namespace metagmm::eval {

struct RelevanceChoice {
  gmm::Relevance relevance;
  double score = 0.0;  // the mean query log-likelihood per point it reached on the episodes
  int candidates = 0;  // how many settings were scored
};

// The relevance factors from `grid` that maximise the mean query log-likelihood per point after
// `steps` MAP-EM steps from `prior` over `episodes`: the best single factor for all blocks, then
// each block (weights, means, covariances) in turn with the others held, for two rounds. A
// setting whose steps fail on an episode (a singular covariance) scores -inf. Ties keep the
// earlier candidate, so the choice is a pure function of its inputs.
RelevanceChoice tune_relevance(const gmm::Gmm& prior, const std::vector<task::Episode>& episodes,
                               const std::vector<double>& grid, int steps, double reg_covar);

// The number of variational-EM steps (1..max_steps) under `prior` that maximises the mean query
// log-likelihood per point of the posterior predictive over `episodes` (ties: the fewer steps);
// its score.
struct StepChoice {
  int steps = 1;
  double score = 0.0;
};
StepChoice tune_bayes_steps(const gmm::HierarchicalPrior& prior, const std::vector<task::Episode>& episodes,
                            int max_steps);

// "0.5,1,2" -> {0.5, 1, 2}; InputError naming `what` unless every entry is a number >= 0.
std::vector<double> parse_relevance_grid(const std::string& text, const std::string& what);

}  // namespace metagmm::eval
