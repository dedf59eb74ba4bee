#include "catdog/data/dataset.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <optional>
#include <regex>
#include <string_view>

#include <spdlog/spdlog.h>

#include "catdog/base/error.h"
#include "catdog/base/read_file.h"
#include "catdog/base/runtime.h"
#include "catdog/base/text.h"
#include "catdog/base/thread_pool.h"
#include "catdog/data/preprocess.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

// TFDS keeps an archive file when b"JFIF" is in `fobj.peek(10)`. Its fobj is a
// zipfile.ZipExtFile, whose peek() returns up to 512 buffered bytes whatever n
// is, so the rule TFDS really applies is "JFIF within the first 512 bytes".
// That is what skips exactly 1,738 of the 25,000 archive images.
constexpr size_t kJfifWindow = 512;
// What the scan reads of each file: the JFIF window and most headers' sizes
// (a JPEG's can follow a longer Exif block: then decoding checks it).
constexpr size_t kHeadBytes = 4096;

// TFDS only looks at PetImages/(Cat|Dog)/<digits>.jpg (so not Thumbs.db).
const std::regex kPetImagesName(R"(\d+\.jpg)");

// The folders a dataset's classes may come from, in the order found.
struct ClassFolders {
  std::vector<fs::path> folders;  // relative to the dataset root
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

bool means_cat(const fs::path& folder) {
  const auto name = lowercase(folder.filename().string());
  return name == "cat" || name == "cats";
}

bool means_dog(const fs::path& folder) {
  const auto name = lowercase(folder.filename().string());
  return name == "dog" || name == "dogs";
}

// The PetImages layout is Microsoft's archive as unpacked: DIR/PetImages/{Cat,Dog},
// or DIR itself named PetImages. Literally these names, since only there does
// TFDS's JFIF rule belong; a user's own Cat/ and Dog/ elsewhere are generic folders.
std::optional<ClassFolders> find_class_folders(const fs::path& dir) {
  for (const fs::path& base : {fs::path("PetImages"), fs::path()}) {
    if (base.empty() && dir.filename() != "PetImages") continue;
    if (is_dir(dir / base / "Cat") && is_dir(dir / base / "Dog")) return ClassFolders{{base / "Cat", base / "Dog"}, true};
  }
  ClassFolders found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    std::error_code type_error;  // a looping link is no class folder, and no reason to stop
    if (!entry.is_directory(type_error) || entry.path().filename().string().front() == '.') continue;
    found.folders.push_back(entry.path().filename());
  }
  if (found.folders.size() < 2) return std::nullopt;
  std::sort(found.folders.begin(), found.folders.end());
  const auto cats = std::count_if(found.folders.begin(), found.folders.end(), means_cat);
  const auto dogs = std::count_if(found.folders.begin(), found.folders.end(), means_dog);
  if (cats > 1 || dogs > 1)
    throw Error(dir.string() + " has more than one cat or dog folder (" + std::to_string(cats + dogs) +
                " of cat/cats/dog/dogs in any case); keep one of each");
  return found;
}

