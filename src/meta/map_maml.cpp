#include "metagmm/meta/map_maml.hpp"

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/map_gradient.hpp"

namespace metagmm::meta {

MapMaml::MapMaml(const gmm::GmmShape& shape, const InnerOptions& inner)
    : shape_(shape), parameters_(shape.parameter_count()), options_(inner) {
  inner.validate();
  METAGMM_CHECK(inner.method == InnerMethod::map, "MapMaml: MAP inner steps");
  if (shape.covariance != gmm::CovarianceType::diag)
    throw SettingError("covariance", gmm::to_string(shape.covariance),
                       "maml through MAP steps learns a diagonal prior; use diag");
  for (const double r : {inner.relevance.weights, inner.relevance.means, inner.relevance.covariances})
    if (!(r > 0.0)) throw SettingError("relevance", "maml learns log r, so every factor must be > 0");
}

Vector MapMaml::initial_extra_parameters() const {
  const auto& r = options_.relevance;
  return Vector{{std::log(r.weights), std::log(r.means), std::log(r.covariances)}};
}

gmm::Relevance MapMaml::relevance(const Vector& meta, Index parameters) {
  METAGMM_CHECK(meta.size() == parameters + 3, "MapMaml: meta-parameter count");
  return {std::exp(meta[parameters]), std::exp(meta[parameters + 1]), std::exp(meta[parameters + 2])};
}

void map_path(const gmm::Gmm& prior, RowMatrixRef support, const gmm::Relevance& relevance, double reg_covar,
              int steps, gmm::Evaluator& evaluator, std::vector<Vector>& iterates) {
  gmm::Gmm current = prior;
  iterates.assign(1, prior.pack());
  for (int j = 0; j < steps; ++j) {
    gmm::map_em_step(current, prior, support, relevance, reg_covar, evaluator);
    iterates.push_back(current.pack());
  }
}

void map_path_reverse(const gmm::Gmm& prior, const std::vector<Vector>& iterates, const gmm::Relevance& relevance,
                      double reg_covar, RowMatrixRef support, Vector& adjoint, Vector& prior_gradient,
                      std::array<double, 3>& log_relevance) {
  gmm::MapStepAdjoints adjoints;
  adjoints.prior.setZero(prior.shape.parameter_count());
  for (auto j = static_cast<std::ptrdiff_t>(iterates.size()) - 2; j >= 0; --j) {
    gmm::map_em_step_reverse(gmm::Gmm::unpack(prior.shape, iterates[static_cast<std::size_t>(j)]), prior, relevance,
                             reg_covar, support, adjoint, adjoints);
    adjoint = adjoints.input;
  }
  prior_gradient = adjoint + adjoints.prior;  // the prior is also the first iterate
  log_relevance = adjoints.log_relevance;
}

void MapMaml::adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) {
  map_path(gmm::Gmm::unpack(shape_, meta.head(parameters_)), points, relevance(meta, parameters_), options_.reg_covar,
           steps, evaluator_, iterates);
}

Vector MapMaml::adapted_model(const Vector& meta, RowMatrixRef points) {
  adaptation_path(meta, points, options_.steps, iterates_);
  return iterates_.back();
}

void MapMaml::contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "contribution size");
  adaptation_path(meta, episode.support, options_.steps, iterates_);
  const double loss =
      gmm::loss_and_gradient(gmm::Gmm::unpack(shape_, iterates_.back()), episode.query, evaluator_, adjoint_);
  Vector prior_gradient;
  std::array<double, 3> log_relevance{};
  map_path_reverse(gmm::Gmm::unpack(shape_, meta.head(parameters_)), iterates_, relevance(meta, parameters_),
                   options_.reg_covar, episode.support, adjoint_, prior_gradient, log_relevance);
  Eigen::Map<Vector> gradient(out.data(), parameters_ + 3);
  gradient.head(parameters_) = prior_gradient;
  for (Index b = 0; b < 3; ++b) gradient[parameters_ + b] = log_relevance[static_cast<std::size_t>(b)];
  out[parameters_ + 3] = loss;
}

double MapMaml::combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  return mean_gradient_and_loss(sums, parameters_ + 3, tasks, meta_gradient);
}

double MapMaml::adapted_log_likelihood(const Vector& meta, const task::Episode& episode) {
  return evaluator_.mean_log_likelihood(gmm::Gmm::unpack(shape_, adapted_model(meta, episode.support)), episode.query);
}

}  // namespace metagmm::meta
