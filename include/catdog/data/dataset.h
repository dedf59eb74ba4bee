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

// The cats_vs_dogs dataset's classes (PetImages, or a cat/ and a dog/ folder):
// labels as TFDS gives them, 0 = cat, 1 = dog. Other datasets name their own.
inline constexpr std::array<const char*, 2> kClassNames = {"cat", "dog"};
inline constexpr int64_t kCatLabel = 0;
inline constexpr int64_t kDogLabel = 1;

// Whether `class_names` are cats_vs_dogs' (cat, dog): the outputs and split
// catdog gave them before it took any classes stay as they were.
bool is_cats_vs_dogs(const std::vector<std::string>& class_names);

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

// A class with fewer images than this gets a warning: too few to learn or judge.
inline constexpr int kFewImagesPerClass = 10;

// What a dataset folder holds once scanned.
struct DatasetIndex {
  std::filesystem::path root;  // folder the sample paths are relative to
  bool petimages_layout = false;  // Microsoft's archive: TFDS's JFIF rule applies
  std::vector<std::string> class_names;  // label i is class_names[i]; sorted by byte order
  std::vector<Sample> samples;    // sorted by path
  std::vector<SkippedFile> skipped;

  std::map<SkipReason, int> skipped_by_reason() const;
};

// Finds the class folders under `dir` and lists their image files with cheap
// checks (empty, no known image signature). Classes, labelled in the byte
// order of their names (as Keras' image_dataset_from_directory and
// torchvision's ImageFolder sort them):
//  - PetImages layout (Microsoft's archive): DIR/PetImages/{Cat,Dog}, or DIR
//    itself named PetImages with Cat/ and Dog/: classes cat, dog. As TFDS:
//    only <digits>.jpg directly in Cat/ or Dog/ count, and a file without the
//    bytes "JFIF" in its first 512 bytes is skipped (what TFDS's fobj.peek(10)
//    on a ZipExtFile sees): 23,262 of the archive's 25,000 images stay.
//  - otherwise every non-hidden subfolder is a class named after it: every
//    non-hidden file below it that is a JPEG (JFIF or Exif), PNG, BMP, TIFF or
//    WebP. With more than two subfolders, one without images is left out with
//    a warning naming it. When the two classes are one folder meaning cat and
//    one meaning dog (cat, cats, Cat, CATS, ...), they are named cat and dog.
// `only_classes` (non-empty) keeps those classes alone (Error naming the
// dataset's classes for one it lacks). A class with fewer than
// kFewImagesPerClass images gets a warning.
// Only regular files are read. Folders that cannot be listed, links that loop
// or dangle, unreadable files and FIFOs/devices are skipped and counted with
// their path and the system's reason; symbolic links to folders are not
// followed. A header that already declares more pixels than `limits` allow is
// skipped as too large.
// With `decode_all`, every kept file is also decoded once (on `threads`
// threads, 0 = all cores) and the ones OpenCV cannot read are skipped too.
// Throws Error when fewer than two class folders (with images) are found, or
// more than one folder of cat or of dog.
DatasetIndex scan_dataset(const std::filesystem::path& dir, bool decode_all = false, int threads = 0,
                          const DecodeLimits& limits = {}, const std::vector<std::string>& only_classes = {});

// Error naming both lists when `data`'s classes are not `model_classes` (in
// that order): a model's outputs mean its own classes, no others.
void require_classes(const std::vector<std::string>& model_classes, const DatasetIndex& data);

// Decodes every sample (on `threads` threads): for each, why it cannot be
// decoded, or nullopt. What decode_all skips.
std::vector<std::optional<SkippedFile>> find_undecodable(const std::filesystem::path& root,
                                                        const std::vector<Sample>& samples, int threads,
                                                        const DecodeLimits& limits = {});

// Whether `dir` looks like a dataset scan_dataset can read: PetImages, or two
// or more subfolders (which of them hold images, the scan says).
bool has_dataset(const std::filesystem::path& dir);
// What scan_dataset says of a folder without a dataset: what it expected there.
std::string no_dataset_message(const std::filesystem::path& dir);

}  // namespace catdog