// The classes' names: cat and dog for the cats_vs_dogs pair, else the folders' own.
std::vector<std::string> class_names_of(const std::vector<fs::path>& folders, bool petimages) {
  const bool cats_vs_dogs = petimages || (folders.size() == 2 && std::any_of(folders.begin(), folders.end(), means_cat) &&
                                          std::any_of(folders.begin(), folders.end(), means_dog));
  std::vector<std::string> names;
  for (const auto& folder : folders)
    names.push_back(!cats_vs_dogs ? folder.filename().string() : means_cat(folder) ? "cat" : "dog");
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

struct Skip {
  SkipReason reason;
  std::string detail;
};

std::optional<Skip> cheap_check(const fs::path& file, bool jfif_rule, const DecodeLimits& limits) {
  std::vector<unsigned char> head;
  try {
    head = read_file_head(file, kHeadBytes);
  } catch (const UnreadableFile& e) {
    return Skip{SkipReason::Unreadable, e.what()};
  }
  if (head.empty()) return Skip{SkipReason::Empty, ""};
  if (!sniff_image_format(head.data(), head.size())) return Skip{SkipReason::NotAnImage, ""};
  const std::string_view text(reinterpret_cast<const char*>(head.data()), std::min(head.size(), kJfifWindow));
  if (jfif_rule && text.find("JFIF") == std::string_view::npos) return Skip{SkipReason::NoJfifMarker, ""};
  const auto size = declared_dimensions(head.data(), head.size());
  if (size && !limits.allows(*size))
    return Skip{SkipReason::TooLarge, std::to_string(size->width) + "x" + std::to_string(size->height) + " pixels"};
  return std::nullopt;
}

// Every non-folder entry below `folder` (relative to `root`), depth first.
// What cannot be listed or whose type cannot be read goes to `skipped` with
// the system's reason; links to folders are not followed (no loops), links to
// files are. Entries are relative to `root`.
struct FolderListing {
  std::vector<fs::path> files;        // regular files, or links to them
  std::vector<fs::path> not_regular;  // FIFOs, devices, sockets
};

FolderListing list_folder(const fs::path& root, const fs::path& folder, std::vector<SkippedFile>& skipped) {
  FolderListing listing;
  const auto unreadable = [&](const fs::path& path, const std::error_code& error) {
    skipped.push_back({path.generic_string(), SkipReason::Unreadable, (root / path).string() + ": " + error.message()});
  };
  std::vector<fs::path> pending{folder};
  while (!pending.empty()) {
    const fs::path current = pending.back();
    pending.pop_back();
    std::error_code list_error;
    for (fs::directory_iterator it(root / current, list_error), end; it != end; it.increment(list_error)) {
      const fs::path path = current / it->path().filename();
      std::error_code error;
      const auto link = it->symlink_status(error);
      if (!error && fs::is_directory(link)) {
        pending.push_back(path);
        continue;
      }
      const auto target = error ? link : it->status(error);  // follows links: a loop is ELOOP
      if (error)
        unreadable(path, error);
      else if (fs::is_regular_file(target))
        listing.files.push_back(path);
      else if (!fs::is_directory(target))
        listing.not_regular.push_back(path);
    }
    if (list_error) unreadable(current, list_error);
  }
  return listing;
}

// One class folder's files: the images kept, and the rest with why.
struct FolderScan {
  fs::path folder;  // relative to the dataset root
  std::vector<std::string> images;
  std::vector<SkippedFile> skipped;
};

FolderScan scan_folder(const fs::path& dir, const fs::path& folder, bool petimages, const DecodeLimits& limits) {
  FolderScan scan{folder, {}, {}};
  const auto listing = list_folder(dir, folder, scan.skipped);
  const auto ignored = [&](const fs::path& path) {
    const auto in_class = path.lexically_relative(folder);
    const auto name = in_class.filename().string();
    const bool skip = petimages ? in_class.has_parent_path() || !std::regex_match(name, kPetImagesName)
                                : name.front() == '.';  // .DS_Store and the like
    if (skip) spdlog::debug("ignored {}: not a dataset file name", path.generic_string());
    return skip;
  };
  for (const auto& path : listing.not_regular)
    if (!ignored(path)) scan.skipped.push_back({path.generic_string(), SkipReason::NotRegular});
  for (const auto& path : listing.files) {
    if (ignored(path)) continue;
    if (auto skip = cheap_check(dir / path, petimages, limits))
      scan.skipped.push_back({path.generic_string(), skip->reason, std::move(skip->detail)});
    else
      scan.images.push_back(path.generic_string());
  }
  return scan;
}

void log_skipped(const DatasetIndex& index) {
  for (const auto& [reason, count] : index.skipped_by_reason())
    spdlog::info("skipped {} file(s): {} (-v lists them)", count, to_string(reason));
  for (const auto& file : index.skipped) {
    // Unreadable files and folders may need the user's action: always named.
    const auto level = file.reason == SkipReason::Unreadable ? spdlog::level::warn : spdlog::level::debug;
    spdlog::log(level, "skipped {}: {}", file.path, file.detail.empty() ? to_string(file.reason) : file.detail);
  }
}

}  // namespace

bool is_cats_vs_dogs(const std::vector<std::string>& class_names) {
  return class_names == std::vector<std::string>(kClassNames.begin(), kClassNames.end());
}

std::string class_name(const std::vector<std::string>& class_names, int64_t label) {
  return label >= 0 && label < static_cast<int64_t>(class_names.size()) ? class_names[static_cast<size_t>(label)]
                                                                        : std::to_string(label);
}

void require_classes(const std::vector<std::string>& model_classes, const DatasetIndex& data) {
  if (model_classes == data.class_names) return;
  throw Error("the model was trained on classes [" + joined(model_classes) + "] but dataset " + data.root.string() +
              " has [" + joined(data.class_names) + "]: use a dataset with the model's classes");
}

bool has_dataset(const fs::path& dir) { return find_class_folders(dir).has_value(); }

std::string no_dataset_message(const fs::path& dir) {
  return "no dataset in " + (dir / "").string() +
         " (expected one folder per class, two or more: cat/ and dog/, or PetImages/Cat and PetImages/Dog, or "
         "daisy/, rose/, tulip/, ...)";
}

