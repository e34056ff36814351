#pragma once
// Which instruction-set level's kernels run (gmm/kernel_table.hpp), and calls into them.
//
// Every level compiled into this build is listed by compiled_kernels(). Until a program
// chooses (use_kernels), the highest level this processor supports is used. The command line
// chooses at start-up from METAGMM_ISA, and under MPI the ranks agree on one level before the
// first step (cli/isa_choice.hpp), so results do not depend on which nodes a job lands on.
#include <span>
#include <vector>

#include "metagmm/core/isa.hpp"
#include "metagmm/core/types.hpp"
#include "metagmm/gmm/kernel_table.hpp"

namespace metagmm::gmm {

// The levels compiled in, lowest first.
std::span<const Kernels* const> compiled_kernels();
// The levels compiled in, lowest first, by name.
std::vector<IsaLevel> compiled_kernel_levels();
// The compiled level's table, or null where this build lacks it.
const Kernels* compiled_kernels(IsaLevel level);
// The highest compiled level this processor supports.
IsaLevel best_kernel_level();
// The kernels in use.
const Kernels& kernels();
// From now on, the kernels of `level`. Throws InputError if this build lacks it or this
// processor cannot run it.
void use_kernels(IsaLevel level);

// exp in place of numbers <= 0 (log-densities minus their maximum), vectorised.
inline void exp_non_positive(double* values, Index count) { kernels().exp_non_positive(values, count); }
// exp in place of any numbers, clamped to [-708, 709] (precisions from log standard deviations).
inline void exp_in_place(double* values, Index count) { kernels().exp_in_place(values, count); }

// C = op(A) op(B) (+= with accumulate), row-major matrices, at the chosen level (the
// products whose cost grows with the data: the statistics of large mixtures).
void multiply(bool transpose_a, RowMatrixRef a, bool transpose_b, RowMatrixRef b, Eigen::Ref<RowMatrix> c,
              bool accumulate = false, double alpha = 1.0);

// The same for operands that fit in the cache (the encoders' per-task products): read where
// they lie, no packed copies (a transposed B of up to 8192 entries is copied once); each entry
// of C is one sequential chain over k, so a row of C does not depend on the rows around it.
void multiply_in_cache(bool transpose_a, RowMatrixRef a, bool transpose_b, RowMatrixRef b, Eigen::Ref<RowMatrix> c,
                       bool accumulate = false, double alpha = 1.0);
}  // namespace metagmm::gmm
