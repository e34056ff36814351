#include "metagmm/meta/reptile.hpp"

#include "metagmm/core/error.hpp"
#include "metagmm/meta/registry.hpp"

namespace metagmm::meta {

std::string to_string(ReptileWeighting weighting) {
  return weighting == ReptileWeighting::uniform ? "uniform" : "distance";
}

ReptileWeighting parse_reptile_weighting(std::string_view text, std::string_view what) {
  if (text == "uniform") return ReptileWeighting::uniform;
  if (text == "distance") return ReptileWeighting::distance;
  throw InputError(std::string(what) + ": expected uniform or distance, got '" + std::string(text) + "'");
}

std::vector<SettingSpec> ReptileSettings::settings() {
  auto specs = InnerOptions::settings();
  specs.push_back({"weighting", to_string(ReptileWeighting::uniform),
                   "how tasks' adapted parameters are averaged: uniform, or distance (weights proportional to "
                   "|theta_i - theta|^2)",
                   {"uniform", "distance"}});
  return specs;
}

ReptileSettings ReptileSettings::from(const Settings& s) {
  return {InnerOptions::from(s), parse_reptile_weighting(s.text("weighting"), "weighting")};
}

Settings ReptileSettings::to_settings() const {
  Settings s;
  inner.store(s);
  s.set("weighting", to_string(weighting));
  return s;
}

AlgorithmEntry reptile_entry() {
  return {"reptile", "move towards the adapted parameters", ModelKind::mixture, ReptileSettings::settings(),
          OuterDefaults{"sgd", 1.0}, [](const ModelShape& model, const Settings& settings) {
            const ReptileSettings s = ReptileSettings::from(settings);
            return std::make_unique<Reptile>(model.mixture, s.inner, s.weighting);
          }};
}

Reptile::Reptile(const gmm::GmmShape& shape, const InnerOptions& inner, ReptileWeighting weighting)
    : parameters_(shape.parameter_count()), inner_options_(inner), inner_(shape, inner), weighting_(weighting) {
  inner.validate();
}

void Reptile::contribute(const Vector& theta, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "contribution size");
  adapted_ = theta;
  inner_.adapt(adapted_, episode.support);
  Eigen::Map<Vector> delta(out.data(), parameters_);
  delta = adapted_ - theta;
  out[parameters_] = -inner_.mean_log_likelihood(adapted_, episode.query);
  if (weighting_ == ReptileWeighting::distance) {
    const double squared = delta.squaredNorm();
    delta *= squared;
    out[parameters_ + 1] = squared;
  }
}

double Reptile::combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  METAGMM_CHECK(static_cast<Index>(sums.size()) == contribution_size() && tasks > 0, "contribution sums");
  const Eigen::Map<const Vector> moved(sums.data(), parameters_);
  double total_weight = static_cast<double>(tasks);
  if (weighting_ == ReptileWeighting::distance) total_weight = sums[parameters_ + 1];
  // No task moved (distance weighting): every direction is zero.
  if (total_weight > 0.0) {
    meta_gradient = -moved / total_weight;
  } else {
    meta_gradient.setZero(parameters_);
  }
  return sums[parameters_] / static_cast<double>(tasks);
}

double Reptile::adapted_log_likelihood(const Vector& theta, const task::Episode& episode) {
  return inner_.mean_log_likelihood(adapted_model(theta, episode.support), episode.query);
}

Vector Reptile::adapted_model(const Vector& theta, RowMatrixRef points) {
  adapted_ = theta;
  inner_.adapt(adapted_, points);
  return adapted_;
}

}  // namespace metagmm::meta