std::vector<std::optional<SkippedFile>> find_undecodable(const fs::path& root, const std::vector<Sample>& samples,
                                                        int threads, const DecodeLimits& limits) {
  std::vector<std::optional<SkippedFile>> undecodable(samples.size());
  parallel_for(samples.size(), threads, [&](size_t, size_t i) {
    try {
      decode_rgb(root / samples[i].path, limits);
    } catch (const Error& e) {
      undecodable[i] = SkippedFile{samples[i].path, skip_reason(e), e.what()};
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
    case SkipReason::TooLarge: return "too large";
    case SkipReason::Unreadable: return "unreadable";
    case SkipReason::NotRegular: return "not a regular file";
  }
  return "unknown";
}

SkipReason skip_reason(const Error& decode_error) {
  if (dynamic_cast<const InputTooLarge*>(&decode_error)) return SkipReason::TooLarge;
  if (dynamic_cast<const UnreadableFile*>(&decode_error)) return SkipReason::Unreadable;
  return SkipReason::Undecodable;
}

std::map<SkipReason, int> DatasetIndex::skipped_by_reason() const {
  std::map<SkipReason, int> counts;
  for (const auto& file : skipped) ++counts[file.reason];
  return counts;
}

DatasetIndex scan_dataset(const fs::path& dir, bool decode_all, int threads, const DecodeLimits& limits,
                          const std::vector<std::string>& only_classes) {
  const auto found = find_class_folders(dir);
  if (!found) throw Error(no_dataset_message(dir));
  DatasetIndex index;
  index.root = dir;
  index.petimages_layout = found->petimages;

  std::vector<FolderScan> scans;
  std::vector<std::string> without_images;
  for (const auto& folder : found->folders) {
    auto scan = scan_folder(dir, folder, index.petimages_layout, limits);
    // Beside two or more classes, a folder without images (weights/, notes/) is no class of its own.
    if (scan.images.empty() && found->folders.size() > 2) {
      spdlog::warn("{}: no images, left out of the classes", (dir / folder).string());
      without_images.push_back(folder.generic_string());
      continue;
    }
    scans.push_back(std::move(scan));
  }
  std::vector<fs::path> folders;
  for (const auto& scan : scans) folders.push_back(scan.folder);
  const auto names = class_names_of(folders, index.petimages_layout);
  if (scans.size() < 2)
    throw Error(dir.string() + " has images in " + std::to_string(scans.size()) + " folder(s) (" + joined(names) +
                "), none in " + joined(without_images) + ": a classifier needs two or more classes, one folder each");

  std::vector<size_t> order(scans.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return names[a] < names[b]; });
  std::vector<std::string> all_names;
  for (size_t i : order) all_names.push_back(names[i]);
  for (const auto& asked : only_classes)
    if (std::find(all_names.begin(), all_names.end(), asked) == all_names.end())
      throw Error("no class '" + asked + "' in " + dir.string() + ": its classes are " + joined(all_names));
  for (size_t i : order) {
    if (!only_classes.empty() && std::find(only_classes.begin(), only_classes.end(), names[i]) == only_classes.end())
      continue;
    // A checkpoint records the names and refuses unprintable ones when it loads.
    if (!is_printable_text(names[i]))
      throw Error("class folder " + escape_text((dir / scans[i].folder).string()) +
                  " has a name that is not printable text: rename it");
    const auto label = static_cast<int64_t>(index.class_names.size());
    index.class_names.push_back(names[i]);
    for (auto& path : scans[i].images) index.samples.push_back({std::move(path), label});
    for (auto& skipped : scans[i].skipped) index.skipped.push_back(std::move(skipped));
  }
  if (index.class_names.size() < 2)
    throw Error("a classifier needs two or more classes; " + dir.string() + " has " + joined(all_names));
  const auto by_path = [](const auto& a, const auto& b) { return a.path < b.path; };
  std::sort(index.samples.begin(), index.samples.end(), by_path);

  if (decode_all) {
    const auto undecodable = find_undecodable(dir, index.samples, threads > 0 ? threads : available_cores(), limits);
    std::vector<Sample> decodable;
    for (size_t i = 0; i < index.samples.size(); ++i) {
      if (undecodable[i])
        index.skipped.push_back(*undecodable[i]);
      else
        decodable.push_back(index.samples[i]);
    }
    index.samples = std::move(decodable);
  }
  std::sort(index.skipped.begin(), index.skipped.end(), by_path);
  spdlog::info("{}: {} images of {} classes ({}){}", dir.string(), index.samples.size(), index.class_names.size(),
               joined(index.class_names), index.petimages_layout ? " (PetImages layout: TFDS's JFIF rule applied)" : "");
  log_skipped(index);
  std::vector<int> per_class(index.class_names.size(), 0);
  for (const auto& sample : index.samples) ++per_class[static_cast<size_t>(sample.label)];
  for (size_t label = 0; label < per_class.size(); ++label)
    if (per_class[label] < kFewImagesPerClass)
      spdlog::warn("class {} has {} usable image(s): too few to learn it from and judge it by (add images, or leave "
                   "the class out)",
                   index.class_names[label], per_class[label]);
  return index;
}


}  // namespace catdog
