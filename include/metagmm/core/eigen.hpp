#pragma once
// Eigen, included here only. GCC 12 reports Eigen's AVX-512 packet code (PacketMath.h,
// gemm_pack_rhs: _mm256_undefined_pd) as maybe-uninitialized when it is compiled for
// x86-64-v4: a false positive in a third-party header, reported at the intrinsic's line even
// for a system header, so it is silenced for these includes alone; our code keeps every
// warning as an error. The kernels (src/gmm/kernels/kernels.cpp) include Eigen the same way.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#pragma GCC diagnostic pop
