// VLFeat's vl_gmm (Debian's libvlfeat) on a case file of tools/bench/em.py, one thread, from the
// same start. Prints one line: NAME SECONDS_PER_EM_ITERATION.
//
// vl_gmm_cluster runs E-steps and M-steps up to its iteration limit (it may stop early when the
// log-likelihood changes by less than 1e-5 relative). Timing the limit at 1 + R and at 1 and
// dividing the difference by R measures what R more iterations cost, without set-up.
#include <chrono>
#include <iostream>

extern "C" {
#include <vl/generic.h>
#include <vl/gmm.h>
}

#include "bench_data.hpp"

using namespace metagmm;

double run(const bench::BenchCase& c, int iterations) {
  const Index K = c.components, d = c.dim;
  const auto start = std::chrono::steady_clock::now();
  for (Index t = 0; t < c.tasks; ++t) {
    const gmm::GmmMoments& m = c.starts[t];
    VlGMM* model = vl_gmm_new(VL_TYPE_DOUBLE, static_cast<vl_size>(d), static_cast<vl_size>(K));
    vl_gmm_set_initialization(model, VlGMMCustom);
    vl_gmm_set_max_num_iterations(model, static_cast<vl_size>(iterations));
    vl_gmm_set_num_repetitions(model, 1);
    vl_gmm_set_means(model, m.means.data());
    vl_gmm_set_covariances(model, m.variances.data());
    vl_gmm_set_priors(model, m.weights.data());
    const RowMatrix points = c.task_points(t);
    vl_gmm_cluster(model, points.data(), static_cast<vl_size>(c.points));
    vl_gmm_delete(model);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: vlfeat_em CASE.h5 REPEATS\n";
    return 2;
  }
  vl_set_num_threads(1);
  const bench::BenchCase c = bench::read_case(argv[1]);
  if (c.covariance != gmm::CovarianceType::diag) {
    std::cerr << "vl_gmm supports diagonal covariances only\n";
    return 2;
  }
  const int extra = c.iterations > 1 ? c.iterations : 5;
  double best = 1e300;
  for (int r = 0; r < std::stoi(argv[2]); ++r) {
    best = std::min(best, (run(c, 1 + extra) - run(c, 1)) / (extra * static_cast<double>(c.tasks)));
  }
  std::cout << c.name << " " << best << "\n";
  return 0;
}
