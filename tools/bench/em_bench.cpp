// One EM iteration, one loss + gradient evaluation and one Hessian-vector product on the cases of
// BENCHMARKS.md and the MAML benchmark's task shapes, one thread.
// With METAGMM_BENCH_DATA=DIR it runs on the case files that tools/bench/em.py wrote there
// (the same data and starts scikit-learn and VLFeat get); without, on built-in cases of the
// same shapes, so `metagmm_bench` also runs on its own.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "bench_data.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/core/isa.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/sample.hpp"

namespace metagmm::bench {
namespace {

BenchCase built_in_case(const std::string& name, Index tasks, Index N, Index d, Index K, int iterations,
                        gmm::CovarianceType type) {
  BenchCase c{name, tasks, N, K, d, iterations, type, RowMatrix(tasks * N, d), {}};
  for (Index t = 0; t < tasks; ++t) {
    RandomStream random(1, StreamPurpose::test, static_cast<std::uint64_t>(t));
    gmm::Gmm truth(gmm::GmmShape{K, d, type});
    for (Index k = 0; k < K; ++k)
      for (Index j = 0; j < d; ++j) truth.means(k, j) = 4.0 * random.normal();
    c.X.middleRows(t * N, N) = gmm::sample(truth, N, random);
    gmm::GmmMoments start = gmm::to_moments(truth);
    for (Index k = 0; k < K; ++k) start.means.row(k) = c.X.row(t * N + static_cast<Index>(random.below(N)));
    c.starts.push_back(start);
  }
  return c;
}

std::vector<BenchCase> load_cases() {
  std::vector<BenchCase> cases;
  if (const char* dir = std::getenv("METAGMM_BENCH_DATA")) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.path().extension() == ".h5") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) cases.push_back(read_case(file.string()));
    return cases;
  }
  using gmm::CovarianceType;
  cases.push_back(built_in_case("W1_diag_N100000_d16_K16", 1, 100000, 16, 16, 1, CovarianceType::diag));
  cases.push_back(built_in_case("W2_diag_N200000_d64_K32", 1, 200000, 64, 32, 1, CovarianceType::diag));
  cases.push_back(built_in_case("F_full_N20000_d16_K8", 1, 20000, 16, 8, 1, CovarianceType::full));
  cases.push_back(built_in_case("W3_diag_1000tasks_N200_d2_K4", 1000, 200, 2, 4, 10, CovarianceType::diag));
  // The support sets of tools/bench/maml.py: what one inner step or one reverse step costs.
  cases.push_back(built_in_case("M1_diag_100tasks_N200_d16_K8", 100, 200, 16, 8, 1, CovarianceType::diag));
  cases.push_back(built_in_case("M2_full_100tasks_N200_d16_K8", 100, 200, 16, 8, 1, CovarianceType::full));
  return cases;
}

// Work per EM iteration in floating-point operations, as BENCHMARKS.md counts it: the two
// products of the E-step and the two of the M-step (diag: 8NKd), plus 8NK for the
// log-sum-exp and normalisation; full: projection and scatter, ~3NKd^2.
double em_flops(const BenchCase& c) {
  const double N = static_cast<double>(c.points), K = static_cast<double>(c.components), d = static_cast<double>(c.dim);
  const double per_task = c.covariance == gmm::CovarianceType::full ? 3 * N * K * d * d + 8 * N * K : 8 * N * K * d + 8 * N * K;
  return per_task * static_cast<double>(c.tasks) * c.iterations;
}

// Each task's start as parameters and its points as their own matrix, made before timing.
struct PreparedCase {
  std::vector<gmm::Gmm> starts;
  std::vector<RowMatrix> points;
  explicit PreparedCase(const BenchCase& c) {
    for (const auto& m : c.starts) starts.push_back(gmm::from_moments(m));
    for (Index t = 0; t < c.tasks; ++t) points.push_back(c.task_points(t));
  }
};

