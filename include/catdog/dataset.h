#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace catdog {

// Labels follow TFDS cats_vs_dogs: 0 = cat, 1 = dog.
inline constexpr std::array<const char*, 2> kClassNames = {"cat", "dog"};
inline constexpr int64_t kCatLabel = 0;
inline constexpr int64_t kDogLabel = 1;

struct Sample {
  std::string path;  // relative to the dataset root, '/'-separated
  int64_t label = 0;
};

// Why a file was left out of a dataset.
enum class SkipReason {
  Empty,          // zero bytes
  NotAnImage,     // no image signature we know (text, GIF, ...)
  NoJfifMarker,   // PetImages layout only: TFDS's rule, no "JFIF" in the header
  Undecodable,    // OpenCV could not decode it (truncated beyond repair, ...)
};
const char* to_string(SkipReason reason);

struct SkippedFile {
  std::string path;  // relative to the dataset root
  SkipReason reason;
};

// What a dataset folder holds once scanned.
struct DatasetIndex {
  std::filesystem::path root;  // folder the sample paths are relative to
  bool petimages_layout = false;  // Microsoft's archive: TFDS's JFIF rule applies
  std::vector<Sample> samples;    // sorted by path
  std::vector<SkippedFile> skipped;

  std::map<SkipReason, int> skipped_by_reason() const;
};

// Finds the class folders under `dir` and lists their image files with cheap
// checks (empty, no known image signature), then:
//  - PetImages layout (Microsoft's archive): DIR/PetImages/{Cat,Dog}, or DIR
//    itself named PetImages with Cat/ and Dog/. As TFDS: only <digits>.jpg
//    directly in Cat/ or Dog/ count, and a file without the bytes "JFIF" in its
//    first 512 bytes is skipped (what TFDS's fobj.peek(10) on a ZipExtFile sees):
//    23,262 of the archive's 25,000 images stay.
//  - otherwise one folder whose name means cat and one meaning dog (cat, cats,
//    Cat, CATS, ...; Cat/ and Dog/ outside PetImages too): every non-hidden file
//    below them that is a JPEG (JFIF or Exif), PNG, BMP, TIFF or WebP.
// With `decode_all`, every kept file is also decoded once (on `threads`
// threads, 0 = all cores) and the ones OpenCV cannot read are skipped too. Throws Error when no cat/dog
// folders are found, or more than one of a class.
DatasetIndex scan_dataset(const std::filesystem::path& dir, bool decode_all = false, int threads = 0);

// Decodes every sample (on `threads` threads) and marks the ones OpenCV
// cannot read: what decode_all skips.
std::vector<bool> find_undecodable(const std::filesystem::path& root, const std::vector<Sample>& samples,
                                   int threads);

// The folder to read when the user gave none: --data, else $CATDOG_DATA, else
// the project's data/ folder. Throws Error naming both ways to set it when the
// result holds no dataset.
std::filesystem::path resolve_data_dir(const std::string& from_flag);

}  // namespace catdog
