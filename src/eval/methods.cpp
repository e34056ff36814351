#include "metagmm/eval/methods.hpp"

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/meta/bayes.hpp"

#include <limits>

namespace metagmm::eval {
namespace {

class MetaLearnedSteps final : public Method {
 public:
  MetaLearnedSteps(std::string name, std::unique_ptr<meta::MixtureAlgorithm> algorithm, Vector meta, gmm::GmmShape shape)
      : Method(std::move(name)), algorithm_(std::move(algorithm)), meta_(std::move(meta)), shape_(shape) {}
  void adapt(Index, RowMatrixRef support, int steps, const Visit& visit) override {
    iterates_.clear();
    try {
      algorithm_->adaptation_path(meta_, support, steps, iterates_);
    } catch (const NumericError&) {  // a singular covariance: the adaptation ends at the last iterate reached
    }
    for (const Vector& theta : iterates_) visit(gmm::Gmm::unpack(shape_, theta));
  }

 private:
  std::unique_ptr<meta::MixtureAlgorithm> algorithm_;
  Vector meta_;
  gmm::GmmShape shape_;
  std::vector<Vector> iterates_;
};

// EM (or MAP-EM) steps from a start that `start` makes for each task.
class ExpectationMaximization : public Method {
 public:
  ExpectationMaximization(std::string name, double reg_covar) : Method(std::move(name)), reg_covar_(reg_covar) {}
  void adapt(Index task, RowMatrixRef support, int steps, const Visit& visit) override {
    gmm::Gmm model = start(task, support);
    visit(model);
    for (int j = 0; j < steps; ++j) {
      try {
        step(model, support);
      } catch (const NumericError&) {  // a singular covariance: the adaptation ends here
        return;
      }
      visit(model);
    }
  }

 protected:
  virtual gmm::Gmm start(Index task, RowMatrixRef support) = 0;
  virtual void step(gmm::Gmm& model, RowMatrixRef support) { gmm::em_step(model, support, reg_covar_, evaluator_); }
  double reg_covar_;
  gmm::Evaluator evaluator_;
};

class EmFromModel final : public ExpectationMaximization {
 public:
  EmFromModel(std::string name, gmm::Gmm start, double reg_covar)
      : ExpectationMaximization(std::move(name), reg_covar), start_(std::move(start)) {}

 private:
  gmm::Gmm start(Index, RowMatrixRef) override { return start_; }
  gmm::Gmm start_;
};

class EmFromInitialization final : public ExpectationMaximization {
 public:
  EmFromInitialization(std::string name, gmm::GmmShape shape, gmm::InitMethod init, double reg_covar,
                       std::uint64_t seed)
      : ExpectationMaximization(std::move(name), reg_covar), shape_(shape), init_(init), seed_(seed) {}

 private:
  gmm::Gmm start(Index task, RowMatrixRef support) override {
    RandomStream random(seed_, StreamPurpose::init, static_cast<std::uint64_t>(task));
    return gmm::initialize(support, shape_, init_, reg_covar_, random);
  }
  gmm::GmmShape shape_;
  gmm::InitMethod init_;
  std::uint64_t seed_;
};

class MapFromPrior final : public ExpectationMaximization {
 public:
  MapFromPrior(std::string name, gmm::Gmm prior, gmm::Relevance relevance, double reg_covar)
      : ExpectationMaximization(std::move(name), reg_covar), prior_(std::move(prior)), relevance_(relevance) {}

 private:
  gmm::Gmm start(Index, RowMatrixRef) override { return prior_; }
  void step(gmm::Gmm& model, RowMatrixRef support) override {
    gmm::map_em_step(model, prior_, support, relevance_, reg_covar_, evaluator_);
  }
  gmm::Gmm prior_;
  gmm::Relevance relevance_;
};

// The best of several runs by the support log-likelihood after the last step: a proposal's own
// run where there is one, then EM from k-means++ for the rest.
class BestOfRestarts final : public Method {
 public:
  BestOfRestarts(std::string name, gmm::GmmShape shape, int restarts, double reg_covar, std::uint64_t seed,
                 std::unique_ptr<Method> proposal)
      : Method(std::move(name)), shape_(shape), restarts_(restarts), reg_covar_(reg_covar), seed_(seed),
        proposal_(std::move(proposal)) {}
  void adapt(Index task, RowMatrixRef support, int steps, const Visit& visit) override {
    best_.clear();
    best_score_ = -std::numeric_limits<double>::infinity();
    if (proposal_) {
      run_.clear();
      proposal_->adapt(task, support, steps, [&](const gmm::Gmm& model) { run_.push_back(model); });
      consider(support, steps);
    }
    for (int r = 0; r < restarts_ - (proposal_ ? 1 : 0); ++r) {
      RandomStream random(seed_, StreamPurpose::init, static_cast<std::uint64_t>(task), static_cast<std::uint64_t>(r));
      run_.assign(1, gmm::initialize(support, shape_, gmm::InitMethod::kmeans_plus_plus, reg_covar_, random));
      try {
        for (int j = 0; j < steps; ++j) {
          gmm::Gmm next = run_.back();
          gmm::em_step(next, support, reg_covar_, evaluator_);
          run_.push_back(std::move(next));
        }
      } catch (const NumericError&) {  // a singular covariance: this run ends here
      }
      consider(support, steps);
    }
    for (const gmm::Gmm& model : best_) visit(model);
  }

