#pragma once
// First-order optimisers on a flat parameter vector: plain gradient descent and Adam
// (Kingma and Ba 2015, with bias correction). Used for the outer (meta) update and for
// inner adaptation with Adam. The state is exposed so that checkpoints can store it.
#include <cstdint>
#include <string>
#include <string_view>

#include "metagmm/core/types.hpp"

namespace metagmm::meta {

enum class OptimizerMethod { sgd, adam };
std::string to_string(OptimizerMethod method);
// "sgd" or "adam"; InputError naming `what` otherwise.
OptimizerMethod parse_optimizer(std::string_view text, std::string_view what);

struct OptimizerOptions {
  OptimizerMethod method = OptimizerMethod::sgd;
  double learning_rate = 1.0;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  // Adam
  // > 0: the rate decays from learning_rate to 0 along half a cosine over this many updates
  // (the trainer's --outer-lr-decay-steps), so that the last updates settle instead of jumping
  // about at the full rate. A function of the update count alone: resume-exact.
  std::int64_t decay_steps = 0;
  // The rate of update number `update` (1 for the first).
  double rate(std::int64_t update) const;
  // Throws InputError naming options as `prefix` + "lr" etc. (e.g. "--outer-").
  void validate(const std::string& prefix) const;
};

struct OptimizerState {
  std::int64_t steps = 0;  // updates taken (Adam's bias-correction count)
  Vector first;            // Adam: moving mean of gradients (empty for SGD)
  Vector second;           // Adam: moving mean of squared gradients (empty for SGD)
  bool operator==(const OptimizerState&) const = default;
};

class Optimizer {
 public:
  Optimizer(const OptimizerOptions& options, Index parameters);
  // theta <- theta - step(gradient).
  void step(Vector& theta, const Vector& gradient);
  void reset();  // forget the moments (a fresh inner loop)
  const OptimizerState& state() const { return state_; }
  // Throws InputError if the state does not fit the method and parameter count.
  void restore(const OptimizerState& state);

 private:
  OptimizerOptions options_;
  Index parameters_;
  OptimizerState state_;
};

}  // namespace metagmm::meta
