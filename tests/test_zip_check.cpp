// The zip container check that runs before LibTorch parses an archive.
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <torch/torch.h>

#include "catdog/store/zip_check.h"
#include "test_support.h"

namespace catdog {
namespace {

uint64_t le(const std::string& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width; i-- > 0;) value = value << 8 | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

void put_le(std::string& bytes, size_t at, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[at + i] = static_cast<char>(value >> (8 * i));
}

std::string with_le(uint64_t value, int width) {
  std::string bytes(width, '\0');
  put_le(bytes, 0, value, width);
  return bytes;
}

ZipCheck check(const std::string& bytes) {
  return check_zip(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

uint32_t crc_of(const std::string& bytes) { return crc32_of(bytes.data(), bytes.size()); }

std::string raw_deflate(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// A minimal zip writer (no zip64, no data descriptors), for archives
// LibTorch never writes: every field of an entry can be set afterwards.
struct ZipBuilder {
  struct Entry {
    std::string name;
    uint16_t method = 0, flags = 0;
    uint32_t crc = 0;
    uint32_t compressed = 0, uncompressed = 0, offset = 0;
  };
  std::string body;
  std::vector<Entry> entries;

  // Returns where its data starts.
  size_t add(const std::string& name, const std::string& data, uint16_t method = 0) {
    const std::string stored = method == 8 ? raw_deflate(data) : data;
    Entry entry{name, method, 0, crc_of(data), static_cast<uint32_t>(stored.size()), static_cast<uint32_t>(data.size()),
                static_cast<uint32_t>(body.size())};
    body += with_le(0x04034b50, 4) + with_le(20, 2) + with_le(0, 2) + with_le(method, 2) + with_le(0, 4) +
            with_le(entry.crc, 4) + with_le(entry.compressed, 4) + with_le(entry.uncompressed, 4) +
            with_le(name.size(), 2) + with_le(0, 2) + name;
    entries.push_back(entry);
    const size_t data_start = body.size();
    body += stored;
    return data_start;
  }

  std::string finish(const std::string& comment = "") const {
    std::string directory;
    for (const auto& e : entries)
      directory += with_le(0x02014b50, 4) + with_le(20, 2) + with_le(20, 2) + with_le(e.flags, 2) + with_le(e.method, 2) +
                   with_le(0, 4) + with_le(e.crc, 4) + with_le(e.compressed, 4) + with_le(e.uncompressed, 4) +
                   with_le(e.name.size(), 2) + std::string(8, '\0') + with_le(0, 4) + with_le(e.offset, 4) + e.name;
    return body + directory + with_le(0x06054b50, 4) + std::string(4, '\0') + with_le(entries.size(), 2) +
           with_le(entries.size(), 2) + with_le(directory.size(), 4) + with_le(body.size(), 4) +
           with_le(comment.size(), 2) + comment;
  }
};

// A LibTorch archive as catdog writes one: a tensor, a string, a zip64 end.
// With a few dozen more entries its TorchScript code is long enough for
// LibTorch to deflate it, as in a checkpoint.
std::string libtorch_archive(const torch::Tensor& tensor, int more_entries = 0) {
  torch::serialize::OutputArchive archive;
  archive.write("weights", tensor, /*is_buffer=*/true);
  archive.write("note", c10::IValue(std::string("hello")));
  for (int i = 0; i < more_entries; ++i) archive.write("entry" + std::to_string(i), c10::IValue(int64_t{i}));
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

torch::Tensor sample_tensor() { return torch::arange(256, torch::kFloat32).reshape({16, 16}); }

// Central directory entries of a LibTorch archive: name -> where the entry starts.
std::map<std::string, size_t> central_entries(const std::string& zip) {
  const size_t end = zip.rfind(std::string("PK\x05\x06", 4));
  const size_t zip64_end = le(zip, end - 20 + 8, 8);
  std::map<std::string, size_t> entries;
  for (size_t at = le(zip, zip64_end + 48, 8); at < zip64_end;) {
    const size_t name = le(zip, at + 28, 2), extra = le(zip, at + 30, 2), comment = le(zip, at + 32, 2);
    entries[zip.substr(at + 46, name)] = at;
    at += 46 + name + extra + comment;
  }
  return entries;
}

// Where the data of the record whose central entry is at `entry` starts.
size_t data_of(const std::string& zip, size_t entry) {
  const size_t local = le(zip, entry + 42, 4);
  return local + 30 + le(zip, local + 26, 2) + le(zip, local + 28, 2);
}

size_t entry_named(const std::string& zip, const std::string& suffix) {
  for (const auto& [name, at] : central_entries(zip))
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return at;
  ADD_FAILURE() << "no record ending in " << suffix;
  return 0;
}

void expect_problem(const std::string& bytes, const std::string& problem) {
  const auto result = check(bytes);
  EXPECT_TRUE(result.is_zip);
  EXPECT_NE(result.problem.find(problem), std::string::npos) << "problem: '" << result.problem << "'";
}

TEST(ZipCheck, ALibTorchArchivePassesWithItsRecords) {
  const auto zip = libtorch_archive(sample_tensor(), 40);
  const auto result = check(zip);
  EXPECT_TRUE(result.is_zip);
  EXPECT_EQ(result.problem, "");
  std::map<std::string, uint64_t> sizes;
  for (const auto& record : result.records) sizes[record.name] = record.size;
  EXPECT_EQ(sizes.size(), central_entries(zip).size());
  const auto data = std::find_if(sizes.begin(), sizes.end(), [](const auto& r) {
    return r.first.find("/data/") != std::string::npos;
  });
  ASSERT_NE(data, sizes.end());
  EXPECT_EQ(data->second, 256u * 4);  // the tensor's bytes
  const auto code = std::find_if(sizes.begin(), sizes.end(), [](const auto& r) {
    return r.first.find("/code/") != std::string::npos && r.first.find(".py") + 3 == r.first.size();
  });
  ASSERT_NE(code, sizes.end());  // deflated by LibTorch: its inflated size
  EXPECT_GT(code->second, le(zip, central_entries(zip)[code->first] + 20, 4));
}

TEST(ZipCheck, AFlippedByteInATensorRecordIsACrcMismatchNamingIt) {
  auto zip = libtorch_archive(sample_tensor());
  const size_t entry = entry_named(zip, "/data/0");
  zip[data_of(zip, entry) + 100] ^= 0x01;
  expect_problem(zip, "/data/0: CRC mismatch");
}

TEST(ZipCheck, AFlippedByteInDeflatedCodeNamesItsRecord) {
  auto zip = libtorch_archive(sample_tensor(), 40);
  const size_t entry = entry_named(zip, ".py");
  ASSERT_EQ(le(zip, entry + 10, 2), 8u);
  zip[data_of(zip, entry) + 10] ^= 0x20;
  expect_problem(zip, ".py: ");
}

TEST(ZipCheck, AFlippedByteInTheCentralDirectoryIsCaught) {
  const auto whole = libtorch_archive(sample_tensor());
  const size_t entry = entry_named(whole, "/data/0");
  auto zip = whole;
  zip[entry + 42] ^= 0x04;  // the local header's offset
  expect_problem(zip, "no local header at its offset");
  zip = whole;
  zip[entry + 16] ^= 0x01;  // the CRC
  expect_problem(zip, "/data/0: ");
  zip = whole;
  zip[entry + 46] ^= 0x01;  // the name
  expect_problem(zip, "its local header names another record");
}

// miniz would "extract" it by writing nothing into the tensor's buffer.
TEST(ZipCheck, ARecordMarkedAsAFolderIsRefused) {
  auto zip = libtorch_archive(sample_tensor());
  zip[entry_named(zip, "/data/0") + 38] |= 0x10;  // the DOS folder attribute
  expect_problem(zip, "/data/0: marked as a folder");
  ZipBuilder builder;
  builder.add("folder/", "");
  expect_problem(builder.finish(), "record folder/: marked as a folder");
}

TEST(ZipCheck, ARecordLengthPastTheEndIsCaught) {
  auto zip = libtorch_archive(sample_tensor());
  const size_t entry = entry_named(zip, "/data/0");
  put_le(zip, entry + 20, 0x7FFFFFFF, 4);
  put_le(zip, entry + 24, 0x7FFFFFFF, 4);
  expect_problem(zip, "its size reaches past the records");
}

TEST(ZipCheck, ATruncatedArchiveIsRefusedAtEveryLength) {
  const auto zip = libtorch_archive(sample_tensor());
  for (size_t length = 0; length < zip.size(); ++length) {
    const auto result = check(zip.substr(0, length));
    EXPECT_NE(result.problem, "") << "truncated to " << length << " bytes";
  }
}

TEST(ZipCheck, TheZip64EndRecordMustAgreeWithTheEndRecord) {
  auto zip = libtorch_archive(sample_tensor());
  const size_t end = zip.rfind(std::string("PK\x05\x06", 4));
  const size_t zip64_end = le(zip, end - 20 + 8, 8);
  put_le(zip, zip64_end + 48, le(zip, zip64_end + 48, 8) + 46, 8);  // the directory's offset
  expect_problem(zip, "disagrees with the zip64 end record");
}

TEST(ZipCheck, BytesAfterTheEndRecordAreRefusedButACommentIsNot) {
  ZipBuilder builder;
  builder.add("a", "some bytes");
  EXPECT_EQ(check(builder.finish("a comment")).problem, "");
  expect_problem(builder.finish() + "x", "bytes follow the end of central directory record");
}

TEST(ZipCheck, OverlappingRecordsAreRefused) {
  ZipBuilder builder;
  const size_t first_data = builder.add("a", "0123456789");
  builder.add("b", "abc");
  // "a" now spans "b" whole, with a CRC that matches: only the overlap is wrong.
  const std::string span = builder.body.substr(first_data);
  auto& first = builder.entries[0];
  first.compressed = first.uncompressed = static_cast<uint32_t>(span.size());
  first.crc = crc_of(span);
  put_le(builder.body, 14, first.crc, 4);
  expect_problem(builder.finish(), "two records overlap");
}

TEST(ZipCheck, ANameTwiceIsRefused) {
  ZipBuilder builder;
  builder.add("same", "1");
  builder.add("same", "2");
  expect_problem(builder.finish(), "record same appears twice");
}

TEST(ZipCheck, DeflatedRecordsMustInflateToTheirSizeAndCrc) {
  const std::string text(5000, 'x');
  ZipBuilder builder;
  const size_t data = builder.add("code.py", text, 8);
  const auto result = check(builder.finish());
  EXPECT_EQ(result.problem, "");
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0].size, 5000u);

  auto larger = builder;
  larger.entries[0].uncompressed = 6000;
  expect_problem(larger.finish(), "record code.py: it inflates to another size than its directory says");
  auto smaller = builder;
  smaller.entries[0].uncompressed = 4000;
  expect_problem(smaller.finish(), "record code.py: it inflates to another size than its directory says");
  auto cut = builder;
  cut.entries[0].compressed -= 2;  // the deflate stream ends early
  expect_problem(cut.finish(), "record code.py: its deflated bytes are broken");
  auto garbled = builder;
  garbled.body[data] = static_cast<char>(0xFF);  // block type 3 does not exist
  expect_problem(garbled.finish(), "record code.py: its deflated bytes are broken");
}

TEST(ZipCheck, OtherCompressionMethodsAndEncryptionAreRefused) {
  ZipBuilder builder;
  builder.add("a", "abc");
  builder.entries[0].method = 12;  // bzip2
  put_le(builder.body, 8, 12, 2);
  expect_problem(builder.finish(), "record a: compressed with method 12, not stored or deflated");
  builder.entries[0].flags = 1;
  expect_problem(builder.finish(), "record a: encrypted or patched");
}

TEST(ZipCheck, RecordNamesAreEscapedInProblems) {
  ZipBuilder builder;
  builder.add("evil\n\x1b[2J", "abc");
  builder.entries[0].crc ^= 1;
  expect_problem(builder.finish(), "record evil\\x0a\\x1b[2J: ");
}

TEST(ZipCheck, ForeignBytesAreNotAZip) {
  for (const std::string bytes : {std::string(), std::string("PK"), std::string(4096, 'z')}) {
    const auto result = check(bytes);
    EXPECT_FALSE(result.is_zip);
    EXPECT_NE(result.problem, "");
  }
}

// Every single-bit flip either is caught or leaves what LibTorch loads
// unchanged (a field nobody reads: a time, padding, a version).
TEST(ZipCheck, EveryFlippedBitIsCaughtOrHarmless) {
  const auto tensor = sample_tensor();
  const auto whole = libtorch_archive(tensor);
  for (size_t bit = 0; bit < whole.size() * 8; ++bit) {
    const size_t at = bit / 8;
    auto zip = whole;
    zip[at] ^= static_cast<char>(1 << (bit % 8));
    if (!check(zip).problem.empty()) continue;
    torch::serialize::InputArchive archive;
    torch::Tensor loaded;
    c10::IValue note;
    archive.load_from(zip.data(), zip.size());
    archive.read("weights", loaded, /*is_buffer=*/true);
    archive.read("note", note);
    EXPECT_TRUE(loaded.equal(tensor)) << "bit " << bit;
    EXPECT_EQ(note.toStringRef(), "hello") << "bit " << bit;
  }
}

TEST(ZipCheck, LoadCheckedArchiveLoadsOnlyWholeFiles) {
  testing::TempDir dir;
  const auto zip = libtorch_archive(sample_tensor());
  const auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return dir / name;
  };
  torch::serialize::InputArchive archive;
  EXPECT_EQ(load_checked_archive(write("whole.pt", zip), archive).problem, "");
  torch::Tensor loaded;
  archive.read("weights", loaded, /*is_buffer=*/true);
  EXPECT_TRUE(loaded.equal(sample_tensor()));

  auto flipped = zip;
  flipped[data_of(zip, entry_named(zip, "/data/0"))] ^= 1;
  torch::serialize::InputArchive untouched;
  EXPECT_NE(load_checked_archive(write("flipped.pt", flipped), untouched).problem, "");
  EXPECT_TRUE(untouched.keys().empty());
}

}  // namespace
}  // namespace catdog