void em_iterations(benchmark::State& state, const BenchCase* c) {
  const PreparedCase prepared(*c);
  const auto& [starts, points] = prepared;
  gmm::Evaluator evaluator;
  for (auto _ : state) {
    for (Index t = 0; t < c->tasks; ++t) {
      gmm::Gmm g = starts[t];
      for (int i = 0; i < c->iterations; ++i) benchmark::DoNotOptimize(gmm::em_step(g, points[t], 1e-6, evaluator));
    }
  }
  state.counters["em_iterations"] = static_cast<double>(c->tasks * c->iterations);
  state.counters["GFLOPS"] = benchmark::Counter(em_flops(*c) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void loss_and_gradient(benchmark::State& state, const BenchCase* c) {
  const PreparedCase prepared(*c);
  const auto& [starts, points] = prepared;
  gmm::Evaluator evaluator;
  Vector gradient;
  for (auto _ : state) {
    for (Index t = 0; t < c->tasks; ++t) benchmark::DoNotOptimize(gmm::loss_and_gradient(starts[t], points[t], evaluator, gradient));
  }
  state.counters["evaluations"] = static_cast<double>(c->tasks);
}

// As MAML's reverse pass takes it: the statistics at the parameters kept from the forward pass.
void hessian_vector_product(benchmark::State& state, const BenchCase* c) {
  const PreparedCase prepared(*c);
  const auto& [starts, points] = prepared;
  gmm::Evaluator evaluator;
  std::vector<gmm::Statistics> stats;
  for (Index t = 0; t < c->tasks; ++t) stats.push_back(evaluator.statistics(starts[t], points[t]));
  const Vector direction = Vector::Ones(starts[0].shape.parameter_count());
  for (auto _ : state) {
    for (Index t = 0; t < c->tasks; ++t)
      benchmark::DoNotOptimize(gmm::hessian_vector_product(starts[t], stats[t], direction, points[t], evaluator));
  }
  state.counters["products"] = static_cast<double>(c->tasks);
}

// The core's peak: independent fused multiply-add chains at the widest vector width this
// processor runs (AVX-512 where it has it, else AVX2: the portable build chooses its kernels the
// same way), enough chains to cover the FMA latency on two pipes. GFLOP/s of the other
// benchmarks are quoted against this, measured in the same run on the same core.
typedef double Packet4 __attribute__((vector_size(32)));
typedef double Packet8 __attribute__((vector_size(64)));
constexpr int kChains = 12;
constexpr long kSteps = 1 << 20;

template <typename Packet, int kWidth>
__attribute__((always_inline)) inline void fma_chains(double* out) {
  Packet acc[kChains], a, b;
  for (int i = 0; i < kWidth; ++i) {
    a[i] = 0.999999;
    b[i] = 1e-7;
  }
  for (int c = 0; c < kChains; ++c) acc[c] = a * static_cast<double>(c);
  for (long step = 0; step < kSteps; ++step)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;
  for (int c = 0; c < kChains; ++c) out[c] = acc[c][0];
}
__attribute__((target("avx512f"))) void fma_chains8(double* out) { fma_chains<Packet8, 8>(out); }
void fma_chains4(double* out) { fma_chains<Packet4, 4>(out); }

void peak_fma(benchmark::State& state) {
  const bool wide = processor_supports(IsaLevel::avx512);
  const int width = wide ? 8 : 4;
  double out[kChains];
  for (auto _ : state) {
    (wide ? fma_chains8 : fma_chains4)(out);
    benchmark::DoNotOptimize(out);
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * width * kChains * kSteps * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["vector_doubles"] = width;
}

}  // namespace
}  // namespace metagmm::bench

int main(int argc, char** argv) {
  static const std::vector<metagmm::bench::BenchCase> cases = metagmm::bench::load_cases();
  benchmark::RegisterBenchmark("peak/fma", metagmm::bench::peak_fma)->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const auto& c : cases) {
    benchmark::RegisterBenchmark(("em/" + c.name).c_str(), metagmm::bench::em_iterations, &c)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("loss_gradient/" + c.name).c_str(), metagmm::bench::loss_and_gradient, &c)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("hvp/" + c.name).c_str(), metagmm::bench::hessian_vector_product, &c)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
