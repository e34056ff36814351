#pragma once
// Runs every evaluation method on every task of a split, shared among MPI ranks (task i on rank
// i mod size), and gathers the per-task numbers on every rank. Each number is a pure function of
// (seed, task, method), and the gathered arrays are placed by task, so the results (wall times
// aside) are the same bits for any number of ranks.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metagmm/comm/communicator.hpp"
#include "metagmm/eval/methods.hpp"
#include "metagmm/task/sampler.hpp"

namespace metagmm::eval {

struct RunOptions {
  int steps = 10;              // --steps: M, the curves' last step
  int converge_steps = 100;    // --converge-steps: the "converged" support log-likelihood is the one after these
  double tolerance = 0.01;     // --tol: nats per point from the converged value
  Index max_tasks = 0;         // --max-tasks: the first N tasks of the split; 0 all
  void validate() const;       // InputError naming the option
};

// Every per-task number, for methods m and tasks t (in the split's order).
struct Results {
  std::vector<std::string> methods;
  std::vector<Index> tasks;
  std::vector<Index> query_points;  // per task
  int steps = 0;
  bool labels = false;              // whether ari holds adjusted Rand indices
  // [m][t][j], j = 0..steps: mean log-likelihood per point of the query and of the support after j steps.
  std::vector<double> query, support;
  // [m][t][j] where the tasks have labels (else empty): the query's adjusted Rand index after j steps.
  std::vector<double> ari_by_step;
  // [m][t]: the query's adjusted Rand index after `steps` steps (NaN without labels); the first step
  // whose support log-likelihood is within the tolerance of the converged one; whether the
  // adaptation failed or left finite values (the numbers then hold the last finite step's); the
  // wall time of `steps` steps (scoring excluded).
  std::vector<double> ari, steps_to_tolerance, seconds;
  std::vector<std::int8_t> diverged;
  // [m][t]: whether the mixture after `steps` steps gives every support point to one component
  // (gmm::collapsed): a clustering of one cluster, however good its likelihood looks.
  std::vector<std::int8_t> collapsed;

  Index method_count() const { return static_cast<Index>(methods.size()); }
  Index task_count() const { return static_cast<Index>(tasks.size()); }
  std::size_t curve(Index m, Index t) const {  // offset of [m][t][0] in query and support
    return static_cast<std::size_t>((m * task_count() + t) * (steps + 1));
  }
  std::size_t cell(Index m, Index t) const { return static_cast<std::size_t>(m * task_count() + t); }
};

// `progress(done, total)` is called on rank 0 now and then with its own tasks.
Results evaluate(std::vector<std::unique_ptr<Method>>& methods, task::TaskSource& source, task::Sampler& sampler,
                 task::Split split, const RunOptions& options, comm::Communicator& comm,
                 const std::function<void(Index, Index)>& progress = {});

}  // namespace metagmm::eval
