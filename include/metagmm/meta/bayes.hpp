#pragma once
// Meta-learned Bayesian adaptation (docs/design.md, "Meta-learned Bayesian adaptation"): the
// meta-parameters are a hierarchical prior itself (gmm/bayes.hpp: the first E-step's mixture,
// then the Dirichlet concentration, between-task variances, within-task variance centres and
// their strengths), each task is adapted by m variational-EM steps under it and scored as its
// posterior predictive, and the meta-gradient is exact: a reverse pass over the m stored steps.
// It starts from a prior file (--prior, written by `metagmm fit --prior heb`), so its step 0 is
// the hierarchical empirical Bayes baseline. Diagonal covariances. With --mean-coupling full the
// prior's means are coupled (gmm/bayes.hpp): one more block, C, starting at the prior file's (0 for
// fit --prior heb, the moments estimate for fit --prior heb-coupled), so step 0 is that baseline
// and training can learn that components move together.
#include <optional>
#include <string>
#include <vector>

#include "metagmm/gmm/bayes.hpp"
#include "metagmm/gmm/stats.hpp"
#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/registry.hpp"

namespace metagmm::meta {

struct BayesSettings {
  int steps = 5;            // inner-steps: variational-EM steps per task
  std::string prior;        // prior: the metagmm.prior file training starts from
  bool coupled = false;     // mean-coupling: none or full
  static std::vector<SettingSpec> settings();
  static BayesSettings from(const Settings& settings);
  Settings to_settings() const;
};

class BayesianAdaptation final : public MixtureAlgorithm {
 public:
  // SettingError unless the mixture is diagonal and a prior file is named.
  BayesianAdaptation(const gmm::GmmShape& shape, const BayesSettings& settings);
  std::string name() const override { return "bayes"; }
  Settings settings() const override { return settings_.to_settings(); }
  std::vector<ParameterBlock> extra_parameters() const override;
  // From the prior file (read once; InputError naming it if unreadable or of another shape).
  std::optional<Vector> initial_model() const override;
  Vector initial_extra_parameters() const override;
  // [meta-gradient | query loss]
  Index contribution_size() const override { return meta_size_ + 1; }
  void contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) override;
  double combine(const Vector& meta, std::span<const double> sums, Index tasks, Vector& meta_gradient) override;
  double adapted_log_likelihood(const Vector& meta, const task::Episode& episode) override;
  Vector adapted_model(const Vector& meta, RowMatrixRef points) override;
  void adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) override;
  int adaptation_steps() const override { return settings_.steps; }
  bool adapts_by_em() const override { return true; }

 private:
  const Vector& starting_prior() const;
  gmm::GmmShape shape_;
  Index meta_size_;
  BayesSettings settings_;
  mutable std::optional<Vector> start_;  // the prior file's flat form, once read
  gmm::Evaluator evaluator_;
  std::vector<gmm::PosteriorState> path_;
  Vector adjoint_;
};

// The blocks of a hierarchical prior's flat form after its first E-step mixture, by the names
// checkpoints store them under (mean_coupling last, where coupled).
std::vector<ParameterBlock> hierarchical_prior_blocks(const gmm::GmmShape& shape, bool coupled);

// The posterior predictive mixtures after 0, 1, ..., steps steps under `prior` (the first
// E-step's model first); on a numeric breakdown, the iterates reached and then NumericError.
void bayes_iterates(const gmm::HierarchicalPrior& prior, RowMatrixRef points, int steps,
                    std::vector<gmm::PosteriorState>& path, std::vector<Vector>& iterates);

}  // namespace metagmm::meta
