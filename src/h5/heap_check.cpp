#include "metagmm/h5/heap_check.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "metagmm/core/error.hpp"

namespace metagmm::h5 {
namespace {

// Layouts from the HDF5 file format specification (version 3.0): "Global Heap", "Version 1/2
// Data Object Header Prefix", "Header Message Continuation", "Attribute Message", "Datatype
// Message", "Dataspace Message", and "Disk Format: Level 2A" for variable-length data (a
// 4-byte length, then the heap ID: the collection's address and a 4-byte object index).
constexpr std::uint64_t kCollectionHeaderBytes = 16;
constexpr std::uint64_t kObjectHeaderBytes = 16;
constexpr std::uint64_t kMinimumCollection = 4096;  // H5HG_MINSIZE
constexpr std::uint64_t kDescriptorBytes = 16;
constexpr unsigned kContinuationMessage = 0x10;
constexpr unsigned kAttributeMessage = 0x0C;
constexpr unsigned kVariableLengthClass = 9;
constexpr int kMaximumChunks = 1 << 16;  // a continuation cycle is damage, not a long header

std::uint64_t little_endian(const unsigned char* bytes, int count) {
  std::uint64_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    in_.seekg(0, std::ios::end);
    size_ = in_ ? static_cast<std::uint64_t>(in_.tellg()) : 0;
  }
  bool good() const { return size_ > 0; }
  std::uint64_t size() const { return size_; }
  [[noreturn]] void damaged(const std::string& what) const {
    throw InputError(path_ + ": damaged HDF5 file: " + what);
  }
  // Bytes [at, at + count), which must lie inside the file.
  std::vector<unsigned char> bytes(std::uint64_t at, std::uint64_t count, const char* what) {
    if (at > size_ || count > size_ - at) {
      damaged(std::string(what) + " at byte " + std::to_string(at) + " runs past the end of the file");
    }
    std::vector<unsigned char> out(static_cast<std::size_t>(count));
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(at));
    in_.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count));
    if (static_cast<std::uint64_t>(in_.gcount()) != count) damaged(std::string(what) + " cannot be read");
    return out;
  }

 private:
  std::string path_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
};

// The sizes of addresses and lengths the superblock declares (both 8 unless the writer chose
// otherwise), or false when no superblock is found where HDF5 looks (0, 512, 1024, ...).
bool default_sizes(Reader& file) {
  static constexpr unsigned char kMagic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (std::uint64_t at = 0; at + 16 <= file.size(); at = at == 0 ? 512 : at * 2) {
    const auto head = file.bytes(at, 16, "the superblock");
    if (std::memcmp(head.data(), kMagic, sizeof kMagic) != 0) continue;
    const bool old_layout = head[8] <= 1;
    return old_layout ? head[13] == 8 && head[14] == 8 : head[9] == 8 && head[10] == 8;
  }
  return false;
}

// A global heap collection's object sizes by index, each checked to lie inside it.
std::map<std::uint64_t, std::uint64_t> collection_objects(Reader& file, std::uint64_t at) {
  const std::string where = "the global heap at byte " + std::to_string(at);
  const auto header = file.bytes(at, kCollectionHeaderBytes, where.c_str());
  if (std::memcmp(header.data(), "GCOL\x01", 5) != 0) file.damaged(where + " has no heap signature");
  const std::uint64_t size = little_endian(header.data() + 8, 8);
  if (size < kMinimumCollection || size > file.size() - at) {
    file.damaged(where + " declares " + std::to_string(size) + " bytes; the file has " +
                 std::to_string(file.size() - at) + " from there");
  }
  std::map<std::uint64_t, std::uint64_t> objects;
  for (std::uint64_t p = kCollectionHeaderBytes; p + kObjectHeaderBytes <= size;) {
    const auto object = file.bytes(at + p, kObjectHeaderBytes, where.c_str());
    const std::uint64_t index = little_endian(object.data(), 2);
    const std::uint64_t bytes = little_endian(object.data() + 8, 8);
    const std::uint64_t room = size - p;
    if (index == 0) {  // the free space, which counts its own header and ends the collection
      if (bytes > room) file.damaged(where + " has free space past its end");
      break;
    }
    const std::uint64_t padded = bytes + (8 - bytes % 8) % 8;
    if (bytes > room || padded > room - kObjectHeaderBytes) {
      file.damaged(where + " has object " + std::to_string(index) + " of " + std::to_string(bytes) +
                   " bytes, past its end");
    }
    objects[index] = bytes;
    p += kObjectHeaderBytes + padded;
  }
  return objects;
}

struct Message {
  unsigned type;
  std::vector<unsigned char> body;
};

// Splits one chunk of an object header into its messages.
void split_messages(Reader& file, const std::vector<unsigned char>& chunk, std::size_t begin, std::size_t end,
                    bool version1, bool creation_order, std::vector<Message>& out) {
  const std::size_t header = version1 ? 8 : (creation_order ? 6 : 4);
  for (std::size_t p = begin; p + header <= end;) {
    const unsigned type = version1 ? static_cast<unsigned>(little_endian(&chunk[p], 2)) : chunk[p];
    const std::size_t size = static_cast<std::size_t>(little_endian(&chunk[p + (version1 ? 2 : 1)], 2));
    if (size > end - p - header) file.damaged("an object header message runs past its chunk");
    out.push_back({type, std::vector<unsigned char>(chunk.begin() + static_cast<std::ptrdiff_t>(p + header),
                                                    chunk.begin() + static_cast<std::ptrdiff_t>(p + header + size))});
    p += header + size;
  }
}

