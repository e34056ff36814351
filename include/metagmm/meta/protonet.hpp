#pragma once
// Prototypical Networks for mixtures (Snell et al. 2017; docs/design.md, "ProtoNet"): the
// meta-parameters are the weights phi of an encoder f_phi (meta/encoder.hpp); an episode's
// points are embedded and classified by their distance to the class prototypes
// (meta/prototypes.hpp), optionally refined by the episode's unlabelled points. The episode's
// contribution is the exact gradient of its mean query loss in phi, by backpropagation through
// the classifier and the encoder; the outer optimiser (SGD or Adam) steps along the mean.
// With anchor-decay lambda > 0 the objective adds lambda/2 ||phi - phi_0||^2, phi_0 the start
// (set_anchor): with the identity start, training leaves raw-feature prototypes only as far as
// the episodes' evidence outweighs the penalty.
#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/encoder.hpp"
#include "metagmm/meta/prototypes.hpp"

namespace metagmm::meta {

// One episode's result.
struct EpisodeScore {
  double loss = 0.0;  // mean query -log p(label)
  Index correct = 0;  // queries classified right
  Index queries = 0;
};

// Classifies an episode's queries (the points stacked support, query, unlabelled when refining).
EpisodeLayout layout_of(const task::Episode& episode, const RefinementOptions& refine);
void stack_episode(const task::Episode& episode, const RefinementOptions& refine, RowMatrix& out);

// The training refinement: refine-steps, distractor-cluster; and anchor-decay.
struct ProtoNetSettings {
  RefinementOptions refine;
  double anchor_decay = 0.0;
  static std::vector<SettingSpec> settings();
  static ProtoNetSettings from(const Settings& settings);
  Settings to_settings() const;
};

class ProtoNet final : public Algorithm {
 public:
  ProtoNet(const EncoderShape& encoder, const RefinementOptions& refine, double anchor_decay = 0.0);
  std::string name() const override { return "protonet"; }
  Settings settings() const override { return ProtoNetSettings{refine_, anchor_decay_}.to_settings(); }
  // phi_0 of the anchor penalty: the run's start (a pure function of the seed and the shape).
  void set_anchor(const Vector& start);
  // [gradient of the episode's mean query loss in phi (P) | that loss]
  Index contribution_size() const override { return parameters_ + 1; }
  void contribute(const Vector& phi, const task::Episode& episode, std::span<double> out) override;
  double combine(const Vector& phi, std::span<const double> sums, Index tasks, Vector& meta_gradient) override;
  // Mean query log-probability of the true class (the negative loss).
  // The mean loss and its gradient, plus the anchor penalty and its gradient.
  double adapted_log_likelihood(const Vector& phi, const task::Episode& episode) override;
  // The episode scored with `refine` (which may differ from training's).
  EpisodeScore score(const Vector& phi, const task::Episode& episode, const RefinementOptions& refine);
  // The loss and its gradient in phi, with the training refinement.
  double loss_and_gradient(const Vector& phi, const task::Episode& episode, Vector& gradient);

 private:
  Encoder encoder_;
  RefinementOptions refine_;
  double anchor_decay_;
  Vector anchor_;  // phi_0 (empty: no penalty)
  Index parameters_;
  PrototypeClassifier classifier_;
  RowMatrix stacked_, embedded_gradient_;
  Vector gradient_;
};

}  // namespace metagmm::meta
