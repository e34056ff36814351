#include "metagmm/h5/file.hpp"

#include <hdf5.h>

#include <cerrno>
#include <filesystem>
#include <sstream>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/h5/heap_check.hpp"

namespace metagmm::h5 {
namespace {

// HDF5 prints its own error stack by default; our exceptions say what went wrong instead.
void silence_library_errors() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

hid_t native_type(Dtype dtype) {
  switch (dtype) {
    case Dtype::float64: return H5T_NATIVE_DOUBLE;
    case Dtype::int64: return H5T_NATIVE_INT64;
    case Dtype::int32: return H5T_NATIVE_INT32;
    case Dtype::int8: return H5T_NATIVE_INT8;
  }
  METAGMM_CHECK(false, "unknown dtype");
}

std::string describe_type(hid_t type) {
  const H5T_class_t type_class = H5Tget_class(type);
  const size_t bits = H5Tget_size(type) * 8;
  switch (type_class) {
    case H5T_FLOAT: return "float" + std::to_string(bits);
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    default: return "another type";
  }
}

bool type_matches(hid_t type, Dtype dtype) {
  const H5T_class_t type_class = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  switch (dtype) {
    case Dtype::float64: return type_class == H5T_FLOAT && size == 8;
    case Dtype::int64: return type_class == H5T_INTEGER && size == 8 && H5Tget_sign(type) == H5T_SGN_2;
    case Dtype::int32: return type_class == H5T_INTEGER && size == 4 && H5Tget_sign(type) == H5T_SGN_2;
    case Dtype::int8: return type_class == H5T_INTEGER && size == 1 && H5Tget_sign(type) == H5T_SGN_2;
  }
  return false;
}

Dims dataspace_dims(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  Dims dims(rank > 0 ? rank : 0);
  std::vector<hsize_t> raw(dims.size());
  if (rank > 0) H5Sget_simple_extent_dims(space, raw.data(), nullptr);
  for (size_t i = 0; i < raw.size(); ++i) dims[i] = raw[i];
  return dims;
}

std::string join_dims(const Dims& dims) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < dims.size(); ++i) out << (i ? ", " : "") << dims[i];
  out << "]";
  return out.str();
}

Handle checked(hid_t id, const std::string& context) {
  if (id < 0) throw InputError(context);
  return Handle(id);
}

Handle vlen_string_type() {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

}  // namespace

void keep_library_out_of_exit() { H5dont_atexit(); }

const char* dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::float64: return "float64";
    case Dtype::int64: return "int64";
    case Dtype::int32: return "int32";
    case Dtype::int8: return "int8";
  }
  return "?";
}

bool is_hdf5_file(const std::string& path) {
  silence_library_errors();
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) && H5Fis_hdf5(path.c_str()) > 0;
}

// ---- Dataset ---------------------------------------------------------------------------

Dataset::Dataset(Handle handle, std::string file, std::string name, Dims dims)
    : handle_(std::move(handle)), file_(std::move(file)), name_(std::move(name)), dims_(std::move(dims)) {}

std::string Dataset::where() const { return file_ + ": dataset " + name_; }

std::uint64_t Dataset::row_size() const {
  std::uint64_t size = 1;
  for (size_t i = 1; i < dims_.size(); ++i) size *= dims_[i];
  return size;
}

template <typename T>
void Dataset::read_rows(std::uint64_t first, std::uint64_t count, T* out) const {
  if (dims_.empty()) throw InputError(where() + ": expected an array, found a scalar");
  if (first + count > dims_[0] || first + count < first) {
    throw InputError(where() + ": rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                     ") requested but it has " + std::to_string(dims_[0]));
  }
  if (count == 0) return;
  std::vector<hsize_t> start(dims_.size(), 0), extent(dims_.begin(), dims_.end());
  start[0] = first;
  extent[0] = count;
  Handle file_space(H5Dget_space(handle_.get()));
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
  Handle memory_space(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr));
  if (H5Dread(handle_.get(), native_type(dtype_of<T>()), memory_space.get(), file_space.get(), H5P_DEFAULT, out) < 0) {
    throw InputError(where() + ": read failed (file damaged?)");
  }
}

