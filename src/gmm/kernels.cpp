#include "metagmm/gmm/kernels.hpp"

#include <array>
#include <atomic>

#include "metagmm/build_config.hpp"
#include "metagmm/core/error.hpp"

// Each compiled level's table, from its own copy of src/gmm/kernels/kernels.cpp.
#define METAGMM_DECLARE_KERNELS(level) \
  namespace metagmm::kernels::level { extern const gmm::Kernels table; }
METAGMM_KERNEL_LEVELS(METAGMM_DECLARE_KERNELS)
#undef METAGMM_DECLARE_KERNELS

namespace metagmm::gmm {
namespace {

#define METAGMM_TABLE_ENTRY(level) &metagmm::kernels::level::table,
constexpr std::array kCompiled = {METAGMM_KERNEL_LEVELS(METAGMM_TABLE_ENTRY)};
#undef METAGMM_TABLE_ENTRY

// Null until a level is chosen, or used for the first time.
std::atomic<const Kernels*> active{nullptr};

}  // namespace

std::span<const Kernels* const> compiled_kernels() { return kCompiled; }

std::vector<IsaLevel> compiled_kernel_levels() {
  std::vector<IsaLevel> levels;
  for (const Kernels* table : kCompiled) levels.push_back(table->level);
  return levels;
}

const Kernels* compiled_kernels(IsaLevel level) {
  for (const Kernels* table : kCompiled)
    if (table->level == level) return table;
  return nullptr;
}

IsaLevel best_kernel_level() {
  // The build always holds a level every processor that runs the program supports (its own
  // baseline), so the loop finds one.
  IsaLevel best = kCompiled.front()->level;
  for (const Kernels* table : kCompiled)
    if (processor_supports(table->level)) best = table->level;
  return best;
}

const Kernels& kernels() {
  const Kernels* table = active.load(std::memory_order_acquire);
  if (!table) {
    table = compiled_kernels(best_kernel_level());
    active.store(table, std::memory_order_release);
  }
  return *table;
}

void use_kernels(IsaLevel level) {
  const Kernels* table = compiled_kernels(level);
  if (!table)
    throw InputError("ISA level " + std::string(to_string(level)) + " is not compiled into this build (it has: " +
                     join_isa_levels(compiled_kernel_levels()) + ")");
  if (!processor_supports(level))
    throw InputError("ISA level " + std::string(to_string(level)) + ": this processor lacks it (it supports: " +
                     join_isa_levels(supported_isa_levels()) + ")");
  active.store(table, std::memory_order_release);
}

namespace {

void product(bool transpose_a, RowMatrixRef a, bool transpose_b, RowMatrixRef b, Eigen::Ref<RowMatrix> c,
             bool accumulate, double alpha, bool in_cache) {
  GemmArgs g;
  g.in_cache = in_cache;
  g.transpose_a = transpose_a;
  g.transpose_b = transpose_b;
  g.accumulate = accumulate;
  g.m = c.rows();
  g.n = c.cols();
  g.k = transpose_a ? a.rows() : a.cols();
  METAGMM_CHECK((transpose_a ? a.cols() : a.rows()) == g.m && (transpose_b ? b.rows() : b.cols()) == g.n &&
                    (transpose_b ? b.cols() : b.rows()) == g.k,
                "multiply: the operands' shapes disagree");
  g.alpha = alpha;
  g.a = a.data();
  g.lda = a.outerStride();
  g.b = b.data();
  g.ldb = b.outerStride();
  g.c = c.data();
  g.ldc = c.outerStride();
  kernels().gemm(g);
}

}  // namespace

void multiply(bool transpose_a, RowMatrixRef a, bool transpose_b, RowMatrixRef b, Eigen::Ref<RowMatrix> c,
              bool accumulate, double alpha) {
  product(transpose_a, a, transpose_b, b, c, accumulate, alpha, false);
}

void multiply_in_cache(bool transpose_a, RowMatrixRef a, bool transpose_b, RowMatrixRef b, Eigen::Ref<RowMatrix> c,
                       bool accumulate, double alpha) {
  product(transpose_a, a, transpose_b, b, c, accumulate, alpha, true);
}

}  // namespace metagmm::gmm
