#include "metagmm/meta/inner.hpp"

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/map.hpp"

namespace metagmm::meta {
namespace {

OptimizerOptions inner_adam(const InnerOptions& o) {
  OptimizerOptions adam;
  adam.method = OptimizerMethod::adam;
  adam.learning_rate = o.learning_rate;
  return adam;
}

}  // namespace

std::string to_string(InnerMethod method) {
  switch (method) {
    case InnerMethod::sgd: return "sgd";
    case InnerMethod::adam: return "adam";
    case InnerMethod::em: return "em";
    case InnerMethod::map: return "map";
  }
  return "?";
}

InnerMethod parse_inner_method(std::string_view text, std::string_view what) {
  if (text == "sgd") return InnerMethod::sgd;
  if (text == "adam") return InnerMethod::adam;
  if (text == "em") return InnerMethod::em;
  if (text == "map") return InnerMethod::map;
  throw InputError(std::string(what) + ": expected sgd, adam, em or map, got '" + std::string(text) + "'");
}

void InnerOptions::validate() const {
  if (steps < 0) throw InputError("--inner-steps: expected an integer >= 0");
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate)) throw InputError("--inner-lr: expected a finite number > 0");
  if (!(reg_covar >= 0.0) || !std::isfinite(reg_covar)) throw InputError("--reg-covar: expected a finite number >= 0");
  relevance.validate();
}

InnerLoop::InnerLoop(const gmm::GmmShape& shape, const InnerOptions& options)
    : shape_(shape), options_(options), adam_(inner_adam(options), shape.parameter_count()) {}

void InnerLoop::adapt(Vector& theta, RowMatrixRef support) { run(theta, support, options_.steps, nullptr); }

void InnerLoop::path(const Vector& theta, RowMatrixRef support, int steps, std::vector<Vector>& iterates) {
  iterates.assign(1, theta);
  Vector current = theta;
  run(current, support, steps, &iterates);
}

void InnerLoop::run(Vector& theta, RowMatrixRef support, int steps, std::vector<Vector>* iterates) {
  if (options_.method == InnerMethod::em || options_.method == InnerMethod::map) {
    // MAP-EM moves towards the starting parameters as the prior.
    const gmm::Gmm prior = gmm::Gmm::unpack(shape_, theta);
    gmm::Gmm model = prior;
    for (int i = 0; i < steps; ++i) {
      if (options_.method == InnerMethod::em) {
        gmm::em_step(model, support, options_.reg_covar, evaluator_);
      } else {
        gmm::map_em_step(model, prior, support, options_.relevance, options_.reg_covar, evaluator_);
      }
      if (iterates) iterates->push_back(model.pack());
    }
    theta = model.pack();
    return;
  }
  adam_.reset();
  for (int i = 0; i < steps; ++i) {
    gmm::loss_and_gradient(gmm::Gmm::unpack(shape_, theta), support, evaluator_, gradient_);
    if (options_.method == InnerMethod::sgd) {
      theta.noalias() -= options_.learning_rate * gradient_;
    } else {
      adam_.step(theta, gradient_);
    }
    if (iterates) iterates->push_back(theta);
  }
}

double InnerLoop::mean_log_likelihood(const Vector& theta, RowMatrixRef points) {
  return evaluator_.mean_log_likelihood(gmm::Gmm::unpack(shape_, theta), points);
}

}  // namespace metagmm::meta
