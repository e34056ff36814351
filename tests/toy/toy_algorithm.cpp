#include "toy_algorithm.hpp"

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/stats.hpp"

namespace metagmm::toy {
namespace {

// Its settings: declared once, converted from and to the stored form.
struct ToySettings {
  double rate = 0.05;  // toy-rate: the step size of the adaptation's gradient steps
  int steps = 2;       // toy-steps: how many
  static std::vector<meta::SettingSpec> specs() {
    const ToySettings d;
    return {{"toy-rate", d.rate, "step size of the adaptation's gradient steps", {}},
            {"toy-steps", std::int64_t{d.steps}, "gradient steps per task", {}}};
  }
  static ToySettings from(const meta::Settings& s) {
    ToySettings t;
    t.rate = s.real("toy-rate");
    if (!(t.rate > 0.0)) throw SettingError("toy-rate", "expected a number > 0");
    const std::int64_t steps = s.integer("toy-steps");
    if (steps < 0 || steps > 1000) throw SettingError("toy-steps", "expected an integer in [0, 1000]");
    t.steps = static_cast<int>(steps);
    return t;
  }
  meta::Settings to_settings() const {
    meta::Settings s;
    s.set("toy-rate", rate);
    s.set("toy-steps", std::int64_t{steps});
    return s;
  }
};

class ToyFirstOrder final : public meta::MixtureAlgorithm {
 public:
  ToyFirstOrder(const gmm::GmmShape& shape, const ToySettings& settings)
      : shape_(shape), parameters_(shape.parameter_count()), settings_(settings) {}
  std::string name() const override { return "toy-fomaml"; }
  meta::Settings settings() const override { return settings_.to_settings(); }
  std::vector<meta::ParameterBlock> extra_parameters() const override { return {{"log_unused_scale", 1}}; }
  Vector initial_extra_parameters() const override { return Vector::Zero(1); }
  // [query gradient at the adapted mixture (P) | 0 for the unused block | query loss]
  Index contribution_size() const override { return parameters_ + 2; }
  void contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) override {
    const Vector adapted = adapted_model(meta, episode.support);
    const double loss = gmm::loss_and_gradient(gmm::Gmm::unpack(shape_, adapted), episode.query, evaluator_, gradient_);
    Eigen::Map<Vector>(out.data(), parameters_) = gradient_;
    out[static_cast<std::size_t>(parameters_)] = 0.0;
    out[static_cast<std::size_t>(parameters_ + 1)] = loss;
  }
  double combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) override {
    return meta::mean_gradient_and_loss(sums, parameters_ + 1, tasks, meta_gradient);
  }
  double adapted_log_likelihood(const Vector& meta, const task::Episode& episode) override {
    return evaluator_.mean_log_likelihood(gmm::Gmm::unpack(shape_, adapted_model(meta, episode.support)), episode.query);
  }
  Vector adapted_model(const Vector& meta, RowMatrixRef points) override {
    std::vector<Vector> path;
    adaptation_path(meta, points, settings_.steps, path);
    return path.back();
  }
  void adaptation_path(const Vector& meta, RowMatrixRef points, int steps, std::vector<Vector>& iterates) override {
    Vector theta = meta.head(parameters_);
    iterates.assign(1, theta);
    for (int j = 0; j < steps; ++j) {
      gmm::loss_and_gradient(gmm::Gmm::unpack(shape_, theta), points, evaluator_, gradient_);
      theta -= settings_.rate * gradient_;
      iterates.push_back(theta);
    }
  }
  int adaptation_steps() const override { return settings_.steps; }

 private:
  gmm::GmmShape shape_;
  Index parameters_;
  ToySettings settings_;
  gmm::Evaluator evaluator_;
  Vector gradient_;
};

}  // namespace

void register_toy_algorithm() {
  for (const meta::AlgorithmEntry& entry : meta::registered_algorithms())
    if (entry.name == "toy-fomaml") return;
  meta::register_algorithm({"toy-fomaml", "a test's first-order learner with plain gradient steps",
                            meta::ModelKind::mixture, ToySettings::specs(), meta::OuterDefaults{"sgd", 0.01},
                            [](const meta::ModelShape& model, const meta::Settings& settings) {
                              return std::make_unique<ToyFirstOrder>(model.mixture, ToySettings::from(settings));
                            }});
}

}  // namespace metagmm::toy
