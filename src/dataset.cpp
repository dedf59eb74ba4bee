#include "catdog/dataset.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>

#include <spdlog/spdlog.h>

#include "catdog/error.h"
#include "catdog/preprocess.h"
#include "catdog/runtime.h"
#include "catdog/thread_pool.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

// TFDS keeps an archive file when b"JFIF" is in `fobj.peek(10)`. Its fobj is a
// zipfile.ZipExtFile, whose peek() returns up to 512 buffered bytes whatever n
// is, so the rule TFDS really applies is "JFIF within the first 512 bytes".
// That is what skips exactly 1,738 of the 25,000 archive images.
constexpr size_t kJfifWindow = 512;

// TFDS only looks at PetImages/(Cat|Dog)/<digits>.jpg (so not Thumbs.db).
const std::regex kPetImagesName(R"(\d+\.jpg)");

struct ClassFolders {
  fs::path cat, dog;  // relative to the dataset root
  bool petimages = false;
};

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool is_dir(const fs::path& path) {
  std::error_code ignored;
  return fs::is_directory(path, ignored);
}

// The PetImages layout is Microsoft's archive as unpacked: DIR/PetImages/{Cat,Dog},
// or DIR itself named PetImages. Literally these names, since only there does
// TFDS's JFIF rule belong; a user's own Cat/ and Dog/ elsewhere are a generic pair.
std::optional<ClassFolders> find_class_folders(const fs::path& dir) {
  for (const fs::path& base : {fs::path("PetImages"), fs::path()}) {
    if (base.empty() && dir.filename() != "PetImages") continue;
    if (is_dir(dir / base / "Cat") && is_dir(dir / base / "Dog")) return ClassFolders{base / "Cat", base / "Dog", true};
  }
  std::vector<fs::path> cats, dogs;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (!entry.is_directory()) continue;
    const auto name = lowercase(entry.path().filename().string());
    if (name == "cat" || name == "cats") cats.push_back(entry.path().filename());
    if (name == "dog" || name == "dogs") dogs.push_back(entry.path().filename());
  }
  if (cats.empty() || dogs.empty()) return std::nullopt;
  if (cats.size() > 1 || dogs.size() > 1)
    throw Error(dir.string() + " has more than one cat or dog folder (" + std::to_string(cats.size() + dogs.size()) +
                " of cat/cats/dog/dogs in any case); keep one of each");
  return ClassFolders{cats[0], dogs[0], false};
}

std::string no_dataset_message(const fs::path& dir) {
  return "no cats_vs_dogs dataset in " + (dir / "").string() +
         " (expected PetImages/Cat and PetImages/Dog, or a cat/ and a dog/ folder: cat, cats, Cat, ...): "
         "run scripts/download_cats_vs_dogs.sh, or point the data folder (or CATDOG_DATA) at a folder with cat/ and "
         "dog/ subfolders";
}

std::string read_head(const fs::path& file, size_t bytes) {
  std::string head(bytes, '\0');
  std::ifstream in(file, std::ios::binary);
  in.read(head.data(), static_cast<std::streamsize>(bytes));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return head;
}

// Formats OpenCV 4.6 decodes. GIF is not among them, so it counts as not an image.
bool has_image_signature(const std::string& head) {
  const auto starts = [&](const char* magic, size_t length) {
    return head.size() >= length && std::memcmp(head.data(), magic, length) == 0;
  };
  return starts("\xFF\xD8\xFF", 3) || starts("\x89PNG\r\n\x1A\n", 8) || starts("BM", 2) ||
         starts("II*\0", 4) || starts("MM\0*", 4) ||
         (starts("RIFF", 4) && head.size() >= 12 && head.compare(8, 4, "WEBP") == 0);
}

std::optional<SkipReason> cheap_check(const fs::path& file, bool jfif_rule) {
  const auto head = read_head(file, kJfifWindow);
  if (head.empty()) return SkipReason::Empty;
  if (!has_image_signature(head)) return SkipReason::NotAnImage;
  if (jfif_rule && head.find("JFIF") == std::string::npos) return SkipReason::NoJfifMarker;
  return std::nullopt;
}

