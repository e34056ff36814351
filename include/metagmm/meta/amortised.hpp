#pragma once
// Amortised adaptation (docs/design.md, "Amortised adaptation"): a set encoder reads the task's
// support points and proposes its starting mixture (meta/set_encoder.hpp), then m steps adapt from
// it, and the query loss after the steps is the meta-objective:
//   --amortised-inner map:   MAP-EM steps towards that start as their prior (gmm/map.hpp, as maml
//                            --inner map does from its one learned prior);
//   --amortised-inner bayes: the start is the first E-step's mixture of a hierarchical prior (its
//                            means m, gmm/bayes.hpp), the rest of the prior learned as bayes learns
//                            it, and m variational-EM steps scored as the posterior predictive: a
//                            data-dependent prior.
// The meta-gradient is exact: the steps' reverse pass (meta/map_maml.hpp, gmm/bayes.hpp) gives the
// start's gradient, and the set encoder's reverse pass takes it to the encoder's weights and the
// base mixture.
//
// Meta-parameters: the base mixture (map: the model from --init or the pooled model, as for every
// mixture learner; bayes: the --prior file's first E-step mixture), then map: log r (the relevance
// factors, as maml --inner map learns them), bayes: the prior's other blocks (as bayes learns
// them); then the set encoder's weights. At the initial weights the encoder's start is the base
// mixture, so step 0 of training is maml --inner map from the same start, or bayes from the same
// prior (hierarchical empirical Bayes for a fit --prior heb file).
#include <optional>
#include <string>
#include <vector>

#include "metagmm/gmm/bayes.hpp"
#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/inner.hpp"
#include "metagmm/meta/registry.hpp"
#include "metagmm/meta/set_encoder.hpp"

namespace metagmm::meta {

struct AmortisedSettings {
  InnerOptions inner;  // inner-steps, reg-covar and relevance (map steps)
  bool bayes = false;  // amortised-inner: map or bayes
  std::string prior;   // prior: bayes: the metagmm.prior file training starts from
  std::vector<Index> point_widths{64, 64};
  std::vector<Index> head_widths{64};
  Index attention_blocks = 0;  // set-attention
  Index heads = 4;             // set-heads
  Index inducing = 16;         // set-inducing
  SetEncoderShape encoder_shape(const gmm::GmmShape& mixture) const;
  static std::vector<SettingSpec> settings();
  static AmortisedSettings from(const Settings& settings);  // SettingError for impossible values
  Settings to_settings() const;
};

class AmortisedAdaptation final : public MixtureAlgorithm {
 public:
  // SettingError unless the mixture is diagonal and every relevance factor > 0 (learned as log r).
  AmortisedAdaptation(const gmm::GmmShape& shape, const AmortisedSettings& settings);
  std::string name() const override { return "amortised"; }
  Settings settings() const override { return settings_.to_settings(); }
  // map: "log_relevance" (3); bayes: the prior's blocks as bayes names them; then the set encoder's
  // "set_point_mlp", "set_attention" (with --set-attention >= 1), "set_seeds", "set_head", "set_gate".
  std::vector<ParameterBlock> extra_parameters() const override;
  // bayes: the prior file's first E-step mixture (read once; InputError naming it if unreadable,
  // of another shape or coupled).
  std::optional<Vector> initial_model() const override;
  // map: log r from the settings; bayes: the prior file's other blocks. Then the encoder's initial
  // weights from a fixed stream, so that two runs with one configuration start at the same bits
  // whatever their seed (the seed draws tasks).
  Vector initial_extra_parameters() const override;
  // [meta-gradient | query loss]
  Index contribution_size() const override { return meta_size_ + 1; }
  void contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) override;
  double combine(const Vector& meta, std::span<const double> sums, Index tasks, Vector& meta_gradient) override;
  double adapted_log_likelihood(const Vector& meta, const task::Episode& episode) override;
  Vector adapted_model(const Vector& meta, RowMatrixRef points) override;
  // The encoder's start first (bayes: its prior's first E-step mixture), then its steps.
  void adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) override;
  int adaptation_steps() const override { return settings_.inner.steps; }
  // Its steps are EM steps towards its own start: "EM from the meta-learned start" would repeat
  // them from the base mixture, which no task starts from.
  bool adapts_by_em() const override { return true; }

 private:
  // The encoder's start for `points` (flat), valid until the next call.
  const Vector& start(const Vector& meta, RowMatrixRef points);
  gmm::Relevance relevance(const Vector& meta) const;
  // bayes: the prior for a task whose start is `start`.
  gmm::HierarchicalPrior task_prior(const Vector& meta, const Vector& start) const;
  const Vector& starting_prior() const;  // bayes: the prior file's flat form
  gmm::GmmShape shape_;
  AmortisedSettings settings_;
  Index parameters_;
  Index steps_size_;  // map: 3 (log r); bayes: the prior's blocks after its first E-step mixture
  SetEncoder encoder_;
  Index meta_size_ = 0;
  gmm::Evaluator evaluator_;
  mutable std::optional<Vector> prior_file_;  // bayes: the --prior file's flat form, once read
  std::vector<Vector> iterates_;
  std::vector<gmm::PosteriorState> path_;
  Vector adjoint_, start_gradient_, base_gradient_, weight_gradient_;
};

}  // namespace metagmm::meta
