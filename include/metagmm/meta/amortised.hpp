#pragma once
// Amortised adaptation (docs/design.md, "Amortised adaptation"): a set encoder reads the task's
// support points and proposes its starting mixture (meta/set_encoder.hpp), then m MAP-EM steps
// adapt it towards that start as their prior (gmm/map.hpp, as maml --inner map does from its one
// learned prior), and the query loss after the steps is the meta-objective. The meta-gradient is
// exact: the MAP steps' reverse pass (meta/map_maml.hpp) gives the start's gradient, and the set
// encoder's reverse pass takes it to the encoder's weights and the base mixture.
//
// Meta-parameters: the base mixture (the model: --init or the pooled model, as for every mixture
// learner), log r (the relevance factors, as maml --inner map learns them) and the set encoder's
// weights. At the initial weights the encoder's start is the base mixture, so step 0 of training
// is maml --inner map from the same start.
#include <vector>

#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/inner.hpp"
#include "metagmm/meta/registry.hpp"
#include "metagmm/meta/set_encoder.hpp"

namespace metagmm::meta {

struct AmortisedSettings {
  InnerOptions inner;  // inner-steps, reg-covar and relevance (the steps are MAP-EM steps)
  std::vector<Index> point_widths{64, 64};
  std::vector<Index> head_widths{64};
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
  // "log_relevance" (3), then the set encoder's "set_point_mlp", "set_seeds", "set_head", "set_gate".
  std::vector<ParameterBlock> extra_parameters() const override;
  // log r from the settings; the encoder's initial weights from a fixed stream, so that two runs
  // with one configuration start at the same bits whatever their seed (the seed draws tasks).
  Vector initial_extra_parameters() const override;
  // [meta-gradient | query loss]
  Index contribution_size() const override { return meta_size_ + 1; }
  void contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) override;
  double combine(const Vector& meta, std::span<const double> sums, Index tasks, Vector& meta_gradient) override;
  double adapted_log_likelihood(const Vector& meta, const task::Episode& episode) override;
  Vector adapted_model(const Vector& meta, RowMatrixRef points) override;
  // The encoder's start first, then the MAP-EM steps.
  void adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) override;
  int adaptation_steps() const override { return settings_.inner.steps; }
  // Its steps are EM steps towards its own start: "EM from the meta-learned start" would repeat
  // them from the base mixture, which no task starts from.
  bool adapts_by_em() const override { return true; }

 private:
  // The encoder's start for `points`, as a mixture.
  gmm::Gmm start(const Vector& meta, RowMatrixRef points);
  gmm::Relevance relevance(const Vector& meta) const;
  gmm::GmmShape shape_;
  AmortisedSettings settings_;
  Index parameters_;
  SetEncoder encoder_;
  Index meta_size_ = 0;
  gmm::Evaluator evaluator_;
  Vector weights_;  // the encoder's block of the last meta-parameters
  std::vector<Vector> iterates_;
  Vector adjoint_, start_gradient_, base_gradient_, weight_gradient_;
};

}  // namespace metagmm::meta
