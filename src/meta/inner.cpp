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
  if (steps < 0) throw SettingError("inner-steps", "expected an integer >= 0");
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate)) throw SettingError("inner-lr", "expected a finite number > 0");
  if (!(reg_covar >= 0.0) || !std::isfinite(reg_covar)) throw SettingError("reg-covar", "expected a finite number >= 0");
  relevance.validate();
}

std::vector<SettingSpec> InnerOptions::settings() {
  const InnerOptions d;
  return {
      {"inner", to_string(d.method),
       "inner adaptation: sgd (gradient steps), adam, em, or map (MAP-EM steps towards the meta-parameters as the "
       "prior, Reynolds et al. 2000; with --algo maml the exact meta-gradient through the steps, and the relevance "
       "factors are meta-learned too)",
       {"sgd", "adam", "em", "map"}},
      {"inner-steps", std::int64_t{d.steps}, "inner adaptation steps m", {}},
      {"inner-lr", d.learning_rate,
       "inner learning rate alpha (sgd, adam); with --meta-sgd, the learned step sizes' starting value", {}},
      {"reg-covar", d.reg_covar, "variance floor added by inner EM and MAP steps", {}},
      {"relevance", d.relevance.to_string(),
       "map: relevance factors r, one for every block or WEIGHTS:MEANS:COVARIANCES; each component moves from the "
       "prior towards its data by n_k / (n_k + r). maml --inner map: their starting values (learned as log r)",
       {}},
  };
}

InnerOptions InnerOptions::from(const Settings& s) {
  InnerOptions o;
  o.method = parse_inner_method(s.text("inner"), "inner");
  const std::int64_t steps = s.integer("inner-steps");
  if (steps < 0 || steps > 1'000'000) throw SettingError("inner-steps", "expected an integer in [0, 1000000]");
  o.steps = static_cast<int>(steps);
  o.learning_rate = s.real("inner-lr");
  o.reg_covar = s.real("reg-covar");
  const auto relevance = gmm::Relevance::try_parse(s.text("relevance"));
  if (!relevance) {
    throw SettingError("relevance", "expected a relevance factor >= 0, or three as WEIGHTS:MEANS:COVARIANCES, got '" +
                                        s.text("relevance") + "'");
  }
  o.relevance = *relevance;
  o.validate();
  return o;
}

void InnerOptions::store(Settings& s) const {
  s.set("inner", to_string(method));
  s.set("inner-steps", std::int64_t{steps});
  s.set("inner-lr", learning_rate);
  s.set("reg-covar", reg_covar);
  s.set("relevance", relevance.to_string());
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
