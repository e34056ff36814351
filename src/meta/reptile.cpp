#include "metagmm/meta/reptile.hpp"

#include "metagmm/core/error.hpp"

namespace metagmm::meta {

std::string to_string(ReptileWeighting weighting) {
  return weighting == ReptileWeighting::uniform ? "uniform" : "distance";
}

ReptileWeighting parse_reptile_weighting(std::string_view text, std::string_view what) {
  if (text == "uniform") return ReptileWeighting::uniform;
  if (text == "distance") return ReptileWeighting::distance;
  throw InputError(std::string(what) + ": expected uniform or distance, got '" + std::string(text) + "'");
}

Reptile::Reptile(const gmm::GmmShape& shape, const InnerOptions& inner, ReptileWeighting weighting)
    : parameters_(shape.parameter_count()), inner_(shape, inner), weighting_(weighting) {}

void Reptile::contribute(const Vector& theta, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "contribution size");
  adapted_ = theta;
  inner_.adapt(adapted_, episode.support);
  Eigen::Map<Vector>(out.data(), parameters_) = adapted_ - theta;
  out[parameters_] = -inner_.mean_log_likelihood(adapted_, episode.query);
}

double Reptile::combine(const Vector&, std::span<const double> contributions, Index tasks, Vector& meta_gradient) {
  const Index width = contribution_size();
  METAGMM_CHECK(static_cast<Index>(contributions.size()) == tasks * width && tasks > 0, "contributions size");
  auto delta = [&](Index i) { return Eigen::Map<const Vector>(contributions.data() + i * width, parameters_); };
  Vector weights = Vector::Constant(tasks, 1.0 / static_cast<double>(tasks));
  if (weighting_ == ReptileWeighting::distance) {
    for (Index i = 0; i < tasks; ++i) weights[i] = delta(i).squaredNorm();
    const double total = weights.sum();
    // No task moved: every direction is zero, any weights do.
    if (total > 0.0) weights /= total;
    else weights.setConstant(1.0 / static_cast<double>(tasks));
  }
  meta_gradient.setZero(parameters_);
  double loss = 0.0;
  for (Index i = 0; i < tasks; ++i) {
    meta_gradient.noalias() -= weights[i] * delta(i);
    loss += contributions[static_cast<std::size_t>(i * width + parameters_)];
  }
  return loss / static_cast<double>(tasks);
}

double Reptile::adapted_log_likelihood(const Vector& theta, const task::Episode& episode) {
  adapted_ = theta;
  inner_.adapt(adapted_, episode.support);
  return inner_.mean_log_likelihood(adapted_, episode.query);
}

}  // namespace metagmm::meta
