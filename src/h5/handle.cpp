#include "metagmm/h5/handle.hpp"

#include <hdf5.h>

#include <type_traits>

namespace metagmm::h5 {

static_assert(std::is_same_v<hid_t, Id>, "metagmm::h5::Id must be HDF5's hid_t");

void Handle::reset() {
  if (id_ >= 0) H5Idec_ref(id_);
  id_ = -1;
}

}  // namespace metagmm::h5
