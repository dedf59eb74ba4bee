#include "catdog/store/feature_cache.h"

#include <sstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "catdog/base/text.h"
#include "catdog/data/preprocess.h"
#include "catdog/store/zip_check.h"

namespace catdog {

namespace fs = std::filesystem;

std::optional<CachedFeatures> read_feature_cache(const fs::path& file, const FeatureCacheKey& key) {
  if (file.empty() || !fs::is_regular_file(file)) return std::nullopt;
  try {
    torch::serialize::InputArchive archive;
    if (const auto zip = load_checked_archive(file, archive); !zip.problem.empty()) {
      spdlog::warn("ignoring corrupt feature cache {}: {}", file.string(), zip.problem);
      return std::nullopt;
    }
    c10::IValue stored_fingerprint, stored_kind, stored_size;
    torch::Tensor features, usable;
    archive.read("fingerprint", stored_fingerprint);
    archive.read("kind", stored_kind);
    // A cache from before sizes were recorded was made at the seed's 160 px.
    const bool sized = archive.try_read("image_size", stored_size);
    const int64_t image_size = sized ? stored_size.toInt() : int64_t{kDefaultImageSize};
    if (stored_fingerprint.toStringRef() != key.fingerprint || stored_kind.toStringRef() != model_name(key.kind) ||
        image_size != key.image_size)
      return std::nullopt;
    archive.read("features", features, /*is_buffer=*/true);
    archive.read("usable", usable, /*is_buffer=*/true);
    const auto flags = usable.to(torch::kBool).contiguous();
    const bool* data = flags.data_ptr<bool>();
    return CachedFeatures{features, std::vector<bool>(data, data + flags.numel())};
  } catch (const std::exception& e) {  // c10::Error, a bad pickle's runtime_error, an unreadable file
    spdlog::warn("ignoring unreadable feature cache {}: {}", file.string(), first_line(e.what()));
    return std::nullopt;
  }
}

void write_feature_cache(const fs::path& file, const FeatureCacheKey& key, const CachedFeatures& cached) {
  std::vector<uint8_t> flags(cached.usable.begin(), cached.usable.end());
  torch::serialize::OutputArchive archive;
  archive.write("fingerprint", c10::IValue(key.fingerprint));
  archive.write("kind", c10::IValue(model_name(key.kind)));
  archive.write("image_size", c10::IValue(static_cast<int64_t>(key.image_size)));
  archive.write("features", cached.features, /*is_buffer=*/true);
  archive.write("usable", torch::tensor(flags, torch::kUInt8), /*is_buffer=*/true);
  std::ostringstream bytes;
  archive.save_to(bytes);
  fs::create_directories(file.parent_path());
  write_file_atomically(file, bytes.str());
}

}  // namespace catdog
