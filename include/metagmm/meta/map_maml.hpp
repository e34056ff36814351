#pragma once
// Meta-learned MAP adaptation (docs/design.md, "MAML through MAP steps"; Reynolds, Quatieri and Dunn 2000 for the
// adaptation): each task adapts by m MAP-EM steps (gmm/map.hpp) towards a prior, starting from
// it, and the meta-objective is the query loss after the steps. The meta-parameters are the
// prior (logits, means, log standard deviations: a diagonal mixture) and the three relevance
// factors as log r (weights, means, variances). The meta-gradient is exact: a reverse pass over
// the m stored iterates (gmm/map_gradient.hpp), each step's prior and relevance adjoints summed.
//
// It is `--algo maml --inner map`. The first-order variant is `--algo fomaml --inner map` (the
// query gradient at the adapted mixture applied to the prior, relevance fixed), and the Reptile
// variant `--algo reptile --inner map`; both adapt with the same steps.
#include <array>
#include <vector>

#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/inner.hpp"
#include "metagmm/meta/maml.hpp"

namespace metagmm::meta {

// The flat iterates of `steps` MAP-EM steps towards `prior` starting from it (the prior first).
void map_path(const gmm::Gmm& prior, RowMatrixRef support, const gmm::Relevance& relevance, double reg_covar,
              int steps, gmm::Evaluator& evaluator, std::vector<Vector>& iterates);

// The reverse pass of map_path(): `adjoint` holds d objective / d (last iterate) on entry; on
// return prior_gradient is d objective / d prior (as the steps' prior and as their first iterate)
// and log_relevance d objective / d log r. `adjoint` is used as scratch.
void map_path_reverse(const gmm::Gmm& prior, const std::vector<Vector>& iterates, const gmm::Relevance& relevance,
                      double reg_covar, RowMatrixRef support, Vector& adjoint, Vector& prior_gradient,
                      std::array<double, 3>& log_relevance);

class MapMaml final : public MixtureAlgorithm {
 public:
  // SettingError unless the mixture is diagonal and the inner loop MAP steps.
  MapMaml(const gmm::GmmShape& shape, const InnerOptions& inner);
  std::string name() const override { return "maml"; }
  Settings settings() const override { return MamlSettings{options_, StepSizeLearning::none}.to_settings(); }
  // "log_relevance": log r for the weights, means and variances.
  std::vector<ParameterBlock> extra_parameters() const override { return {{"log_relevance", 3}}; }
  Vector initial_extra_parameters() const override;  // log of the relevance setting
  // [meta-gradient (P + 3) | query loss after adaptation]
  Index contribution_size() const override { return parameters_ + 4; }
  void contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) override;
  double combine(const Vector& meta, std::span<const double> sums, Index tasks, Vector& meta_gradient) override;
  double adapted_log_likelihood(const Vector& meta, const task::Episode& episode) override;
  Vector adapted_model(const Vector& meta, RowMatrixRef points) override;
  void adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) override;
  int adaptation_steps() const override { return options_.steps; }
  // The relevance factors that the meta-parameters hold.
  static gmm::Relevance relevance(const Vector& meta, Index parameters);

 private:
  gmm::GmmShape shape_;
  Index parameters_;
  InnerOptions options_;
  gmm::Evaluator evaluator_;
  std::vector<Vector> iterates_;
  Vector adjoint_;
};

}  // namespace metagmm::meta
