#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/serialize/input-archive.h>

namespace catdog {

// The CRC-32 (zlib's) of `size` bytes.
uint32_t crc32_of(const void* data, size_t size);

// One record of a zip archive.
struct ZipRecord {
  std::string name;
  uint64_t size = 0;  // its bytes (inflated, for a deflated record)
};

struct ZipCheck {
  bool is_zip = false;             // an end-of-central-directory record ends the bytes
  std::string problem;             // what is wrong, e.g. "record archive/data/3: CRC mismatch"; empty: whole
  std::vector<ZipRecord> records;  // in directory order, every record when whole
};

// Checks a zip archive as LibTorch writes one (checkpoints, feature caches),
// held in memory, before LibTorch's reader sees it: that reader trusts every
// length and skips the CRCs, so a corrupt file crashes it or loads wrong
// bytes. Checked: the end of central directory (zip64's too, when present)
// ends the bytes; the directory lies between the records and its end; every
// entry is stored or deflated (LibTorch deflates its TorchScript code), has a
// unique name, a local header at its offset with the same name, bytes (and
// data descriptor) inside the file, before the directory and overlapping no
// other record's, and data (inflated, for deflated records) of the
// directory's size and CRC-32. Record names in `problem` are escaped
// (escape_text).
ZipCheck check_zip(const unsigned char* bytes, size_t size);

// Reads a LibTorch archive file once (UnreadableFile if it cannot be, a FIFO
// included), checks it (check_zip) and, only if whole, loads `archive` from
// those bytes onto the CPU; LibTorch's own exceptions pass through.
ZipCheck load_checked_archive(const std::filesystem::path& file, torch::serialize::InputArchive& archive);

}  // namespace catdog
