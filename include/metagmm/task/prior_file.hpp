#pragma once
// A hierarchical prior in HDF5 ("metagmm.prior", version 1), written by
// `metagmm fit --data TASKS:train --prior heb` and read by `fit --adapt heb`, `eval` and
// `train --algo bayes --prior FILE`:
//   /parameters                 float64 [P + 1 + 3 K d (+ K d (K d - 1) / 2 when coupled)]  the flat
//                               form (gmm/bayes.hpp), exactly
//   /model/...                  the first E-step's mixture, laid out as a metagmm.gmm model
//   /prior/concentration        float64 [K]     Dirichlet alpha
//   /prior/mean                 float64 [K, d]  prior means m
//   /prior/between_variance     float64 [K, d]  tau2, the between-task variance of the means
//   /prior/within_variance      float64 [K, d]  s2, the within-task variance's centre
//   /prior/strength             float64 [K, d]  kappa, its strength in pseudo-points
//   /prior/first_variance       float64 [K, d]  e, the first E-step's variances
//   /prior/mean_coupling        float64 [K d, K d]  only in a coupled prior (fit --prior heb-coupled):
//                               C, the strictly-lower part of the means' Cholesky factor
//                               diag(sqrt tau2) + C over the stacked means (zeros on and above the diagonal)
//   root attributes: format, version, components, dim, covariance_type ("diag"), data, settings.
#include <string>

#include "metagmm/gmm/bayes.hpp"

namespace metagmm::task {

inline constexpr const char* kPriorFormat = "metagmm.prior";
inline constexpr std::int64_t kPriorVersion = 1;

// Atomically: the final path appears only complete. `data` and `settings` say what it was
// estimated from and how.
void write_prior_file(const std::string& path, const gmm::HierarchicalPrior& prior, const std::string& data,
                      const std::string& settings);
// InputError naming the file for anything but a readable, valid metagmm.prior file.
gmm::HierarchicalPrior read_prior_file(const std::string& path);
// read_prior_file, then InputError "`what` PATH: a prior for K components in d = D, `expected`"
// unless the prior has `shape` (`expected` says whose shape that is).
gmm::HierarchicalPrior read_prior_file(const std::string& path, const gmm::GmmShape& shape, const std::string& what,
                                       const std::string& expected);
// Whether `path` is an HDF5 file whose format attribute says metagmm.prior.
bool is_prior_file(const std::string& path);

}  // namespace metagmm::task
