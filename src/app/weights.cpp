// Backbone weights: --weights, else the user's cache, filled on first use.
#include "catdog/app/weights.h"

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "catdog/app/environment.h"
#include "catdog/base/download.h"
#include "catdog/base/error.h"
#include "catdog/base/progress.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMegabyte = 1 << 20;

// The registry's URL, or the same file name under the mirror's prefix.
std::string weights_url(const ModelSpec& spec) {
  std::string mirror = weights_mirror();
  if (mirror.empty()) return spec.weights_url;
  if (mirror.back() != '/') mirror += '/';
  return mirror + spec.keras_weights_file;
}

// The download's bar in steps of a megabyte (of the registry's size).
class DownloadBar {
 public:
  DownloadBar(const ModelSpec& spec, std::FILE* out)
      : total_((spec.weights_bytes + kMegabyte - 1) / kMegabyte),
        bar_(spec.name + " weights", static_cast<size_t>(total_), out, "MB",
             out ? terminal_columns(fileno(out)) : ProgressBar::kDefaultColumns) {}
  void show(int64_t bytes_received) {
    for (; shown_ < std::min(bytes_received / kMegabyte, total_); ++shown_) bar_.advance(1);
  }
  void finish() {
    show(total_ * kMegabyte);
    bar_.finish();
  }

 private:
  int64_t total_, shown_ = 0;
  ProgressBar bar_;
};

}  // namespace

fs::path backbone_weights(const ModelSpec& spec, const std::string& weights_flag, std::FILE* progress) {
  if (!weights_flag.empty()) {
    if (!fs::is_regular_file(weights_flag)) throw Error("--weights " + weights_flag + ": no such file");
    return weights_flag;
  }
  const fs::path dir = weights_cache_dir();
  const fs::path file = dir / spec.keras_weights_file;
  const ExpectedFile expected{spec.weights_bytes, spec.weights_md5};
  if (fs::exists(file)) {
    const std::string mismatch = file_mismatch(file, expected);
    if (!mismatch.empty())
      throw Error(file.string() + " is not Keras' " + spec.name + " ImageNet weight file (" + mismatch +
                  "): delete it to download it again, or pass --weights FILE to use it anyway");
    return file;
  }

  const std::string url = weights_url(spec);
  spdlog::info("downloading {} ImageNet weights from {} into {}", spec.name, url, dir.string());
  std::optional<DownloadBar> bar;
  if (progress) bar.emplace(spec, progress);
  DownloadOptions options;
  if (bar) options.progress = [&](int64_t received, int64_t) { bar->show(received); };
  try {
    download_file(url, file, expected, options);
  } catch (const DownloadMismatch& e) {
    throw Error(std::string(e.what()) + "; pass --weights FILE to train from a Keras no-top .h5 of your own");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; without the network, save " + url + " as " + file.string() +
                ", or pass --weights FILE (a Keras no-top .h5)");
  }
  if (bar) bar->finish();
  return file;
}

}  // namespace catdog::app
