#pragma once
// Reptile (Nichol et al. 2018) for Gaussian mixtures (docs/design.md, "Reptile"): each task adapts
// theta by the inner loop to theta_i; the pseudo-gradient g = theta - sum_i w_i theta_i (uniform
// w_i = 1/B, or w_i proportional to |theta_i - theta|^2) goes to the outer optimiser, so plain
// SGD with learning rate eps is theta <- theta + eps * sum_i w_i (theta_i - theta): a step towards
// the adapted parameters. Both weightings are ratios of sums over tasks, which is what the loop
// reduces: uniform g = -(sum_i d_i) / B, distance g = -(sum_i |d_i|^2 d_i) / (sum_i |d_i|^2),
// with d_i = theta_i - theta.
#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/inner.hpp"

namespace metagmm::meta {

enum class ReptileWeighting { uniform, distance };
std::string to_string(ReptileWeighting weighting);
ReptileWeighting parse_reptile_weighting(std::string_view text, std::string_view what);

struct ReptileSettings {
  InnerOptions inner;
  ReptileWeighting weighting = ReptileWeighting::uniform;  // weighting
  static std::vector<SettingSpec> settings();
  static ReptileSettings from(const Settings& settings);
  Settings to_settings() const;
};

class Reptile final : public MixtureAlgorithm {
 public:
  Reptile(const gmm::GmmShape& shape, const InnerOptions& inner, ReptileWeighting weighting);
  std::string name() const override { return "reptile"; }
  Settings settings() const override { return ReptileSettings{inner_options_, weighting_}.to_settings(); }
  // uniform:  [d_i (P values) | query loss after adaptation]
  // distance: [|d_i|^2 d_i (P values) | query loss | |d_i|^2]
  Index contribution_size() const override {
    return parameters_ + (weighting_ == ReptileWeighting::distance ? 2 : 1);
  }
  void contribute(const Vector& theta, const task::Episode& episode, std::span<double> out) override;
  double combine(const Vector& theta, std::span<const double> sums, Index tasks, Vector& meta_gradient) override;
  double adapted_log_likelihood(const Vector& theta, const task::Episode& episode) override;
  Vector adapted_model(const Vector& theta, RowMatrixRef points) override;
  void adaptation_path(const Vector& theta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) override {
    inner_.path(theta, points, steps, iterates);
  }
  int adaptation_steps() const override { return inner_options_.steps; }
  bool adapts_by_em() const override { return inner_options_.method == InnerMethod::em; }

 private:
  Index parameters_;
  InnerOptions inner_options_;
  InnerLoop inner_;
  ReptileWeighting weighting_;
  Vector adapted_;
};

}  // namespace metagmm::meta
