#pragma once
// A fitted mixture in HDF5 ("metagmm.gmm", version 1), self-describing for h5py users:
//   /parameters           float64 [P]  the flat vector (layout in gmm/params.hpp)
//   /weights              float64 [K]
//   /means                float64 [K, d]
//   /covariances          float64 scikit-learn's covariances_ shape for the type
//   /precisions_cholesky  float64 scikit-learn's precisions_cholesky_ shape for the type
//   /assignments          int32   [N]  most responsible component per point (fits only)
//   root attributes: format, version, covariance_type, components, dim, and for fits
//   mean_log_likelihood, iterations, converged, data, settings.
#include <string>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/gmm/params.hpp"
#include "metagmm/h5/file.hpp"

namespace metagmm::task {

inline constexpr const char* kGmmFormat = "metagmm.gmm";
inline constexpr std::int64_t kGmmVersion = 1;

struct FitRecord {
  IntVector assignments;
  double mean_log_likelihood = 0.0;
  int iterations = 0;
  bool converged = false;
  std::string data;      // what was fitted
  std::string settings;  // how, one "key = value" per line
};

// The model's attributes (covariance_type, components, dim) and datasets (parameters,
// weights, means, covariances, precisions_cholesky) inside `group` ("/" or a group name,
// created if missing), as above. Checkpoints use the same layout under /model.
void write_model(h5::File& file, const std::string& group, const gmm::Gmm& model);
// The same from flat parameters, which are written exactly as given: a checkpoint's
// meta-parameters must come back bit for bit, and unpacking and packing them again would round
// the log-diagonal of full covariances through exp and log.
void write_model(h5::File& file, const std::string& group, const gmm::GmmShape& shape, const Vector& parameters);
// Throws InputError naming the file and group if anything is missing or inconsistent.
gmm::Gmm read_model(const h5::File& file, const std::string& group, bool check_views = true);
// Writes atomically: the final path appears only complete.
void write_gmm_file(const std::string& path, const gmm::Gmm& model, const FitRecord* record);
// Refuses (InputError) a group whose views for outside readers (weights, means, covariances,
// precisions_cholesky) disagree with the flat parameters metagmm reads: an edit of /model/means
// would otherwise change what h5py sees and not what metagmm uses. read_model checks them
// unless asked not to (a checkpoint checks them after its checksum).
void check_model_views(const h5::File& file, const std::string& group, const gmm::GmmShape& shape,
                       const Vector& parameters);
// The same into `output`'s temporary, not committed (outputs that must appear together).
void write_gmm_file(const AtomicFile& output, const gmm::Gmm& model, const FitRecord* record);
// Throws InputError if the file is not a readable metagmm.gmm file.
gmm::Gmm read_gmm_file(const std::string& path);

}  // namespace metagmm::task
