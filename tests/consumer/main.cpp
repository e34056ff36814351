// Scores a model file written by `metagmm fit` on one task of a task set with the installed
// library: prints the kernel level in use and the mean log-likelihood per point.
#include <iomanip>
#include <iostream>
#include <string>

#include "metagmm/gmm/kernels.hpp"
#include "metagmm/gmm/stats.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/task/taskset.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: consumer MODEL.h5 TASKS.h5 TASK\n";
    return 2;
  }
  const metagmm::gmm::Gmm model = metagmm::task::read_gmm_file(argv[1]);
  const metagmm::task::TaskSetReader tasks(argv[2]);
  const metagmm::RowMatrix points = tasks.points(std::stoll(argv[3]));
  metagmm::gmm::Evaluator evaluator;
  std::cout << "kernels " << to_string(metagmm::gmm::kernels().level) << "\n"
            << "mean_log_likelihood " << std::setprecision(17) << evaluator.mean_log_likelihood(model, points) << "\n";
  return 0;
}