// Every message of the object header at `at`, continuation chunks included.
std::vector<Message> header_messages(Reader& file, std::uint64_t at) {
  std::vector<Message> messages;
  const auto prefix = file.bytes(at, 16, "an object header");
  const bool version2 = std::memcmp(prefix.data(), "OHDR", 4) == 0;
  bool creation_order = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> chunks;  // address, length
  if (version2) {
    const unsigned flags = prefix[5];
    creation_order = (flags & 0x04) != 0;
    std::uint64_t p = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const int width = 1 << (flags & 0x03);
    const auto size_field = file.bytes(at + p, static_cast<std::uint64_t>(width), "an object header");
    const std::uint64_t size = little_endian(size_field.data(), width);
    const std::uint64_t start = at + p + static_cast<std::uint64_t>(width);
    const auto chunk = file.bytes(start, size, "an object header");
    split_messages(file, chunk, 0, chunk.size(), false, creation_order, messages);
  } else {
    if (prefix[0] != 1) return messages;  // not an object header we know: HDF5 will say so
    const std::uint64_t size = little_endian(prefix.data() + 8, 4);
    const auto chunk = file.bytes(at + 16, size, "an object header");
    split_messages(file, chunk, 0, chunk.size(), true, false, messages);
  }
  for (std::size_t m = 0; m < messages.size(); ++m) {
    if (messages[m].type != kContinuationMessage || messages[m].body.size() < 16) continue;
    if (static_cast<int>(chunks.size()) >= kMaximumChunks) file.damaged("an object header's continuations form a loop");
    const std::uint64_t address = little_endian(messages[m].body.data(), 8);
    const std::uint64_t length = little_endian(messages[m].body.data() + 8, 8);
    chunks.emplace_back(address, length);
    const auto chunk = file.bytes(address, length, "an object header continuation");
    if (version2) {
      if (chunk.size() < 8 || std::memcmp(chunk.data(), "OCHK", 4) != 0) file.damaged("an object header continuation has no signature");
      split_messages(file, chunk, 4, chunk.size() - 4, false, creation_order, messages);  // after it, a checksum
    } else {
      split_messages(file, chunk, 0, chunk.size(), true, false, messages);
    }
  }
  return messages;
}

std::uint64_t padded8(std::uint64_t n) { return n + (8 - n % 8) % 8; }

// Checks the heap IDs of one attribute message whose datatype is a variable-length string.
void check_attribute(Reader& file, const std::vector<unsigned char>& body,
                     std::map<std::uint64_t, std::map<std::uint64_t, std::uint64_t>>& collections) {
  if (body.size() < 8) return;
  const unsigned version = body[0];
  if (version < 1 || version > 3 || (version >= 2 && (body[1] & 0x03) != 0)) return;  // shared types: not ours
  const std::uint64_t name = little_endian(&body[2], 2), type = little_endian(&body[4], 2),
                      space = little_endian(&body[6], 2);
  const std::uint64_t fields = version == 3 ? 9 : 8;
  const std::uint64_t type_at = fields + (version == 1 ? padded8(name) : name);
  const std::uint64_t space_at = type_at + (version == 1 ? padded8(type) : type);
  const std::uint64_t data_at = space_at + (version == 1 ? padded8(space) : space);
  if (data_at > body.size() || type < 8 || space < 2) return;
  const unsigned type_class = body[type_at] & 0x0F;
  const bool is_string = (body[type_at + 1] & 0x0F) == 1;
  if (type_class != kVariableLengthClass || !is_string) return;
  // The dataspace: scalar, or a simple space with its dimensions; one descriptor per element.
  const unsigned space_version = body[space_at], rank = body[space_at + 1];
  std::uint64_t elements = 1;
  if (space_version == 2 && body.size() > space_at + 3 && body[space_at + 3] == 2) elements = 0;  // null space
  const std::uint64_t dims_at = space_at + (space_version == 1 ? 8 : 4);
  for (unsigned r = 0; r < rank && dims_at + 8 * (r + 1) <= body.size(); ++r) {
    elements *= little_endian(&body[dims_at + 8 * r], 8);
  }
  if (elements > (body.size() - data_at) / kDescriptorBytes) file.damaged("an attribute holds fewer strings than it declares");
  for (std::uint64_t e = 0; e < elements; ++e) {
    const unsigned char* id = &body[data_at + e * kDescriptorBytes];
    const std::uint64_t length = little_endian(id, 4), heap = little_endian(id + 4, 8), index = little_endian(id + 12, 4);
    if (length == 0) continue;  // an empty string is not read from a heap
    auto found = collections.find(heap);
    if (found == collections.end()) found = collections.emplace(heap, collection_objects(file, heap)).first;
    const auto object = found->second.find(index);
    const std::string where = "a string attribute points at object " + std::to_string(index) +
                              " of the global heap at byte " + std::to_string(heap);
    if (object == found->second.end()) file.damaged(where + ", which it lacks");
    if (object->second > length) {
      file.damaged(where + ", of " + std::to_string(object->second) + " bytes for a string of " + std::to_string(length));
    }
  }
}

}  // namespace

void check_string_attributes(const std::string& path, std::uint64_t header_address) {
  Reader file(path);
  if (!file.good() || !default_sizes(file)) return;
  std::map<std::uint64_t, std::map<std::uint64_t, std::uint64_t>> collections;
  for (const Message& message : header_messages(file, header_address)) {
    if (message.type == kAttributeMessage) check_attribute(file, message.body, collections);
  }
}

}  // namespace metagmm::h5
