#pragma once
// MAML for Gaussian mixtures (Finn et al. 2017; docs/design.md, "MAML"). Each task adapts the
// meta-parameters theta by m gradient steps on its support set S,
//   theta_(j+1) = theta_j - alpha (.) grad L(theta_j; S),
// and the meta-objective is F(theta) = mean_i L(theta_m; Q_i) on the query sets.
//
// Second order (maml): the exact meta-gradient, by a reverse pass over the stored iterates,
//   v <- grad L(theta_m; Q);  for j = m-1 ... 0:  v <- v - H(theta_j; S) (alpha (.) v),
// which needs only Hessian-vector products (gmm/gradient.hpp). Memory: the m + 1 iterates, the m
// support gradients and the support statistics at each iterate (K x features, about P numbers;
// kept so that each reverse step's pass takes only their derivative): O(m P).
// First order (fomaml): v = grad L(theta_m; Q), the reverse pass left out; any inner loop.
//
// Meta-SGD (Li et al. 2017): the inner step sizes alpha are meta-learned with theta, one per
// parameter or one per block (logits, means, covariance). They are kept as log alpha (positive
// by construction) after theta in the meta-parameter vector. Their meta-gradient is
//   dF/dalpha = -sum_j v_(j+1) (.) grad L(theta_j; S),
// with v_(j+1) the reverse pass's vector before step j (first order: the query gradient).
#include <vector>

#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/inner.hpp"

namespace metagmm::meta {

enum class StepSizeLearning { none, block, parameter };
std::string to_string(StepSizeLearning learning);
StepSizeLearning parse_step_size_learning(std::string_view text, std::string_view what);

enum class MamlOrder { first, second };

// The settings of maml and fomaml (and of maml through MAP steps, meta/map_maml.hpp).
struct MamlSettings {
  InnerOptions inner;
  StepSizeLearning step_sizes = StepSizeLearning::none;  // meta-sgd
  static std::vector<SettingSpec> settings();
  static MamlSettings from(const Settings& settings);
  Settings to_settings() const;
};

class Maml final : public MixtureAlgorithm {
 public:
  // Throws SettingError if the combination cannot be differentiated (second order or learned
  // step sizes need the sgd inner loop).
  Maml(const gmm::GmmShape& shape, const InnerOptions& inner, MamlOrder order, StepSizeLearning step_sizes);
  std::string name() const override { return order_ == MamlOrder::second ? "maml" : "fomaml"; }
  Settings settings() const override { return MamlSettings{inner_options_, learning_}.to_settings(); }
  // "log_step_sizes" when they are learned.
  std::vector<ParameterBlock> extra_parameters() const override;
  Vector initial_extra_parameters() const override;
  // [meta-gradient of the task (P + step sizes) | query loss after adaptation]
  Index contribution_size() const override { return parameters_ + step_size_count_ + 1; }
  void contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) override;
  double combine(const Vector& meta, std::span<const double> sums, Index tasks, Vector& meta_gradient) override;
  double adapted_log_likelihood(const Vector& meta, const task::Episode& episode) override;
  Vector adapted_model(const Vector& meta, RowMatrixRef points) override { return adapt(meta, points); }
  void adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) override;
  int adaptation_steps() const override { return inner_options_.steps; }
  bool adapts_by_em() const override { return inner_options_.method == InnerMethod::em; }

 private:
  // The per-parameter inner step sizes alpha from the meta-parameters.
  void expand_step_sizes(const Vector& meta);
  // theta_m from theta_0 = the meta-parameters' model part; keeps the iterates (second order)
  // and the support gradients (learned step sizes).
  const Vector& adapt(const Vector& meta, RowMatrixRef support);
  Index block_of(Index parameter) const;

  gmm::GmmShape shape_;
  Index parameters_;
  InnerOptions inner_options_;
  MamlOrder order_;
  StepSizeLearning learning_;
  Index step_size_count_;
  InnerLoop inner_;  // first order with adam or em inner steps
  gmm::Evaluator evaluator_;
  Vector alpha_;                   // P: step size of each parameter
  std::vector<Vector> iterates_;   // theta_0 ... theta_m
  std::vector<Vector> gradients_;  // grad L(theta_j; S), j < m
  std::vector<gmm::Statistics> statistics_;  // second order: the support statistics at theta_j, j < m
  Vector adjoint_, scaled_, step_size_gradient_;
};

}  // namespace metagmm::meta
