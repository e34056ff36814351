#pragma once
// The ways `metagmm eval` fits a mixture to a held-out task's support points, each followed step
// by step: a meta-learned initialisation adapted by its own inner steps or by EM, EM from
// k-means++ (best of restarts) or random points, the hierarchical empirical Bayes posterior
// predictive, the pooled model as an EM start or MAP-adapted to the task, and the
// task's true parameters (the oracle, which takes no steps).
#include <functional>
#include <memory>
#include <string>

#include "metagmm/core/random.hpp"
#include "metagmm/gmm/bayes.hpp"
#include "metagmm/gmm/init.hpp"
#include "metagmm/gmm/map.hpp"
#include "metagmm/meta/algorithm.hpp"

namespace metagmm::eval {

// Receives the model after 0, 1, ..., steps adaptation steps, in order.
using Visit = std::function<void(const gmm::Gmm&)>;

class Method {
 public:
  explicit Method(std::string name) : name_(std::move(name)) {}
  virtual ~Method() = default;
  const std::string& name() const { return name_; }
  // Adapts to task `task`'s support points, calling `visit` with the start and after each of
  // `steps` steps. A step that fails (a singular covariance) ends the adaptation early: the
  // caller sees fewer than steps + 1 visits.
  virtual void adapt(Index task, RowMatrixRef support, int steps, const Visit& visit) = 0;

 private:
  std::string name_;
};

// A meta-learned initialisation adapted by its algorithm's own inner steps (gradient steps with
// the learned step sizes where it has them; whatever --inner it was trained with).
std::unique_ptr<Method> meta_learned_steps(std::string name, std::unique_ptr<meta::MixtureAlgorithm> algorithm,
                                           Vector meta_parameters, gmm::GmmShape shape);
// EM steps from a fixed model (a meta-learned initialisation, the pooled model).
std::unique_ptr<Method> em_from_model(std::string name, gmm::Gmm start, double reg_covar);
// EM steps from k-means++ or random points of the support, drawn from the stream
// (seed, init, task): step 0 is the initialisation's one M-step.
std::unique_ptr<Method> em_from_initialization(std::string name, gmm::GmmShape shape, gmm::InitMethod init,
                                               double reg_covar, std::uint64_t seed);
// The best of `restarts` runs of EM from k-means++ (streams (seed, init, task, r)) by the
// support log-likelihood after the last step, as scikit-learn's n_init: the curve is that run's.
// With a `proposal` (a meta-learned method), its own run is one of the `restarts` and EM from
// k-means++ the other restarts - 1 (streams r = 0 ... restarts - 2): the learned start meets EM
// with restarts at equal restarts.
std::unique_ptr<Method> em_best_of_initializations(std::string name, gmm::GmmShape shape, int restarts,
                                                   double reg_covar, std::uint64_t seed,
                                                   std::unique_ptr<Method> proposal = nullptr);
// Variational-EM steps under a hierarchical prior, each scored as the posterior predictive
// (gmm/bayes.hpp); after `stop_after` steps (the count chosen on validation tasks) the model
// stays as it is.
std::unique_ptr<Method> bayes_from_prior(std::string name, gmm::HierarchicalPrior prior, int stop_after);
// MAP-EM steps towards a fixed prior, starting from it (Reynolds et al. 2000).
std::unique_ptr<Method> map_from_prior(std::string name, gmm::Gmm prior, gmm::Relevance relevance, double reg_covar);
// The task's true mixture at every step.
std::unique_ptr<Method> oracle(std::string name, std::function<gmm::Gmm(Index task)> truth);

}  // namespace metagmm::eval
