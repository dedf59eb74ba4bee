#include "catdog/store/zip_check.h"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <new>
#include <optional>
#include <set>
#include <utility>

#include "catdog/base/read_file.h"
#include "catdog/base/text.h"

namespace catdog {

uint32_t crc32_of(const void* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = static_cast<const Bytef*>(data);
  for (size_t done = 0; done < size;) {  // zlib takes sizes as uInt
    const auto chunk = static_cast<uInt>(std::min<size_t>(size - done, 1u << 30));
    crc = crc32(crc, bytes + done, chunk);
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

namespace {

// Signatures and fixed sizes of the zip format (PKWARE APPNOTE 4.3).
constexpr uint32_t kLocalHeader = 0x04034b50, kCentralEntry = 0x02014b50, kEnd = 0x06054b50,
                   kZip64End = 0x06064b50, kZip64Locator = 0x07064b50, kDataDescriptor = 0x08074b50;
constexpr uint64_t kLocalHeaderSize = 30, kCentralEntrySize = 46, kEndSize = 22, kZip64LocatorSize = 20,
                   kZip64EndSize = 56, kMaxCommentSize = 0xFFFF;
constexpr uint16_t kZip64ExtraId = 0x0001, kStored = 0, kDeflated = 8;
constexpr uint16_t kHasDataDescriptor = 1 << 3;
// Encrypted, patch data, strong encryption, masked local headers: miniz refuses them.
constexpr uint16_t kUnsupported = 1 << 0 | 1 << 5 | 1 << 6 | 1 << 13;
constexpr uint32_t kDosFolder = 0x10;  // in the external attributes
// A field at its maximum: "the value is in the zip64 extra field / end record".
constexpr uint32_t kSaturated32 = 0xFFFFFFFF;
constexpr uint16_t kSaturated16 = 0xFFFF;

// What makes the archive unusable; thrown inside this file only, caught by check_zip.
struct Broken {
  std::string what;
};

// The archive's bytes; every read is checked against their end.
class Bytes {
 public:
  Bytes(const unsigned char* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t size() const { return size_; }
  bool holds(uint64_t offset, uint64_t length) const { return offset <= size_ && length <= size_ - offset; }
  uint64_t le(uint64_t offset, int width, const char* what) const {
    if (!holds(offset, width)) throw Broken{std::string(what) + " reaches past the end of the file"};
    uint64_t value = 0;
    for (int i = width; i-- > 0;) value = value << 8 | data_[offset + i];
    return value;
  }
  uint16_t u16(uint64_t offset, const char* what) const { return static_cast<uint16_t>(le(offset, 2, what)); }
  uint32_t u32(uint64_t offset, const char* what) const { return static_cast<uint32_t>(le(offset, 4, what)); }
  uint64_t u64(uint64_t offset, const char* what) const { return le(offset, 8, what); }
  std::string text(uint64_t offset, uint64_t length, const char* what) const {
    if (!holds(offset, length)) throw Broken{std::string(what) + " reaches past the end of the file"};
    return std::string(reinterpret_cast<const char*>(data_) + offset, length);
  }
  const unsigned char* at(uint64_t offset) const { return data_ + offset; }

 private:
  const unsigned char* data_;
  uint64_t size_;
};

// Where the central directory is, from the end records.
struct Directory {
  uint64_t offset = 0, size = 0, entries = 0;
  uint64_t end = 0;  // where the records after it (zip64 end, end of central directory) start
};

// The last end of central directory record within a comment's reach of the
// file's end: the one LibTorch's reader (miniz) takes.
std::optional<uint64_t> find_end_record(const Bytes& zip) {
  if (zip.size() < kEndSize) return std::nullopt;
  const uint64_t last = zip.size() - kEndSize, first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
  for (uint64_t at = last + 1; at-- > first;)
    if (zip.u32(at, "end record") == kEnd) return at;
  return std::nullopt;
}

// A 16- or 32-bit field of the end record: saturated means "see zip64's".
uint64_t from_end_or_zip64(uint64_t field, uint64_t saturated, std::optional<uint64_t> zip64, const char* what) {
  if (!zip64) {
    if (field == saturated) throw Broken{std::string("the end record's ") + what + " needs a zip64 end record"};
    return field;
  }
  if (field != saturated && field != *zip64)
    throw Broken{std::string("the end record's ") + what + " disagrees with the zip64 end record"};
  return *zip64;
}

Directory read_directory(const Bytes& zip, uint64_t end_record) {
  if (end_record + kEndSize + zip.u16(end_record + 20, "end record") != zip.size())
    throw Broken{"bytes follow the end of central directory record"};
  if (zip.u16(end_record + 4, "end record") != 0 || zip.u16(end_record + 6, "end record") != 0)
    throw Broken{"the archive spans several disks"};
  std::optional<uint64_t> entries64, size64, offset64;
  uint64_t directory_end = end_record;
  if (end_record >= kZip64LocatorSize &&
      zip.u32(end_record - kZip64LocatorSize, "zip64 locator") == kZip64Locator) {
    const uint64_t locator = end_record - kZip64LocatorSize;
    const uint64_t zip64_end = zip.u64(locator + 8, "zip64 locator");
    if (zip.u32(locator + 4, "zip64 locator") != 0 || zip.u32(locator + 16, "zip64 locator") != 1)
      throw Broken{"the archive spans several disks"};
    if (zip64_end > locator || locator - zip64_end < kZip64EndSize || zip.u32(zip64_end, "zip64 end") != kZip64End)
      throw Broken{"no zip64 end record where its locator points"};
    const uint64_t zip64_end_size = zip.u64(zip64_end + 4, "zip64 end");  // after this field
    if (zip64_end_size < kZip64EndSize - 12 || zip64_end_size > locator - zip64_end - 12)
      throw Broken{"the zip64 end record has a wrong size"};
    if (zip.u32(zip64_end + 16, "zip64 end") != 0 || zip.u32(zip64_end + 20, "zip64 end") != 0 ||
        zip.u64(zip64_end + 24, "zip64 end") != zip.u64(zip64_end + 32, "zip64 end"))
      throw Broken{"the archive spans several disks"};
    entries64 = zip.u64(zip64_end + 32, "zip64 end");
    size64 = zip.u64(zip64_end + 40, "zip64 end");
    offset64 = zip.u64(zip64_end + 48, "zip64 end");
    directory_end = zip64_end;
  }
  const uint16_t entries_here = zip.u16(end_record + 8, "end record");
  if (entries_here != zip.u16(end_record + 10, "end record")) throw Broken{"the archive spans several disks"};
  Directory directory;
  directory.entries = from_end_or_zip64(entries_here, kSaturated16, entries64, "entry count");
  directory.size = from_end_or_zip64(zip.u32(end_record + 12, "end record"), kSaturated32, size64, "directory size");
  directory.offset =
      from_end_or_zip64(zip.u32(end_record + 16, "end record"), kSaturated32, offset64, "directory offset");
  directory.end = directory_end;
  if (directory.offset > directory_end || directory.size != directory_end - directory.offset)
    throw Broken{"the central directory does not end where the end records start"};
  if (directory.entries > directory.size / kCentralEntrySize)
    throw Broken{"the end record counts more entries than the central directory holds"};
  return directory;
}

// A central directory entry, its zip64 fields resolved.
struct Entry {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint32_t external_attributes = 0;
  uint64_t compressed = 0, uncompressed = 0, local_header = 0;
  uint64_t next = 0;  // where the next entry starts
};

// Replaces the saturated fields of `entry` from its zip64 extra field, in APPNOTE order.
void read_zip64_extra(const Bytes& zip, uint64_t extra, uint64_t extra_size, Entry& entry) {
  for (uint64_t at = extra; at < extra + extra_size;) {
    const uint16_t id = zip.u16(at, "extra field"), size = zip.u16(at + 2, "extra field");
    if (at + 4 + size > extra + extra_size) throw Broken{"record " + escape_text(entry.name) + ": malformed extra field"};
    if (id == kZip64ExtraId) {
      uint64_t field = at + 4;
      const auto take = [&](uint64_t& value) {
        if (value != kSaturated32) return;
        if (field + 8 > at + 4 + size) throw Broken{"record " + escape_text(entry.name) + ": short zip64 extra field"};
        value = zip.u64(field, "zip64 extra field");
        field += 8;
      };
      take(entry.uncompressed);
      take(entry.compressed);
      take(entry.local_header);
    }
    at += 4 + size;
  }
}

Entry read_entry(const Bytes& zip, uint64_t at, uint64_t directory_end) {
  if (!zip.holds(at, kCentralEntrySize) || at + kCentralEntrySize > directory_end ||
      zip.u32(at, "central directory entry") != kCentralEntry)
    throw Broken{"a central directory entry is missing"};
  Entry entry;
  entry.flags = zip.u16(at + 8, "central directory entry");
  entry.method = zip.u16(at + 10, "central directory entry");
  entry.crc = zip.u32(at + 16, "central directory entry");
  entry.compressed = zip.u32(at + 20, "central directory entry");
  entry.uncompressed = zip.u32(at + 24, "central directory entry");
  const uint64_t name_size = zip.u16(at + 28, "central directory entry"),
                 extra_size = zip.u16(at + 30, "central directory entry"),
                 comment_size = zip.u16(at + 32, "central directory entry");
  if (zip.u16(at + 34, "central directory entry") != 0) throw Broken{"the archive spans several disks"};
  entry.local_header = zip.u32(at + 42, "central directory entry");
  entry.external_attributes = zip.u32(at + 38, "central directory entry");
  entry.next = at + kCentralEntrySize + name_size + extra_size + comment_size;
  if (entry.next > directory_end) throw Broken{"a central directory entry reaches past the directory"};
  entry.name = zip.text(at + kCentralEntrySize, name_size, "a record name");
  if (entry.name.empty()) throw Broken{"a record has no name"};
  read_zip64_extra(zip, at + kCentralEntrySize + name_size, extra_size, entry);
  return entry;
}

// What is wrong with a deflated record: its bytes must inflate to exactly
// `size` bytes with CRC-32 `crc`, ending at their end. Inflated through a
// small buffer: a corrupt size never allocates.
std::string inflate_problem(const unsigned char* deflated, uint64_t deflated_size, uint64_t size, uint32_t crc) {
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) throw std::bad_alloc();  // raw deflate, as zip holds it
  unsigned char buffer[1 << 16];
  uLong actual_crc = crc32(0L, Z_NULL, 0);
  uint64_t produced = 0, consumed = 0;
  int status = Z_OK;
  while (status == Z_OK) {
    if (stream.avail_in == 0) {
      const auto chunk = static_cast<uInt>(std::min<uint64_t>(deflated_size - consumed, 1u << 30));
      stream.next_in = const_cast<Bytef*>(deflated + consumed);
      stream.avail_in = chunk;
      consumed += chunk;
    }
    stream.next_out = buffer;
    stream.avail_out = sizeof(buffer);
    status = inflate(&stream, Z_NO_FLUSH);
    const uInt out = sizeof(buffer) - stream.avail_out;
    produced += out;
    actual_crc = crc32(actual_crc, buffer, out);
    if (produced > size) break;
    if (status == Z_BUF_ERROR && stream.avail_in == 0 && consumed == deflated_size) break;  // input ends early
    if (status == Z_BUF_ERROR) status = Z_OK;  // no progress possible this round: more input comes
  }
  const bool ended = status == Z_STREAM_END && stream.avail_in == 0 && consumed == deflated_size;
  inflateEnd(&stream);
  if (produced > size || (ended && produced != size)) return "it inflates to another size than its directory says";
  if (!ended) return "its deflated bytes are broken";
  if (static_cast<uint32_t>(actual_crc) != crc) return "CRC mismatch";
  return "";
}

// The bytes the record of `entry` occupies, local header to data descriptor: [first, second).
std::pair<uint64_t, uint64_t> check_record(const Bytes& zip, const Entry& entry, uint64_t directory_offset) {
  const std::string record = "record " + escape_text(entry.name);
  const auto broken = [&](const std::string& what) { return Broken{record + ": " + what}; };
  if (entry.flags & kUnsupported) throw broken("encrypted or patched");
  // miniz "extracts" a folder by writing nothing: LibTorch would use uninitialized memory.
  if (entry.name.back() == '/' || (entry.external_attributes & kDosFolder)) throw broken("marked as a folder");
  if (entry.method != kStored && entry.method != kDeflated)
    throw broken("compressed with method " + std::to_string(entry.method) + ", not stored or deflated");
  if (entry.method == kStored && entry.compressed != entry.uncompressed) throw broken("stored, but its sizes differ");
  const uint64_t local = entry.local_header;
  if (!zip.holds(local, kLocalHeaderSize) || zip.u32(local, "local header") != kLocalHeader)
    throw broken("no local header at its offset");
  const uint64_t name_size = zip.u16(local + 26, "local header"), extra_size = zip.u16(local + 28, "local header");
  if (zip.text(local + kLocalHeaderSize, name_size, "a local header's name") != entry.name)
    throw broken("its local header names another record");
  if (zip.u16(local + 8, "local header") != entry.method) throw broken("its local header has another method");
  const uint64_t data = local + kLocalHeaderSize + name_size + extra_size;
  if (!zip.holds(data, entry.compressed) || data + entry.compressed > directory_offset)
    throw broken("its size reaches past the records, into the central directory or past the file's end");
  uint64_t end = data + entry.compressed;
  if (entry.flags & kHasDataDescriptor) {
    // CRC, then sizes (32 or 64 bits), after an optional signature.
    if (zip.holds(end, 4) && zip.u32(end, "data descriptor") == kDataDescriptor) end += 4;
    if (zip.u32(end, "data descriptor") != entry.crc) throw broken("its data descriptor has another CRC");
    const bool small = entry.compressed < kSaturated32 && zip.holds(end + 4, 8) &&
                       zip.u32(end + 4, "data descriptor") == entry.compressed &&
                       zip.u32(end + 8, "data descriptor") == entry.uncompressed;
    if (!small && (zip.u64(end + 4, "data descriptor") != entry.compressed ||
                   zip.u64(end + 12, "data descriptor") != entry.uncompressed))
      throw broken("its data descriptor has other sizes");
    end += small ? 12 : 20;
  } else if (zip.u32(local + 14, "local header") != entry.crc) {
    throw broken("its local header has another CRC");
  }
  if (end > directory_offset) throw broken("its data descriptor reaches into the central directory");
  if (entry.method == kDeflated) {
    const auto problem = inflate_problem(zip.at(data), entry.compressed, entry.uncompressed, entry.crc);
    if (!problem.empty()) throw broken(problem);
  } else if (crc32_of(zip.at(data), entry.compressed) != entry.crc) {
    throw broken("CRC mismatch");
  }
  return {local, end};
}

}  // namespace

ZipCheck check_zip(const unsigned char* bytes, size_t size) {
  const Bytes zip(bytes, size);
  ZipCheck check;
  const auto end_record = find_end_record(zip);
  if (!end_record) {
    check.problem = "no end of central directory record at its end";
    return check;
  }
  check.is_zip = true;
  try {
    const Directory directory = read_directory(zip, *end_record);
    std::set<std::string> names;
    std::vector<std::pair<uint64_t, uint64_t>> extents;
    uint64_t at = directory.offset;
    for (uint64_t i = 0; i < directory.entries; ++i) {
      const Entry entry = read_entry(zip, at, directory.end);
      if (!names.insert(entry.name).second) throw Broken{"record " + escape_text(entry.name) + " appears twice"};
      extents.push_back(check_record(zip, entry, directory.offset));
      check.records.push_back({entry.name, entry.uncompressed});
      at = entry.next;
    }
    if (at != directory.end) throw Broken{"the central directory holds more than its entries"};
    std::sort(extents.begin(), extents.end());
    for (size_t i = 1; i < extents.size(); ++i)
      if (extents[i].first < extents[i - 1].second) throw Broken{"two records overlap"};
  } catch (const Broken& broken) {
    check.problem = broken.what;
  }
  return check;
}

ZipCheck load_checked_archive(const std::filesystem::path& file, torch::serialize::InputArchive& archive) {
  // No size cap: a checkpoint is as large as its model. The bytes are freed
  // once LibTorch has copied the records out.
  const auto bytes = read_whole_file(file, std::numeric_limits<uint64_t>::max());
  auto check = check_zip(bytes.data(), bytes.size());
  if (check.problem.empty())
    archive.load_from(reinterpret_cast<const char*>(bytes.data()), bytes.size(), torch::Device(torch::kCPU));
  return check;
}

}  // namespace catdog