template <typename T>
std::vector<T> Dataset::read_all() const {
  std::vector<T> values(dims_.empty() ? 1 : dims_[0] * row_size());
  if (dims_.empty()) {
    if (H5Dread(handle_.get(), native_type(dtype_of<T>()), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
      throw InputError(where() + ": read failed (file damaged?)");
  } else {
    read_rows<T>(0, dims_[0], values.data());
  }
  return values;
}

template <typename T>
void Dataset::append_rows(std::uint64_t count, const T* data) {
  if (count == 0) return;
  std::vector<hsize_t> grown(dims_.begin(), dims_.end()), start(dims_.size(), 0), extent(dims_.begin(), dims_.end());
  grown[0] = dims_[0] + count;
  start[0] = dims_[0];
  extent[0] = count;
  errno = 0;
  if (H5Dset_extent(handle_.get(), grown.data()) < 0) throw write_failure(file_, errno);
  Handle file_space(H5Dget_space(handle_.get()));
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
  Handle memory_space(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr));
  errno = 0;
  if (H5Dwrite(handle_.get(), native_type(dtype_of<T>()), memory_space.get(), file_space.get(), H5P_DEFAULT, data) < 0) {
    throw write_failure(file_, errno);
  }
  dims_[0] = grown[0];
}

template <typename T>
void Dataset::write_all(const T* data) {
  errno = 0;
  if (H5Dwrite(handle_.get(), native_type(dtype_of<T>()), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    throw write_failure(file_, errno);
  }
}

#define METAGMM_H5_INSTANTIATE(T)                                                       \
  template void Dataset::read_rows<T>(std::uint64_t, std::uint64_t, T*) const;          \
  template std::vector<T> Dataset::read_all<T>() const;                                 \
  template void Dataset::append_rows<T>(std::uint64_t, const T*);                       \
  template void Dataset::write_all<T>(const T*);                                        \
  template Dataset File::create_dataset<T>(const std::string&, const Dims&, const DatasetOptions&); \
  template void File::write<T>(const std::string&, const Dims&, const T*, const DatasetOptions&);

// ---- File ------------------------------------------------------------------------------

File File::open(const std::string& path) {
  silence_library_errors();
  std::error_code error;
  if (!std::filesystem::exists(path, error)) throw InputError(path + ": no such file");
  if (!std::filesystem::is_regular_file(path, error)) throw InputError(path + ": not a regular file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path + ": not an HDF5 file");
  return File(checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path + ": cannot open (damaged HDF5 file?)"), path);
}

File File::create(const AtomicFile& output) {
  return create_as(output.temp_path().string(), output.final_path().string());
}

File File::create(const std::string& path) { return create_as(path, path); }

File File::create_as(const std::string& path, const std::string& shown) {
  silence_library_errors();
  // Strong close: closing the file closes every object still open in it, so a rename that
  // follows close() never publishes a file with unwritten metadata.
  Handle access(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_fclose_degree(access.get(), H5F_CLOSE_STRONG);
  errno = 0;
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get());
  if (file < 0) {
    if (errno == ENOSPC || errno == EDQUOT) throw write_failure(shown, errno);
    throw InputError("cannot create " + shown + " (directory missing or not writable?)");
  }
  File created(Handle(file), path);
  created.shown_ = shown;
  return created;
}

bool File::exists(const std::string& object) const {
  if (object == "/" || object.empty()) return true;
  std::string prefix;
  std::istringstream parts(object);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    prefix += "/" + part;
    if (H5Lexists(handle_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

void File::create_group(const std::string& name) {
  errno = 0;
  Handle group(H5Gcreate2(handle_.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!group.valid()) throw write_failure(shown_, errno);
}

Dataset File::dataset(const std::string& name, Dtype expected, int rank) const {
  if (!exists(name)) throw InputError(shown_ + ": dataset " + name + " is missing");
  Handle dataset = checked(H5Dopen2(handle_.get(), name.c_str(), H5P_DEFAULT),
                           shown_ + ": " + name + " is not a dataset");
  Handle type(H5Dget_type(dataset.get()));
  Handle space(H5Dget_space(dataset.get()));
  Dims dims = dataspace_dims(space.get());
  if (!type_matches(type.get(), expected) || static_cast<int>(dims.size()) != rank) {
    throw InputError(shown_ + ": dataset " + name + ": expected " + dtype_name(expected) + " of rank " +
                     std::to_string(rank) + ", found " + describe_type(type.get()) + " of shape " + join_dims(dims));
  }
  check_declared_size(name, dims, H5Tget_size(type.get()));
  return Dataset(std::move(dataset), shown_, name, std::move(dims));
}

void File::check_declared_size(const std::string& name, const Dims& dims, std::uint64_t element_bytes) const {
  // Deflate compresses at most 1032:1, so no stored dataset holds more than this many bytes per
  // byte of file: a larger declared shape is damage, refused before anything is allocated for it.
  constexpr std::uint64_t kMaximumExpansion = 1100;
  constexpr std::uint64_t kSlackBytes = std::uint64_t{1} << 20;
  std::error_code error;
  const std::uint64_t file_bytes = std::filesystem::file_size(path_, error);
  if (error) return;
  const std::uint64_t limit = file_bytes * kMaximumExpansion + kSlackBytes;
  std::uint64_t bytes = element_bytes;
  for (const std::uint64_t extent : dims) {
    if (extent != 0 && bytes > limit / extent) {
      throw InputError(shown_ + ": dataset " + name + " declares shape " + join_dims(dims) + ", more than a " +
                       std::to_string(file_bytes) + "-byte file can hold (damaged file?)");
    }
    bytes *= extent;
  }
}

template <typename T>
Dataset File::create_dataset(const std::string& name, const Dims& dims, const DatasetOptions& options) {
  std::vector<hsize_t> current(dims.begin(), dims.end()), maximum(dims.begin(), dims.end()), chunk(dims.begin(), dims.end());
  Handle create(H5Pcreate(H5P_DATASET_CREATE));
  if (!dims.empty() && (options.extendible || options.compress)) {
    std::uint64_t row_bytes = sizeof(T);
    for (size_t i = 1; i < dims.size(); ++i) row_bytes *= std::max<std::uint64_t>(dims[i], 1);
    hsize_t rows = std::max<std::uint64_t>(1, options.chunk_bytes / row_bytes);
    if (!options.extendible) rows = std::min<hsize_t>(rows, std::max<hsize_t>(dims[0], 1));
    chunk[0] = rows;
    for (size_t i = 1; i < chunk.size(); ++i) chunk[i] = std::max<hsize_t>(chunk[i], 1);
    if (options.extendible) maximum[0] = H5S_UNLIMITED;
    H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data());
    if (options.compress) {
      H5Pset_shuffle(create.get());
      H5Pset_deflate(create.get(), 1);  // fast; most of the gain is the shuffled exponents
    }
  }
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), current.data(), maximum.data()));
  errno = 0;
  Handle dataset(H5Dcreate2(handle_.get(), name.c_str(), native_type(dtype_of<T>()), space.get(), H5P_DEFAULT,
                            create.get(), H5P_DEFAULT));
  if (!dataset.valid()) throw write_failure(shown_, errno);
  return Dataset(std::move(dataset), shown_, name, dims);
}

template <typename T>
void File::write(const std::string& name, const Dims& dims, const T* data, const DatasetOptions& options) {
  Dataset created = create_dataset<T>(name, dims, options);
  std::uint64_t total = 1;
  for (auto extent : dims) total *= extent;
  if (total > 0) created.write_all<T>(data);
}

METAGMM_H5_INSTANTIATE(double)
METAGMM_H5_INSTANTIATE(std::int64_t)
METAGMM_H5_INSTANTIATE(std::int32_t)
METAGMM_H5_INSTANTIATE(std::int8_t)

std::uint64_t File::object_address(const std::string& object) const {
  H5O_info_t info;
  if (H5Oget_info_by_name2(handle_.get(), object.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    throw InputError(shown_ + ": cannot read the object header of " + object + " (damaged HDF5 file?)");
  }
  return info.addr;
}

Handle File::open_attribute(const std::string& object, const std::string& name) const {
  if (!exists(object) || H5Aexists_by_name(handle_.get(), object.c_str(), name.c_str(), H5P_DEFAULT) <= 0) {
    return Handle();
  }
  return checked(H5Aopen_by_name(handle_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                 shown_ + ": cannot open attribute " + name + " of " + object);
}

std::optional<std::string> File::string_attribute(const std::string& object, const std::string& name) const {
  Handle attribute = open_attribute(object, name);
  if (!attribute.valid()) return std::nullopt;
  Handle type(H5Aget_type(attribute.get()));
  const std::string where = shown_ + ": attribute " + name + " of " + object;
  if (H5Tget_class(type.get()) != H5T_STRING) throw InputError(where + ": expected a string, found " + describe_type(type.get()));
  if (H5Tis_variable_str(type.get()) > 0) {
    check_string_attributes(path_, object_address(object));
    Handle memory_type = vlen_string_type();
    H5Tset_cset(memory_type.get(), H5Tget_cset(type.get()));
    char* text = nullptr;
    if (H5Aread(attribute.get(), memory_type.get(), &text) < 0 || text == nullptr) throw InputError(where + ": cannot read");
    std::string value(text);
    Handle space(H5Aget_space(attribute.get()));
    H5Dvlen_reclaim(memory_type.get(), space.get(), H5P_DEFAULT, &text);
    return value;
  }
  const size_t size = H5Tget_size(type.get());
  std::string value(size, '\0');
  Handle memory_type(H5Tcopy(H5T_C_S1));
  H5Tset_size(memory_type.get(), size);
  if (H5Aread(attribute.get(), memory_type.get(), value.data()) < 0) throw InputError(where + ": cannot read");
  value.resize(value.find('\0') == std::string::npos ? value.size() : value.find('\0'));
  return value;
}

std::optional<std::int64_t> File::int_attribute(const std::string& object, const std::string& name) const {
  Handle attribute = open_attribute(object, name);
  if (!attribute.valid()) return std::nullopt;
  Handle type(H5Aget_type(attribute.get()));
  Handle space(H5Aget_space(attribute.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw InputError(shown_ + ": attribute " + name + " of " + object + ": expected one integer, found " + describe_type(type.get()));
  }
  std::int64_t value = 0;
  H5Aread(attribute.get(), H5T_NATIVE_INT64, &value);
  return value;
}

std::optional<double> File::double_attribute(const std::string& object, const std::string& name) const {
  Handle attribute = open_attribute(object, name);
  if (!attribute.valid()) return std::nullopt;
  Handle type(H5Aget_type(attribute.get()));
  Handle space(H5Aget_space(attribute.get()));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if ((type_class != H5T_FLOAT && type_class != H5T_INTEGER) || H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw InputError(shown_ + ": attribute " + name + " of " + object + ": expected one number, found " + describe_type(type.get()));
  }
  double value = 0;
  H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value);
  return value;
}

namespace {

// Collects names from H5Aiterate2 / H5Literate2 callbacks.
herr_t collect_attribute(hid_t, const char* name, const H5A_info_t*, void* names) {
  static_cast<std::vector<std::string>*>(names)->emplace_back(name);
  return 0;
}
herr_t collect_member(hid_t, const char* name, const H5L_info_t*, void* names) {
  static_cast<std::vector<std::string>*>(names)->emplace_back(name);
  return 0;
}

}  // namespace

std::vector<std::string> File::attribute_names(const std::string& object) const {
  std::vector<std::string> names;
  if (!exists(object)) return names;
  hsize_t at = 0;
  if (H5Aiterate_by_name(handle_.get(), object.c_str(), H5_INDEX_NAME, H5_ITER_INC, &at, collect_attribute, &names,
                         H5P_DEFAULT) < 0)
    throw InputError(shown_ + ": cannot list the attributes of " + object);
  return names;
}

std::vector<std::string> File::member_names(const std::string& group) const {
  std::vector<std::string> names;
  if (!exists(group)) return names;
  hsize_t at = 0;
  if (H5Literate_by_name(handle_.get(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, &at, collect_member, &names,
                          H5P_DEFAULT) < 0)
    throw InputError(shown_ + ": cannot list the members of " + group);
  return names;
}

File::AttributeKind File::attribute_kind(const std::string& object, const std::string& name) const {
  Handle attribute = open_attribute(object, name);
  if (!attribute.valid()) return AttributeKind::other;
  Handle type(H5Aget_type(attribute.get()));
  Handle space(H5Aget_space(attribute.get()));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class == H5T_STRING) return AttributeKind::text;
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return AttributeKind::other;
  if (type_class == H5T_INTEGER) return AttributeKind::integer;
  if (type_class == H5T_FLOAT) return AttributeKind::real;
  return AttributeKind::other;
}

std::string File::require_string_attribute(const std::string& object, const std::string& name) const {
  auto value = string_attribute(object, name);
  if (!value) throw InputError(shown_ + ": attribute " + name + " of " + object + " is missing");
  return *value;
}

std::int64_t File::require_int_attribute(const std::string& object, const std::string& name) const {
  auto value = int_attribute(object, name);
  if (!value) throw InputError(shown_ + ": attribute " + name + " of " + object + " is missing");
  return *value;
}

namespace {

void write_scalar_attribute(hid_t file, const std::string& path, const std::string& object,
                            const std::string& name, hid_t type, const void* value) {
  if (H5Aexists_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT) > 0) {
    H5Adelete_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT);
  }
  Handle space(H5Screate(H5S_SCALAR));
  errno = 0;
  Handle attribute(H5Acreate_by_name(file, object.c_str(), name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                     H5P_DEFAULT));
  if (!attribute.valid() || H5Awrite(attribute.get(), type, value) < 0) throw write_failure(path, errno);
}

}  // namespace

void File::set_attribute(const std::string& object, const std::string& name, const std::string& value) {
  Handle type = vlen_string_type();
  const char* text = value.c_str();
  write_scalar_attribute(handle_.get(), shown_, object, name, type.get(), &text);
}

void File::set_attribute(const std::string& object, const std::string& name, std::int64_t value) {
  write_scalar_attribute(handle_.get(), shown_, object, name, H5T_NATIVE_INT64, &value);
}

void File::set_attribute(const std::string& object, const std::string& name, double value) {
  write_scalar_attribute(handle_.get(), shown_, object, name, H5T_NATIVE_DOUBLE, &value);
}

void File::flush() {
  errno = 0;
  if (H5Fflush(handle_.get(), H5F_SCOPE_GLOBAL) < 0) throw write_failure(shown_, errno);
}

void File::close() {
  errno = 0;
  if (handle_.valid() && H5Fclose(handle_.release()) < 0) throw write_failure(shown_, errno);
}

}  // namespace metagmm::h5
