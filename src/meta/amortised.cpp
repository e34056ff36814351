#include "metagmm/meta/amortised.hpp"

#include <array>
#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/meta/map_maml.hpp"

namespace metagmm::meta {
namespace {

std::string widths_text(const std::vector<Index>& widths) {
  std::string text;
  for (const Index w : widths) text += (text.empty() ? "" : ",") + std::to_string(w);
  return text;
}

// The inner loop's declaration of `name`, so that the option is one for every algorithm.
SettingSpec inner_setting(const std::string& name) {
  for (const SettingSpec& spec : InnerOptions::settings())
    if (spec.name == name) return spec;
  METAGMM_CHECK(false, "inner setting " + name);
  return {};
}

// The set encoder for `shape`; SettingError unless the mixture is diagonal.
SetEncoderShape encoder_shape(const gmm::GmmShape& shape, const AmortisedSettings& settings) {
  if (shape.covariance != gmm::CovarianceType::diag)
    throw SettingError("covariance", gmm::to_string(shape.covariance), "amortised proposes diagonal mixtures; use diag");
  return {shape, settings.point_widths, settings.head_widths};
}

}  // namespace

std::vector<SettingSpec> AmortisedSettings::settings() {
  const AmortisedSettings d;
  return {
      inner_setting("inner-steps"),
      inner_setting("reg-covar"),
      inner_setting("relevance"),
      {"set-widths", widths_text(d.point_widths),
       "amortised: the set encoder's per-point MLP widths, comma-separated (the last is the embedding that the "
       "seeds attend over and that is mean-pooled)",
       {}},
      {"head-widths", widths_text(d.head_widths),
       "amortised: the hidden widths of the head that turns each seed's pooled embedding into its component's "
       "start",
       {}},
  };
}

AmortisedSettings AmortisedSettings::from(const Settings& s) {
  AmortisedSettings a;
  Settings inner = s;
  inner.set("inner", std::string("map"));
  inner.set("inner-lr", InnerOptions().learning_rate);
  a.inner = InnerOptions::from(inner);
  a.point_widths = parse_widths(s.text("set-widths"), "set-widths");
  a.head_widths = parse_widths(s.text("head-widths"), "head-widths");
  return a;
}

Settings AmortisedSettings::to_settings() const {
  Settings s;
  s.set("inner-steps", std::int64_t{inner.steps});
  s.set("reg-covar", inner.reg_covar);
  s.set("relevance", inner.relevance.to_string());
  s.set("set-widths", widths_text(point_widths));
  s.set("head-widths", widths_text(head_widths));
  return s;
}

AmortisedAdaptation::AmortisedAdaptation(const gmm::GmmShape& shape, const AmortisedSettings& settings)
    : shape_(shape),
      settings_(settings),
      parameters_(shape.parameter_count()),
      encoder_(encoder_shape(shape, settings)) {
  meta_size_ = parameters_ + 3 + encoder_.shape().parameter_count();
  for (const double r : {settings.inner.relevance.weights, settings.inner.relevance.means,
                         settings.inner.relevance.covariances})
    if (!(r > 0.0)) throw SettingError("relevance", "amortised learns log r, so every factor must be > 0");
}

std::vector<ParameterBlock> AmortisedAdaptation::extra_parameters() const {
  const SetEncoderShape& s = encoder_.shape();
  return {{"log_relevance", 3},
          {"set_point_mlp", s.point_shape().parameter_count()},
          {"set_seeds", s.mixture.components * s.embedding()},
          {"set_head", s.head_shape().parameter_count()},
          {"set_gate", 1}};
}

Vector AmortisedAdaptation::initial_extra_parameters() const {
  const gmm::Relevance& r = settings_.inner.relevance;
  RandomStream random(0, StreamPurpose::meta_init, 1);
  const Vector weights = SetEncoder::initial_weights(encoder_.shape(), random);
  Vector extra(3 + weights.size());
  extra << std::log(r.weights), std::log(r.means), std::log(r.covariances), weights;
  return extra;
}

gmm::Relevance AmortisedAdaptation::relevance(const Vector& meta) const {
  return {std::exp(meta[parameters_]), std::exp(meta[parameters_ + 1]), std::exp(meta[parameters_ + 2])};
}

gmm::Gmm AmortisedAdaptation::start(const Vector& meta, RowMatrixRef points) {
  METAGMM_CHECK(meta.size() == meta_size_, "amortised: meta-parameter count");
  weights_ = meta.tail(meta_size_ - parameters_ - 3);
  return gmm::Gmm::unpack(shape_, encoder_.forward(meta.head(parameters_), weights_, points));
}

void AmortisedAdaptation::adaptation_path(const Vector& meta, RowMatrixRef points, int steps,
                                          std::vector<Vector>& iterates) {
  map_path(start(meta, points), points, relevance(meta), settings_.inner.reg_covar, steps, evaluator_, iterates);
}

Vector AmortisedAdaptation::adapted_model(const Vector& meta, RowMatrixRef points) {
  adaptation_path(meta, points, settings_.inner.steps, iterates_);
  return iterates_.back();
}

void AmortisedAdaptation::contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "contribution size");
  const gmm::Gmm prior = start(meta, episode.support);
  const gmm::Relevance r = relevance(meta);
  map_path(prior, episode.support, r, settings_.inner.reg_covar, settings_.inner.steps, evaluator_, iterates_);
  const double loss =
      gmm::loss_and_gradient(gmm::Gmm::unpack(shape_, iterates_.back()), episode.query, evaluator_, adjoint_);
  std::array<double, 3> log_relevance{};
  map_path_reverse(prior, iterates_, r, settings_.inner.reg_covar, episode.support, adjoint_, start_gradient_,
                   log_relevance);
  encoder_.backward(start_gradient_, base_gradient_, weight_gradient_);
  Eigen::Map<Vector> gradient(out.data(), meta_size_);
  gradient.head(parameters_) = base_gradient_;
  for (Index b = 0; b < 3; ++b) gradient[parameters_ + b] = log_relevance[static_cast<std::size_t>(b)];
  gradient.tail(weight_gradient_.size()) = weight_gradient_;
  out[static_cast<std::size_t>(meta_size_)] = loss;
}

double AmortisedAdaptation::combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  return mean_gradient_and_loss(sums, meta_size_, tasks, meta_gradient);
}

double AmortisedAdaptation::adapted_log_likelihood(const Vector& meta, const task::Episode& episode) {
  return evaluator_.mean_log_likelihood(gmm::Gmm::unpack(shape_, adapted_model(meta, episode.support)), episode.query);
}

// Adam at 0.003: the encoder learns from scratch (its head from zero); on the small uniform protocol of
// tests/cli/test_amortised.py 0.003 reached a validation log-likelihood of -1.96 in 3 000 steps of 16
// tasks, 0.01 -2.01.
AlgorithmEntry amortised_entry() {
  return {"amortised",
          "amortised adaptation: a set encoder reads the support and proposes the start of m MAP-EM steps towards "
          "it; the encoder, the base mixture and the relevance factors are learned through the steps",
          ModelKind::mixture, AmortisedSettings::settings(), OuterDefaults{"adam", 0.003},
          [](const ModelShape& model, const Settings& settings) -> std::unique_ptr<Algorithm> {
            return std::make_unique<AmortisedAdaptation>(model.mixture, AmortisedSettings::from(settings));
          }};
}

}  // namespace metagmm::meta