 private:
  // Keeps run_ if it beats the best so far.
  void consider(RowMatrixRef support, int steps) {
    if (run_.empty()) return;
    const double score = evaluator_.mean_log_likelihood(run_.back(), support);
    // A run that failed early ranks below every run that completed its steps.
    const bool complete = static_cast<int>(run_.size()) == steps + 1;
    const bool best_complete = static_cast<int>(best_.size()) == steps + 1;
    if (best_.empty() || (complete && !best_complete) || (complete == best_complete && score > best_score_)) {
      best_score_ = score;
      best_.swap(run_);
    }
  }
  gmm::GmmShape shape_;
  int restarts_;
  double reg_covar_;
  std::uint64_t seed_;
  std::unique_ptr<Method> proposal_;
  gmm::Evaluator evaluator_;
  std::vector<gmm::Gmm> best_, run_;
  double best_score_ = 0.0;
};

class BayesFromPrior final : public Method {
 public:
  BayesFromPrior(std::string name, gmm::HierarchicalPrior prior, int stop_after)
      : Method(std::move(name)), prior_(std::move(prior)), stop_after_(stop_after) {}
  void adapt(Index, RowMatrixRef support, int steps, const Visit& visit) override {
    const int taken = std::min(steps, stop_after_);
    try {
      meta::bayes_iterates(prior_, support, taken, path_, iterates_);
    } catch (const NumericError&) {  // the adaptation ends at the last iterate reached
      for (const Vector& theta : iterates_) visit(gmm::Gmm::unpack(prior_.shape, theta));
      return;
    }
    for (const Vector& theta : iterates_) visit(gmm::Gmm::unpack(prior_.shape, theta));
    const gmm::Gmm last = gmm::Gmm::unpack(prior_.shape, iterates_.back());
    for (int j = taken; j < steps; ++j) visit(last);
  }

 private:
  gmm::HierarchicalPrior prior_;
  int stop_after_;
  std::vector<gmm::PosteriorState> path_;
  std::vector<Vector> iterates_;
};

class Oracle final : public Method {
 public:
  Oracle(std::string name, std::function<gmm::Gmm(Index)> truth) : Method(std::move(name)), truth_(std::move(truth)) {}
  void adapt(Index task, RowMatrixRef, int steps, const Visit& visit) override {
    const gmm::Gmm model = truth_(task);
    for (int j = 0; j <= steps; ++j) visit(model);
  }

 private:
  std::function<gmm::Gmm(Index)> truth_;
};

}  // namespace

std::unique_ptr<Method> meta_learned_steps(std::string name, std::unique_ptr<meta::MixtureAlgorithm> algorithm,
                                           Vector meta_parameters, gmm::GmmShape shape) {
  return std::make_unique<MetaLearnedSteps>(std::move(name), std::move(algorithm), std::move(meta_parameters), shape);
}

std::unique_ptr<Method> em_from_model(std::string name, gmm::Gmm start, double reg_covar) {
  return std::make_unique<EmFromModel>(std::move(name), std::move(start), reg_covar);
}

std::unique_ptr<Method> em_from_initialization(std::string name, gmm::GmmShape shape, gmm::InitMethod init,
                                               double reg_covar, std::uint64_t seed) {
  return std::make_unique<EmFromInitialization>(std::move(name), shape, init, reg_covar, seed);
}

std::unique_ptr<Method> em_best_of_initializations(std::string name, gmm::GmmShape shape, int restarts,
                                                   double reg_covar, std::uint64_t seed,
                                                   std::unique_ptr<Method> proposal) {
  return std::make_unique<BestOfRestarts>(std::move(name), shape, restarts, reg_covar, seed, std::move(proposal));
}

std::unique_ptr<Method> bayes_from_prior(std::string name, gmm::HierarchicalPrior prior, int stop_after) {
  return std::make_unique<BayesFromPrior>(std::move(name), std::move(prior), stop_after);
}

std::unique_ptr<Method> map_from_prior(std::string name, gmm::Gmm prior, gmm::Relevance relevance, double reg_covar) {
  return std::make_unique<MapFromPrior>(std::move(name), std::move(prior), relevance, reg_covar);
}

std::unique_ptr<Method> oracle(std::string name, std::function<gmm::Gmm(Index task)> truth) {
  return std::make_unique<Oracle>(std::move(name), std::move(truth));
}

}  // namespace metagmm::eval
