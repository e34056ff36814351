#pragma once
// A reusable scratch array of doubles aligned for the widest packet (64 bytes), grown on
// demand and never shrunk: hot loops reuse it instead of allocating (first-touch memory is
// expensive). A copy starts empty: scratch holds nothing worth copying.
#include <cstddef>
#include <new>

namespace metagmm {

class Scratch {
 public:
  static constexpr std::size_t kAlignment = 64;
  Scratch() = default;
  Scratch(const Scratch&) {}
  Scratch& operator=(const Scratch&) { return *this; }
  ~Scratch() { release(); }
  // At least `count` doubles; the contents are unspecified.
  double* reserve(std::size_t count) {
    if (count > capacity_) {
      release();
      data_ = static_cast<double*>(::operator new(count * sizeof(double), std::align_val_t{kAlignment}));
      capacity_ = count;
    }
    return data_;
  }

 private:
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t{kAlignment});
    data_ = nullptr;
    capacity_ = 0;
  }
  double* data_ = nullptr;
  std::size_t capacity_ = 0;
};

}  // namespace metagmm
