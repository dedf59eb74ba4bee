#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "catdog/base/error.h"
#include "catdog/base/image_format.h"

namespace catdog {

// Labels follow TFDS cats_vs_dogs: 0 = cat, 1 = dog.
inline constexpr std::array<const char*, 2> kClassNames = {"cat", "dog"};
inline constexpr int64_t kCatLabel = 0;
inline constexpr int64_t kDogLabel = 1;

// The name of class `label` in `class_names`, or its number when the list has
// none for it: every output that names a class says it the same way.
std::string class_name(const std::vector<std::string>& class_names, int64_t label);

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
  TooLarge,       // over DecodeLimits (pixels its header declares, or bytes)
  Unreadable,     // no permission, I/O error, a looping or dangling link; a folder too
  NotRegular,     // a FIFO, device or socket: never opened
};
const char* to_string(SkipReason reason);

// How decode_rgb's error (read_file.h's kinds) leaves a file out.
SkipReason skip_reason(const Error& decode_error);

struct SkippedFile {
  std::string path;  // relative to the dataset root
  SkipReason reason;
  std::string detail = {};  // the error message, when there is more to say than the reason
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
// Only regular files are read. Folders that cannot be listed, links that loop
// or dangle, unreadable files and FIFOs/devices are skipped and counted with
// their path and the system's reason; symbolic links to folders are not
// followed. A header that already declares more pixels than `limits` allow is
// skipped as too large.
// With `decode_all`, every kept file is also decoded once (on `threads`
// threads, 0 = all cores) and the ones OpenCV cannot read are skipped too.
// Throws Error when no cat/dog folders are found, or more than one of a class.
DatasetIndex scan_dataset(const std::filesystem::path& dir, bool decode_all = false, int threads = 0,
                          const DecodeLimits& limits = {});

// Decodes every sample (on `threads` threads): for each, why it cannot be
// decoded, or nullopt. What decode_all skips.
std::vector<std::optional<SkippedFile>> find_undecodable(const std::filesystem::path& root,
                                                        const std::vector<Sample>& samples, int threads,
                                                        const DecodeLimits& limits = {});

// Whether `dir` holds a dataset scan_dataset can read (its class folders).
bool has_dataset(const std::filesystem::path& dir);
// What scan_dataset says of a folder without a dataset: what it expected there.
std::string no_dataset_message(const std::filesystem::path& dir);

}  // namespace catdog
