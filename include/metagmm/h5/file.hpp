#pragma once
// Typed access to HDF5 files. Every failure is an InputError naming the file and the object
// ("tasks.h5: dataset /points: expected float64 of rank 2, found int32 of rank 2").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "metagmm/h5/handle.hpp"

namespace metagmm {
class AtomicFile;
}

namespace metagmm::h5 {

enum class Dtype { float64, int64, int32, int8 };
const char* dtype_name(Dtype dtype);

template <typename T> constexpr Dtype dtype_of();
template <> constexpr Dtype dtype_of<double>() { return Dtype::float64; }
template <> constexpr Dtype dtype_of<std::int64_t>() { return Dtype::int64; }
template <> constexpr Dtype dtype_of<std::int32_t>() { return Dtype::int32; }
template <> constexpr Dtype dtype_of<std::int8_t>() { return Dtype::int8; }

using Dims = std::vector<std::uint64_t>;

// Called once, before any other HDF5 use (the command line does it first): turns off HDF5's
// exit handler. After a write that failed (a full disk), HDF5 can neither flush nor close the
// file, and its exit handler, trying again, crashed the process after the error was reported.
// Every file metagmm writes is closed explicitly before it is renamed into place, so nothing
// depends on that handler; the operating system releases the rest.
void keep_library_out_of_exit();

// True if `path` is an existing HDF5 file (by its signature, not its name).
bool is_hdf5_file(const std::string& path);

class Dataset {
 public:
  Dataset(Handle handle, std::string file, std::string name, Dims dims);
  const Dims& dims() const { return dims_; }
  const std::string& name() const { return name_; }
  std::uint64_t row_size() const;  // product of the dimensions after the first

  // Rows [first, first + count) of the leading dimension, all trailing dimensions, C order.
  template <typename T> void read_rows(std::uint64_t first, std::uint64_t count, T* out) const;
  template <typename T> std::vector<T> read_all() const;
  // Extends the leading dimension (the dataset must be extendible) and writes the rows.
  template <typename T> void append_rows(std::uint64_t count, const T* data);
  // Writes the whole dataset, C order.
  template <typename T> void write_all(const T* data);

 private:
  std::string where() const;
  Handle handle_;
  std::string file_;
  std::string name_;
  Dims dims_;
};

struct DatasetOptions {
  bool extendible = false;       // unlimited leading dimension, for appending
  bool compress = true;          // shuffle + deflate
  std::uint64_t chunk_bytes = 1 << 16;
};

class File {
 public:
  // Throws InputError if the file is missing or not HDF5.
  static File open(const std::string& path);
  // Creates (truncates) a file for writing.
  static File create(const std::string& path);
  // Creates `output`'s temporary; messages name the final path.
  static File create(const AtomicFile& output);

  const std::string& path() const { return path_; }
  bool exists(const std::string& object) const;  // "/a/b" with every level checked
  void create_group(const std::string& name);

  // Opens a dataset and checks its element type and rank.
  Dataset dataset(const std::string& name, Dtype expected, int rank) const;
  template <typename T>
  Dataset create_dataset(const std::string& name, const Dims& dims, const DatasetOptions& options = {});
  template <typename T>
  void write(const std::string& name, const Dims& dims, const T* data, const DatasetOptions& options = {});

  // Attributes of an object ("/" for the root). Missing: nullopt; wrong type: InputError.
  std::optional<std::string> string_attribute(const std::string& object, const std::string& name) const;
  std::optional<std::int64_t> int_attribute(const std::string& object, const std::string& name) const;
  std::optional<double> double_attribute(const std::string& object, const std::string& name) const;
  void set_attribute(const std::string& object, const std::string& name, const std::string& value);
  void set_attribute(const std::string& object, const std::string& name, std::int64_t value);
  void set_attribute(const std::string& object, const std::string& name, double value);
  std::string require_string_attribute(const std::string& object, const std::string& name) const;
  // The names of an object's attributes, and of a group's members, in increasing name order.
  std::vector<std::string> attribute_names(const std::string& object) const;
  std::vector<std::string> member_names(const std::string& group) const;
  // What an attribute holds: text, one integer, one floating-point number, or something else.
  enum class AttributeKind { text, integer, real, other };
  AttributeKind attribute_kind(const std::string& object, const std::string& name) const;
  std::int64_t require_int_attribute(const std::string& object, const std::string& name) const;

  void flush();
  void close();  // releases the file; later use is an error

 private:
  File(Handle handle, std::string path) : handle_(std::move(handle)), path_(path), shown_(std::move(path)) {}
  static File create_as(const std::string& path, const std::string& shown);
  Handle open_attribute(const std::string& object, const std::string& name) const;
  std::uint64_t object_address(const std::string& object) const;
  void check_declared_size(const std::string& name, const Dims& dims, std::uint64_t element_bytes) const;  // where its header is, in bytes
  Handle handle_;
  std::string path_;   // the file read and written
  std::string shown_;  // its name in messages: the final name of a temporary
};

}  // namespace metagmm::h5
