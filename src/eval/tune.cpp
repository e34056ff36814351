#include "metagmm/eval/tune.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/eval/methods.hpp"

namespace metagmm::eval {
namespace {

double score(const gmm::Gmm& prior, const std::vector<task::Episode>& episodes, const gmm::Relevance& relevance,
             int steps, double reg_covar) {
  auto method = map_from_prior("tune", prior, relevance, reg_covar);
  gmm::Evaluator evaluator;
  double total = 0.0;
  for (std::size_t e = 0; e < episodes.size(); ++e) {
    int visits = 0;
    double last = 0.0;
    method->adapt(static_cast<Index>(e), episodes[e].support, steps, [&](const gmm::Gmm& model) {
      ++visits;
      last = evaluator.mean_log_likelihood(model, episodes[e].query);
    });
    if (visits != steps + 1 || !std::isfinite(last)) return -std::numeric_limits<double>::infinity();
    total += last;
  }
  return total / static_cast<double>(episodes.size());
}

}  // namespace

RelevanceChoice tune_relevance(const gmm::Gmm& prior, const std::vector<task::Episode>& episodes,
                               const std::vector<double>& grid, int steps, double reg_covar) {
  METAGMM_CHECK(!episodes.empty() && !grid.empty(), "relevance tuning needs episodes and a grid");
  RelevanceChoice best;
  best.score = -std::numeric_limits<double>::infinity();
  auto consider = [&](const gmm::Relevance& candidate) {
    const double s = score(prior, episodes, candidate, steps, reg_covar);
    ++best.candidates;
    if (s > best.score) {
      best.score = s;
      best.relevance = candidate;
    }
  };
  for (const double r : grid) consider({r, r, r});
  for (int round = 0; round < 2; ++round) {
    for (double gmm::Relevance::*block : {&gmm::Relevance::weights, &gmm::Relevance::means, &gmm::Relevance::covariances}) {
      const gmm::Relevance held = best.relevance;
      for (const double r : grid) {
        if (r == held.*block) continue;
        gmm::Relevance candidate = held;
        candidate.*block = r;
        consider(candidate);
      }
    }
  }
  return best;
}

StepChoice tune_bayes_steps(const gmm::HierarchicalPrior& prior, const std::vector<task::Episode>& episodes,
                            int max_steps) {
  METAGMM_CHECK(!episodes.empty() && max_steps >= 1, "step tuning needs episodes and a step");
  auto method = bayes_from_prior("tune", prior, max_steps);
  gmm::Evaluator evaluator;
  // Per step count, the sum of the episodes' query log-likelihoods; a step that fails scores -inf.
  std::vector<double> total(static_cast<std::size_t>(max_steps + 1), 0.0);
  for (std::size_t e = 0; e < episodes.size(); ++e) {
    int visit = 0;
    method->adapt(static_cast<Index>(e), episodes[e].support, max_steps, [&](const gmm::Gmm& model) {
      total[static_cast<std::size_t>(visit++)] += evaluator.mean_log_likelihood(model, episodes[e].query);
    });
    for (int j = visit; j <= max_steps; ++j) total[static_cast<std::size_t>(j)] = -std::numeric_limits<double>::infinity();
  }
  StepChoice best{1, -std::numeric_limits<double>::infinity()};
  for (int j = 1; j <= max_steps; ++j) {
    const double mean = total[static_cast<std::size_t>(j)] / static_cast<double>(episodes.size());
    if (mean > best.score) best = {j, mean};
  }
  return best;
}

std::vector<double> parse_relevance_grid(const std::string& text, const std::string& what) {
  const auto grid = parse_number_list(text, ',');
  if (!grid || !std::all_of(grid->begin(), grid->end(), [](double r) { return r >= 0.0; }))
    throw InputError(what + ": expected comma-separated relevance factors >= 0, got '" + text + "'");
  return *grid;
}

}  // namespace metagmm::eval
