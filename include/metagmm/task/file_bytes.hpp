#pragma once
#include <string>

namespace metagmm::task {

// A whole file's bytes, decompressed through zlib when the name ends in .gz; InputError naming
// the file when it is missing, unreadable or not gzip.
std::string read_file_bytes(const std::string& path);

}  // namespace metagmm::task
