#pragma once
// What a meta-learning algorithm gives the training loop (docs/design.md, "The training
// step"). Algorithms never communicate: for each task of a meta-batch they write a fixed-length
// contribution, the loop sums the contributions of all tasks exactly (core/exact_sum.hpp: the
// sum does not depend on the order or on how tasks are shared among ranks), and combine() turns
// the sums into the meta-gradient. Every rank sees the same sums, so the result does not depend
// on the number of ranks.
//
// An algorithm is registered by name with its settings and a factory (meta/registry.hpp);
// docs/extending.md walks through adding one.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "metagmm/core/types.hpp"
#include "metagmm/meta/settings.hpp"
#include "metagmm/task/sampler.hpp"

namespace metagmm::meta {

// A named block of the meta-parameters that an algorithm learns besides the model's own
// ("log_step_sizes": Meta-SGD's inner step sizes; "log_relevance": MAP adaptation's relevance
// factors). Checkpoints store each block under its name.
struct ParameterBlock {
  std::string name;
  Index size = 0;
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual std::string name() const = 0;
  // The settings it was made with, as the registry's factory takes them back.
  virtual Settings settings() const = 0;
  // The meta-parameters are the model's flat parameters followed by these blocks, in order, and
  // their starting values (all blocks concatenated).
  virtual std::vector<ParameterBlock> extra_parameters() const { return {}; }
  virtual Vector initial_extra_parameters() const { return Vector(); }
  // The model's starting flat parameters where the algorithm's settings fix them (bayes: its
  // prior file); nullopt lets the training command choose (--init, or the pooled model).
  virtual std::optional<Vector> initial_model() const { return std::nullopt; }
  Index extra_meta_parameters() const;
  // Length of one task's contribution.
  virtual Index contribution_size() const = 0;
  // Adapts from the meta-parameters to one episode and writes the task's contribution.
  virtual void contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) = 0;
  // Turns the sum of the `tasks` contributions into the meta-gradient; returns the mean
  // meta-loss of the batch (query negative log-likelihood per point after adaptation).
  virtual double combine(const Vector& meta, std::span<const double> sums, Index tasks, Vector& meta_gradient) = 0;
  // Mean query log-likelihood per point after adapting the meta-parameters to the support.
  virtual double adapted_log_likelihood(const Vector& meta, const task::Episode& episode) = 0;
};

// An algorithm whose model is a mixture that it adapts to a task's points: what `fit --adapt
// inner` and the mixture evaluation use.
class MixtureAlgorithm : public Algorithm {
 public:
  // The mixture's flat parameters after the algorithm's own adaptation of the meta-parameters
  // to `points` (what training scores on a task's query points).
  virtual Vector adapted_model(const Vector& meta, RowMatrixRef points) = 0;
  // The mixture's flat parameters after 0, 1, ..., `steps` of the algorithm's own adaptation
  // steps from the meta-parameters on `points`, however many (evaluation follows an adaptation
  // beyond the steps it was trained for).
  virtual void adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) = 0;
  // The steps adapted_model() takes.
  virtual int adaptation_steps() const = 0;
  // True when its own steps are EM steps (evaluation then leaves out "EM from the meta-learned
  // start", which would repeat them).
  virtual bool adapts_by_em() const { return false; }
};

// combine() for contributions laid out as [meta-gradient (`count` values) | query loss]: the mean
// meta-gradient over `tasks` into `meta_gradient`; returns the mean loss.
double mean_gradient_and_loss(std::span<const double> sums, Index count, Index tasks, Vector& meta_gradient);

}  // namespace metagmm::meta
