#pragma once
// What a meta-learning algorithm gives the training loop (DESIGN.md section 5). Algorithms
// never communicate: for each task of a meta-batch they write a fixed-length contribution,
// the loop sums the contributions of all tasks exactly (core/exact_sum.hpp: the sum does not
// depend on the order or on how tasks are shared among ranks), and combine() turns the sums
// into the meta-gradient. Every rank sees the same sums, so the result does not depend on the
// number of ranks.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "metagmm/core/types.hpp"
#include "metagmm/task/sampler.hpp"

namespace metagmm::meta {

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual std::string name() const = 0;
  // The meta-parameters are the model's flat parameters followed by this many more that the
  // algorithm learns besides (Meta-SGD's inner step sizes); their starting values.
  virtual Index extra_meta_parameters() const { return 0; }
  virtual Vector initial_extra_parameters() const { return Vector(); }
  // Length of one task's contribution.
  virtual Index contribution_size() const = 0;
  // Adapts from the meta-parameters to one episode and writes the task's contribution.
  virtual void contribute(const Vector& theta, const task::Episode& episode, std::span<double> out) = 0;
  // Turns the sum of the `tasks` contributions into the meta-gradient; returns the mean
  // meta-loss of the batch (query negative log-likelihood per point after adaptation).
  virtual double combine(const Vector& theta, std::span<const double> sums, Index tasks,
                         Vector& meta_gradient) = 0;
  // Mean query log-likelihood per point after adapting the meta-parameters to the support.
  virtual double adapted_log_likelihood(const Vector& theta, const task::Episode& episode) = 0;
  // The mixture's flat parameters after the algorithm's own adaptation of the meta-parameters
  // to `points` (what training scores on a task's query points). InputError for an algorithm
  // that learns no mixture.
  virtual Vector adapted_model(const Vector& theta, RowMatrixRef points);
  // The mixture's flat parameters after 0, 1, ..., `steps` of the algorithm's own adaptation
  // steps from the meta-parameters on `points`, however many (evaluation follows an adaptation
  // beyond the steps it was trained for). InputError for an algorithm that learns no mixture.
  virtual void adaptation_path(const Vector& theta, RowMatrixRef points, int steps, std::vector<Vector>& iterates);
};

// combine() for contributions laid out as [meta-gradient (`count` values) | query loss]: the mean
// meta-gradient over `tasks` into `meta_gradient`; returns the mean loss.
double mean_gradient_and_loss(std::span<const double> sums, Index count, Index tasks, Vector& meta_gradient);

}  // namespace metagmm::meta
