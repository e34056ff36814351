#include "metagmm/meta/maml.hpp"

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/meta/map_maml.hpp"
#include "metagmm/meta/registry.hpp"

namespace metagmm::meta {
namespace {

Index step_size_count(StepSizeLearning learning, Index parameters) {
  switch (learning) {
    case StepSizeLearning::none: return 0;
    case StepSizeLearning::block: return 3;  // logits, means, covariance
    case StepSizeLearning::parameter: return parameters;
  }
  return 0;
}

}  // namespace

std::string to_string(StepSizeLearning learning) {
  switch (learning) {
    case StepSizeLearning::none: return "none";
    case StepSizeLearning::block: return "block";
    case StepSizeLearning::parameter: return "parameter";
  }
  return "?";
}

StepSizeLearning parse_step_size_learning(std::string_view text, std::string_view what) {
  if (text == "none") return StepSizeLearning::none;
  if (text == "block") return StepSizeLearning::block;
  if (text == "parameter") return StepSizeLearning::parameter;
  throw InputError(std::string(what) + ": expected none, block or parameter, got '" + std::string(text) + "'");
}

std::vector<SettingSpec> MamlSettings::settings() {
  auto specs = InnerOptions::settings();
  specs.push_back({"meta-sgd", to_string(StepSizeLearning::none),
                   "maml/fomaml with --inner sgd: meta-learn the inner step sizes with the initialisation (Meta-SGD): "
                   "none, block (one each for the logits, means and covariances) or parameter (one per parameter); "
                   "saved in checkpoints",
                   {"none", "block", "parameter"}});
  return specs;
}

MamlSettings MamlSettings::from(const Settings& s) {
  return {InnerOptions::from(s), parse_step_size_learning(s.text("meta-sgd"), "meta-sgd")};
}

Settings MamlSettings::to_settings() const {
  Settings s;
  inner.store(s);
  s.set("meta-sgd", to_string(step_sizes));
  return s;
}

namespace {

// Outer learning rate of the gradient-based algorithms: a step along a meta-gradient, far shorter
// than Reptile's step fraction.
constexpr double kGradientOuterRate = 0.01;

std::unique_ptr<Algorithm> make_maml(const ModelShape& model, const Settings& settings, MamlOrder order) {
  const MamlSettings s = MamlSettings::from(settings);
  if (order == MamlOrder::second && s.inner.method == InnerMethod::map) {
    // Through MAP steps the learned extras are the relevance factors, not step sizes.
    if (s.step_sizes != StepSizeLearning::none)
      throw SettingError("meta-sgd", to_string(s.step_sizes),
                         "learned step sizes need the sgd inner loop (maml through MAP steps learns the relevance "
                         "factors)");
    return std::make_unique<MapMaml>(model.mixture, s.inner);
  }
  return std::make_unique<Maml>(model.mixture, s.inner, order, s.step_sizes);
}

}  // namespace

AlgorithmEntry maml_entry() {
  return {"maml", "exact second-order meta-gradient through the inner steps", ModelKind::mixture,
          MamlSettings::settings(), OuterDefaults{"sgd", kGradientOuterRate},
          [](const ModelShape& model, const Settings& s) { return make_maml(model, s, MamlOrder::second); }};
}

AlgorithmEntry fomaml_entry() {
  return {"fomaml", "first-order MAML: the query gradient at the adapted parameters", ModelKind::mixture,
          MamlSettings::settings(), OuterDefaults{"sgd", kGradientOuterRate},
          [](const ModelShape& model, const Settings& s) { return make_maml(model, s, MamlOrder::first); }};
}

Maml::Maml(const gmm::GmmShape& shape, const InnerOptions& inner, MamlOrder order, StepSizeLearning step_sizes)
    : shape_(shape),
      parameters_(shape.parameter_count()),
      inner_options_(inner),
      order_(order),
      learning_(step_sizes),
      step_size_count_(step_size_count(step_sizes, shape.parameter_count())),
      inner_(shape, inner),
      alpha_(Vector::Constant(parameters_, inner.learning_rate)) {
  inner.validate();
  if (inner.method != InnerMethod::sgd && order == MamlOrder::second)
    throw SettingError("inner", meta::to_string(inner.method),
                       "second-order maml differentiates through plain gradient steps; use the sgd inner loop, or "
                       "fomaml");
  if (inner.method != InnerMethod::sgd && step_sizes != StepSizeLearning::none)
    throw SettingError("meta-sgd", meta::to_string(step_sizes), "learned step sizes need the sgd inner loop");
}

std::vector<ParameterBlock> Maml::extra_parameters() const {
  if (step_size_count_ == 0) return {};
  return {{"log_step_sizes", step_size_count_}};
}

Vector Maml::initial_extra_parameters() const {
  return Vector::Constant(step_size_count_, std::log(inner_options_.learning_rate));
}

Index Maml::block_of(Index parameter) const {
  const Index K = shape_.components;
  if (parameter < K) return 0;
  return parameter < K + K * shape_.dim ? 1 : 2;
}

void Maml::expand_step_sizes(const Vector& meta) {
  METAGMM_CHECK(meta.size() == parameters_ + step_size_count_, "maml: meta-parameter count");
  if (learning_ == StepSizeLearning::none) return;  // alpha_ keeps --inner-lr
  const auto log_alpha = meta.tail(step_size_count_);
  if (learning_ == StepSizeLearning::parameter) {
    alpha_ = log_alpha.array().exp();
  } else {
    for (Index i = 0; i < parameters_; ++i) alpha_[i] = std::exp(log_alpha[block_of(i)]);
  }
}

const Vector& Maml::adapt(const Vector& meta, RowMatrixRef support) {
  const int m = inner_options_.steps;
  iterates_.resize(static_cast<std::size_t>(m) + 1);
  gradients_.resize(static_cast<std::size_t>(m));
  iterates_[0] = meta.head(parameters_);
  if (inner_options_.method != InnerMethod::sgd) {  // first order only (checked at construction)
    inner_.adapt(iterates_[0], support);
    return iterates_[0];
  }
  expand_step_sizes(meta);
  const bool second_order = order_ == MamlOrder::second;
  if (second_order) statistics_.resize(static_cast<std::size_t>(m));
  for (int j = 0; j < m; ++j) {
    const gmm::Gmm at = gmm::Gmm::unpack(shape_, iterates_[j]);
    const gmm::Statistics& stats = evaluator_.statistics(at, support);
    gradients_[j] = gmm::loss_gradient(at, stats);
    if (second_order) statistics_[j] = stats;
    iterates_[j + 1] = iterates_[j] - alpha_.cwiseProduct(gradients_[j]);
  }
  return iterates_[m];
}

void Maml::adaptation_path(const Vector& meta, RowMatrixRef support, int steps, std::vector<Vector>& iterates) {
  if (inner_options_.method != InnerMethod::sgd) {
    inner_.path(meta.head(parameters_), support, steps, iterates);
    return;
  }
  expand_step_sizes(meta);
  iterates.assign(1, meta.head(parameters_));
  for (int j = 0; j < steps; ++j) {
    const gmm::Gmm at = gmm::Gmm::unpack(shape_, iterates.back());
    iterates.push_back(iterates.back() - alpha_.cwiseProduct(gmm::loss_gradient(at, evaluator_.statistics(at, support))));
  }
}

void Maml::contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "contribution size");
  const Vector& adapted = adapt(meta, episode.support);
  const double loss = gmm::loss_and_gradient(gmm::Gmm::unpack(shape_, adapted), episode.query, evaluator_, adjoint_);
  const bool learned = learning_ != StepSizeLearning::none;
  if (learned) step_size_gradient_.setZero(parameters_);
  if (inner_options_.method == InnerMethod::sgd) {
    // adjoint_ is v_(j+1), the meta-objective's gradient with respect to theta_(j+1).
    for (int j = inner_options_.steps - 1; j >= 0; --j) {
      if (learned) step_size_gradient_.noalias() -= adjoint_.cwiseProduct(gradients_[j]);
      if (order_ == MamlOrder::second) {
        scaled_ = alpha_.cwiseProduct(adjoint_);
        adjoint_ -= gmm::hessian_vector_product(gmm::Gmm::unpack(shape_, iterates_[j]), statistics_[j], scaled_,
                                                episode.support, evaluator_);
      }
    }
  }
  Eigen::Map<Vector> gradient(out.data(), parameters_ + step_size_count_);
  gradient.head(parameters_) = adjoint_;
  if (learned) {
    // d/dlog alpha = alpha dF/dalpha, summed over each block's parameters.
    const Vector by_parameter = alpha_.cwiseProduct(step_size_gradient_);
    if (learning_ == StepSizeLearning::parameter) {
      gradient.tail(step_size_count_) = by_parameter;
    } else {
      gradient.tail(step_size_count_).setZero();
      for (Index i = 0; i < parameters_; ++i) gradient[parameters_ + block_of(i)] += by_parameter[i];
    }
  }
  out[parameters_ + step_size_count_] = loss;
}

double Maml::combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  return mean_gradient_and_loss(sums, parameters_ + step_size_count_, tasks, meta_gradient);
}

double Maml::adapted_log_likelihood(const Vector& meta, const task::Episode& episode) {
  const Vector& adapted = adapt(meta, episode.support);
  return evaluator_.mean_log_likelihood(gmm::Gmm::unpack(shape_, adapted), episode.query);
}

}  // namespace metagmm::meta
