#pragma once
// The one header of Eigen aliases used across metagmm.
#include "metagmm/core/eigen.hpp"
#include <cstdint>

namespace metagmm {

using Index = Eigen::Index;
using Vector = Eigen::VectorXd;
using Matrix = Eigen::MatrixXd;  // column-major, for small dense algebra
// Point sets are C order (one point per row), as stored in HDF5 and as h5py reads them.
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixRef = Eigen::Ref<const RowMatrix>;
using IntVector = Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1>;

}  // namespace metagmm
