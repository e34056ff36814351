#pragma once
// One move-only RAII owner for every kind of HDF5 identifier (file, group, dataset,
// dataspace, datatype, attribute, property list). The identifier is released with
// H5Idec_ref, which closes any kind of object when its last reference goes.
#include <cstdint>

namespace metagmm::h5 {

using Id = std::int64_t;  // hid_t in HDF5 >= 1.10 (checked in handle.cpp)

class Handle {
 public:
  Handle() = default;
  explicit Handle(Id id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.release()) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.release();
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  Id get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  Id release() {
    const Id id = id_;
    id_ = -1;
    return id;
  }
  void reset();

 private:
  Id id_ = -1;
};

}  // namespace metagmm::h5
