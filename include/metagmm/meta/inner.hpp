#pragma once
// Inner adaptation of one task (docs/design.md, "Inner loops"): m steps from the meta-parameters on
// the task's support set, by gradient descent (plain or Adam), by EM, or by MAP-EM towards the
// meta-parameters as the prior (gmm/map.hpp).
#include <string>
#include <string_view>
#include <vector>

#include "metagmm/gmm/map.hpp"
#include "metagmm/gmm/params.hpp"
#include "metagmm/gmm/stats.hpp"
#include "metagmm/meta/optimizer.hpp"
#include "metagmm/meta/settings.hpp"

namespace metagmm::meta {

enum class InnerMethod { sgd, adam, em, map };
std::string to_string(InnerMethod method);
InnerMethod parse_inner_method(std::string_view text, std::string_view what);

// The inner loop's settings (every mixture algorithm has them).
struct InnerOptions {
  InnerMethod method = InnerMethod::sgd;  // inner
  int steps = 5;                          // inner-steps: m
  double learning_rate = 0.1;             // inner-lr: alpha (sgd, adam)
  double reg_covar = 1e-6;                // reg-covar: variance floor of EM and MAP steps
  gmm::Relevance relevance;               // relevance: MAP steps' relevance factors
  void validate() const;                  // SettingError
  // The declarations, and the conversions from and to stored settings.
  static std::vector<SettingSpec> settings();
  static InnerOptions from(const Settings& settings);
  void store(Settings& settings) const;
};

class InnerLoop {
 public:
  InnerLoop(const gmm::GmmShape& shape, const InnerOptions& options);
  // theta <- the result of m adaptation steps on `support`.
  void adapt(Vector& theta, RowMatrixRef support);
  // The iterates theta_0 = theta, theta_1, ..., theta_steps of the same steps, however many
  // (evaluation follows an adaptation beyond the m it was trained for).
  void path(const Vector& theta, RowMatrixRef support, int steps, std::vector<Vector>& iterates);
  // Mean log-likelihood per point of `points` under the flat parameters `theta`.
  double mean_log_likelihood(const Vector& theta, RowMatrixRef points);
  const gmm::GmmShape& shape() const { return shape_; }

 private:
  // `steps` steps from theta, appending each iterate to `iterates` when given.
  void run(Vector& theta, RowMatrixRef support, int steps, std::vector<Vector>* iterates);
  gmm::GmmShape shape_;
  InnerOptions options_;
  gmm::Evaluator evaluator_;
  Optimizer adam_;
  Vector gradient_;
};

}  // namespace metagmm::meta
