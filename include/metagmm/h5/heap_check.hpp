#pragma once
// Structural checks of the bytes behind an HDF5 variable-length string attribute, made before
// the HDF5 library reads it. HDF5 1.10 (Debian 12) trusts what it finds there: a damaged object
// size in a global heap collection, or a damaged heap index in the attribute, makes H5Aread
// copy past its buffer (a crash, or silent corruption) before any checksum of ours is checked.
#include <cstdint>
#include <string>

namespace metagmm::h5 {

// Throws InputError naming `path` when a variable-length string attribute stored in the
// object header at `header_address` points at a damaged global heap collection ("GCOL": cut
// off, or an object running past it), at an object the collection lacks, or at one longer than
// the string. Reads the object header (version 1 or 2, with its continuation chunks) and the
// collections it points to, nothing else. Not checked: attributes in dense storage (objects
// with many attributes written with the newest file format), and files whose superblock
// declares addresses or lengths other than 8 bytes (HDF5's default, used by every writer we
// know).
void check_string_attributes(const std::string& path, std::uint64_t header_address);

}  // namespace metagmm::h5
