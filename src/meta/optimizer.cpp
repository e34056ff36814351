#include "metagmm/meta/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "metagmm/core/error.hpp"

namespace metagmm::meta {

std::string to_string(OptimizerMethod method) { return method == OptimizerMethod::sgd ? "sgd" : "adam"; }

OptimizerMethod parse_optimizer(std::string_view text, std::string_view what) {
  if (text == "sgd") return OptimizerMethod::sgd;
  if (text == "adam") return OptimizerMethod::adam;
  throw InputError(std::string(what) + ": expected sgd or adam, got '" + std::string(text) + "'");
}

double OptimizerOptions::rate(std::int64_t update) const {
  if (decay_steps <= 0) return learning_rate;
  const double done = static_cast<double>(std::min(update - 1, decay_steps)) / static_cast<double>(decay_steps);
  return learning_rate * 0.5 * (1.0 + std::cos(std::numbers::pi * done));
}

void OptimizerOptions::validate(const std::string& prefix) const {
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate))
    throw SettingError(prefix + "lr", "expected a finite number > 0");
  if (decay_steps < 0) throw SettingError(prefix + "lr-decay-steps", "expected an integer >= 0");
  if (method == OptimizerMethod::adam) {
    if (!(beta1 >= 0.0 && beta1 < 1.0)) throw SettingError(prefix + "beta1", "expected a number in [0, 1)");
    if (!(beta2 >= 0.0 && beta2 < 1.0)) throw SettingError(prefix + "beta2", "expected a number in [0, 1)");
    if (!(epsilon > 0.0)) throw SettingError(prefix + "epsilon", "expected a number > 0");
  }
}

Optimizer::Optimizer(const OptimizerOptions& options, Index parameters) : options_(options), parameters_(parameters) {
  reset();
}

void Optimizer::reset() {
  state_.steps = 0;
  if (options_.method == OptimizerMethod::adam) {
    state_.first.setZero(parameters_);
    state_.second.setZero(parameters_);
  }
}

void Optimizer::step(Vector& theta, const Vector& gradient) {
  ++state_.steps;
  const double rate = options_.rate(state_.steps);
  if (options_.method == OptimizerMethod::sgd) {
    theta.noalias() -= rate * gradient;
    return;
  }
  const double b1 = options_.beta1, b2 = options_.beta2;
  state_.first = b1 * state_.first + (1.0 - b1) * gradient;
  state_.second = b2 * state_.second + (1.0 - b2) * gradient.cwiseProduct(gradient);
  // The textbook form (and PyTorch's): bias-corrected moments, epsilon outside the root.
  const double t = static_cast<double>(state_.steps);
  const double first_correction = 1.0 - std::pow(b1, t), second_correction = 1.0 - std::pow(b2, t);
  theta.array() -= rate * (state_.first.array() / first_correction) /
                   ((state_.second.array() / second_correction).sqrt() + options_.epsilon);
}

void Optimizer::restore(const OptimizerState& state) {
  const bool adam = options_.method == OptimizerMethod::adam;
  const Index expected = adam ? parameters_ : 0;
  if (state.steps < 0 || state.first.size() != expected || state.second.size() != expected)
    throw InputError("optimiser state does not match " + to_string(options_.method) + " with " +
                     std::to_string(parameters_) + " parameters");
  state_ = state;
}

}  // namespace metagmm::meta