void log_skipped(const DatasetIndex& index) {
  for (const auto& [reason, count] : index.skipped_by_reason())
    spdlog::info("skipped {} file(s): {} (-v lists them)", count, to_string(reason));
  for (const auto& file : index.skipped) spdlog::debug("skipped {}: {}", file.path, to_string(file.reason));
}

}  // namespace

// Decodes every sample on `threads` threads; returns the ones OpenCV cannot read.
std::vector<bool> find_undecodable(const fs::path& root, const std::vector<Sample>& samples, int threads) {
  std::vector<bool> undecodable(samples.size(), false);
  std::mutex mutex;
  parallel_for(samples.size(), threads, [&](size_t, size_t i) {
    try {
      decode_rgb(root / samples[i].path);
    } catch (const Error&) {
      std::lock_guard<std::mutex> lock(mutex);  // vector<bool> shares bytes between elements
      undecodable[i] = true;
    }
  });
  return undecodable;
}

const char* to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::Empty: return "empty file";
    case SkipReason::NotAnImage: return "not an image";
    case SkipReason::NoJfifMarker: return "no JFIF marker (TFDS rule)";
    case SkipReason::Undecodable: return "undecodable";
  }
  return "unknown";
}

std::map<SkipReason, int> DatasetIndex::skipped_by_reason() const {
  std::map<SkipReason, int> counts;
  for (const auto& file : skipped) ++counts[file.reason];
  return counts;
}

DatasetIndex scan_dataset(const fs::path& dir, bool decode_all, int threads) {
  const auto folders = find_class_folders(dir);
  if (!folders) throw Error(no_dataset_message(dir));
  DatasetIndex index;
  index.root = dir;
  index.petimages_layout = folders->petimages;

  const std::pair<fs::path, int64_t> classes[] = {{folders->cat, kCatLabel}, {folders->dog, kDogLabel}};
  for (const auto& [folder, label] : classes) {
    for (const auto& entry : fs::recursive_directory_iterator(dir / folder)) {
      if (!entry.is_regular_file()) continue;
      const auto in_class = entry.path().lexically_relative(dir / folder);
      const auto name = in_class.filename().string();
      const bool ignored = index.petimages_layout
                               ? in_class.has_parent_path() || !std::regex_match(name, kPetImagesName)
                               : name.front() == '.';  // .DS_Store and the like
      const auto path = (folder / in_class).generic_string();
      if (ignored) {
        spdlog::debug("ignored {}: not a dataset file name", path);
      } else if (const auto reason = cheap_check(entry.path(), index.petimages_layout)) {
        index.skipped.push_back({path, *reason});
      } else {
        index.samples.push_back({path, label});
      }
    }
  }
  const auto by_path = [](const auto& a, const auto& b) { return a.path < b.path; };
  std::sort(index.samples.begin(), index.samples.end(), by_path);

  if (decode_all) {
    const auto undecodable = find_undecodable(dir, index.samples, threads > 0 ? threads : available_cores());
    std::vector<Sample> decodable;
    for (size_t i = 0; i < index.samples.size(); ++i) {
      if (undecodable[i])
        index.skipped.push_back({index.samples[i].path, SkipReason::Undecodable});
      else
        decodable.push_back(index.samples[i]);
    }
    index.samples = std::move(decodable);
  }
  std::sort(index.skipped.begin(), index.skipped.end(), by_path);
  spdlog::info("{}: {} images{}", dir.string(), index.samples.size(),
               index.petimages_layout ? " (PetImages layout: TFDS's JFIF rule applied)" : "");
  log_skipped(index);
  return index;
}

fs::path resolve_data_dir(const std::string& from_flag) {
  const char* from_env = std::getenv("CATDOG_DATA");
  const fs::path dir = !from_flag.empty()                    ? fs::path(from_flag)
                       : from_env != nullptr && *from_env != 0 ? fs::path(from_env)
                                                               : fs::path("data");
  if (!find_class_folders(dir)) throw Error(no_dataset_message(dir));
  return dir;
}

}  // namespace catdog
