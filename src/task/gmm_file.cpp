#include "metagmm/task/gmm_file.hpp"

#include "metagmm/gmm/covariance.hpp"

#include <algorithm>
#include <cmath>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/provenance.hpp"

namespace metagmm::task {

namespace {

std::string object(const std::string& group, const std::string& name) {
  return group == "/" ? "/" + name : group + "/" + name;
}

// The datasets written beside the flat parameters for outside readers (scikit-learn's names).
struct ModelView {
  std::string name;
  h5::Dims dims;
  std::vector<double> values;  // C order
};

std::vector<double> values_of(const RowMatrix& m) { return std::vector<double>(m.data(), m.data() + m.size()); }

std::vector<ModelView> model_views(const gmm::GmmShape& s, const Vector& flat) {
  const gmm::Gmm model = gmm::Gmm::unpack(s, flat);
  const auto K = static_cast<std::uint64_t>(s.components), d = static_cast<std::uint64_t>(s.dim);
  const gmm::GmmMoments m = gmm::to_moments(model);
  std::vector<ModelView> views;
  views.push_back({"weights", {K}, std::vector<double>(m.weights.data(), m.weights.data() + m.weights.size())});
  views.push_back({"means", {K, d}, values_of(m.means)});
  if (s.covariance == gmm::CovarianceType::full) {
    RowMatrix covariances(K * d, d), precisions(K * d, d);
    for (Index k = 0; k < s.components; ++k) {
      covariances.middleRows(k * s.dim, s.dim) = m.covariances[k];
      precisions.middleRows(k * s.dim, s.dim) = model.prec_chol[k];
    }
    views.push_back({"covariances", {K, d, d}, values_of(covariances)});
    views.push_back({"precisions_cholesky", {K, d, d}, values_of(precisions)});
  } else {
    const h5::Dims dims = gmm::stored_covariance_dims(s.covariance, s.components, s.dim);
    const RowMatrix precisions = (-model.log_sd.array()).exp().matrix();
    views.push_back({"covariances", dims, values_of(m.variances)});
    views.push_back({"precisions_cholesky", dims, values_of(precisions)});
  }
  return views;
}

// metagmm reads the flat parameters; outside readers read the views. A view that disagrees with
// them (an edit of /model/means, which no checksum of the flat vector would see) is refused.
// Recomputed views may differ from the stored ones in the last bits when another build (FMA,
// vector width) wrote them, hence a tolerance relative to the largest value, far above rounding.
}  // namespace

void check_model_views(const h5::File& file, const std::string& group, const gmm::GmmShape& s, const Vector& flat) {
  const std::string where = group == "/" ? file.path() : file.path() + ": group " + group;
  constexpr double kViewTolerance = 1e-10;
  for (const ModelView& view : model_views(s, flat)) {
    const std::string name = object(group, view.name);
    if (!file.exists(name)) continue;  // written by another tool with the parameters only
    const h5::Dataset stored = file.dataset(name, h5::Dtype::float64, static_cast<int>(view.dims.size()));
    if (stored.dims() != view.dims) {
      throw InputError(where + ": dataset " + view.name + " has the wrong shape for the model it describes");
    }
    const std::vector<double> values = stored.read_all<double>();
    double scale = 0;
    for (const double v : view.values) scale = std::max(scale, std::abs(v));
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!(std::abs(values[i] - view.values[i]) <= kViewTolerance * std::max(scale, 1.0))) {
        throw InputError(where + ": dataset " + view.name +
                         " disagrees with dataset parameters, which metagmm reads (edited by hand? write both, "
                         "or only parameters)");
      }
    }
  }
}

void write_model(h5::File& file, const std::string& group, const gmm::Gmm& model) {
  write_model(file, group, model.shape, model.pack());
}

void write_model(h5::File& file, const std::string& group, const gmm::GmmShape& s, const Vector& flat) {
  if (group != "/" && !file.exists(group)) file.create_group(group);
  file.set_attribute(group, "covariance_type", gmm::to_string(s.covariance));
  file.set_attribute(group, "components", static_cast<std::int64_t>(s.components));
  file.set_attribute(group, "dim", static_cast<std::int64_t>(s.dim));
  const h5::DatasetOptions plain{.compress = false};
  file.write<double>(object(group, "parameters"), {flat.size() + 0ULL}, flat.data(), plain);
  for (const ModelView& view : model_views(s, flat))
    file.write<double>(object(group, view.name), view.dims, view.values.data(), plain);
}

gmm::Gmm read_model(const h5::File& file, const std::string& group, bool check_views) {
  const std::string& path = file.path();
  const std::string where = group == "/" ? path : path + ": group " + group;
  gmm::GmmShape shape;
  shape.covariance = gmm::parse_covariance_type(file.require_string_attribute(group, "covariance_type"),
                                                where + ": attribute covariance_type");
  shape.components = file.require_int_attribute(group, "components");
  shape.dim = file.require_int_attribute(group, "dim");
  if (shape.components < 1 || shape.dim < 1) throw InputError(where + ": components and dim must be >= 1");
  const std::vector<double> flat = file.dataset(object(group, "parameters"), h5::Dtype::float64, 1).read_all<double>();
  if (static_cast<Index>(flat.size()) != shape.parameter_count()) {
    throw InputError(where + ": dataset parameters has " + std::to_string(flat.size()) + " values, expected " +
                     std::to_string(shape.parameter_count()) + " for " + std::to_string(shape.components) + " " +
                     gmm::to_string(shape.covariance) + " components in " + std::to_string(shape.dim) + " dimensions");
  }
  const Vector parameters = Eigen::Map<const Vector>(flat.data(), static_cast<Index>(flat.size()));
  if (!parameters.allFinite()) throw InputError(where + ": dataset parameters holds NaN or Inf");
  if (check_views) check_model_views(file, group, shape, parameters);
  return gmm::Gmm::unpack(shape, parameters);
}

void write_gmm_file(const std::string& path, const gmm::Gmm& model, const FitRecord* record) {
  AtomicFile output(path);
  write_gmm_file(output, model, record);
  output.commit();
}

void write_gmm_file(const AtomicFile& output, const gmm::Gmm& model, const FitRecord* record) {
  {
    h5::File file = h5::File::create(output);
    file.set_attribute("/", "format", std::string(kGmmFormat));
    file.set_attribute("/", "version", kGmmVersion);
    write_provenance(file);
    write_model(file, "/", model);
    if (record) {
      file.write<std::int32_t>("/assignments", {static_cast<std::uint64_t>(record->assignments.size())},
                               record->assignments.data());
      file.set_attribute("/", "mean_log_likelihood", record->mean_log_likelihood);
      file.set_attribute("/", "iterations", static_cast<std::int64_t>(record->iterations));
      file.set_attribute("/", "converged", static_cast<std::int64_t>(record->converged));
      file.set_attribute("/", "data", record->data);
      file.set_attribute("/", "settings", record->settings);
    }
    file.close();
  }
}

gmm::Gmm read_gmm_file(const std::string& path) {
  const h5::File file = h5::File::open(path);
  const auto format = file.string_attribute("/", "format");
  if (format != std::string(kGmmFormat)) {
    throw InputError(path + ": format is '" + format.value_or("(missing)") + "', expected '" + kGmmFormat +
                     "' (a model written by metagmm fit)");
  }
  const auto version = file.require_int_attribute("/", "version");
  if (version != kGmmVersion) throw InputError(path + ": model version " + std::to_string(version) + " is not supported");
  return read_model(file, "/");
}

}  // namespace metagmm::task
