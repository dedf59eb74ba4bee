#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "catdog/base/error.h"

namespace catdog {

// A file that cannot be read at all: missing, no permission, an I/O error, or
// not a regular file (a FIFO, device or folder). The message names the path
// and the system's reason.
class UnreadableFile : public Error {
 public:
  using Error::Error;
};

// An input over a size limit (bytes, or pixels its header declares).
class InputTooLarge : public Error {
 public:
  using Error::Error;
};

// The size of a regular file that can be opened for reading (opened and
// closed as the readers below do, without blocking); UnreadableFile otherwise.
// For files other code reads, e.g. HDF5's.
uint64_t readable_file_size(const std::filesystem::path& file);

// The first min(file size, max_bytes) bytes of a regular file. Only regular
// files are opened for reading, without blocking: a FIFO or device given as
// an input is an UnreadableFile, never a hang.
std::vector<unsigned char> read_file_head(const std::filesystem::path& file, size_t max_bytes);

// All bytes of a regular file; one larger than max_bytes is InputTooLarge,
// refused before anything is read.
std::vector<unsigned char> read_whole_file(const std::filesystem::path& file, uint64_t max_bytes);

}  // namespace catdog
