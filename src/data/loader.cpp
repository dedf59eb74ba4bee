#include "catdog/data/loader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <numeric>
#include <thread>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/base/runtime.h"
#include "catdog/data/preprocess.h"
#include "catdog/data/split.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

LoaderOptions checked(LoaderOptions options) {
  if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
    throw Error("loader shard " + std::to_string(options.shard_index) + " of " + std::to_string(options.shard_count) +
                " does not exist: the index must be in 0..count-1");
  if (options.augment) check_augmentation(*options.augment);
  check_image_size(options.image_size);
  return options;
}

constexpr size_t kMinPrefetchBatches = 4;

enum class ImageState : uint8_t { NotCached, Cached, Failed };

// MemAvailable from /proc/meminfo: free memory plus what the kernel can reclaim.
size_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kilobytes = 0;
  while (meminfo >> key >> kilobytes)
    if (key == "MemAvailable:") return kilobytes * 1024;
  return static_cast<size_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

std::string format_bytes(size_t bytes) {
  return bytes >= (size_t{1} << 30) ? fmt::format("{:.1f} GB", bytes / double(1 << 30))
                                    : fmt::format("{} MB", (bytes + (1 << 20) - 1) >> 20);
}

// Decoded images, one slot per sample: anonymous memory or a file mapped into
// memory, so both cache kinds are the same plain byte array to the loader.
class ImageCache {
 public:
  ImageCache(CacheMode mode, size_t images, size_t image_bytes, const fs::path& cache_dir)
      : image_bytes_(image_bytes), bytes_(std::max<size_t>(images, 1) * image_bytes) {
    if (mode == CacheMode::Auto)
      mode = bytes_ <= available_memory_bytes() / 2 ? CacheMode::Memory
             : cache_dir.empty()                   ? CacheMode::Off
                                                   : CacheMode::Disk;
    if (mode == CacheMode::Off) return;
    int fd = -1;
    if (mode == CacheMode::Disk) {
      if (cache_dir.empty()) throw Error("the disk cache needs a cache folder; give one, or cache in memory or not at all");
      fs::create_directories(cache_dir);
      // A unique name: several loaders (train, validation) may share the folder.
      std::string name = (cache_dir / "images-XXXXXX.u8").string();
      fd = ::mkstemps(name.data(), 3);
      if (fd < 0)
        throw Error("cannot create an image cache in " + cache_dir.string() + " (" + std::strerror(errno) +
                    "); make the folder writable, or cache in memory or not at all");
      // Taken now, not as pages are first written: a full disk under a shared
      // mapping is a SIGBUS, not an error.
      if (const int error = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes_)); error != 0) {
        ::close(fd);
        ::unlink(name.c_str());
        spdlog::warn("cannot reserve {} for the image cache in {} ({}): decoding every image every epoch instead",
                     format_bytes(bytes_), cache_dir.string(), std::strerror(error));
        return;
      }
      file_ = name;
    }
    // MAP_NORESERVE: pages are only taken as images arrive.
    void* data = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                        fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE : MAP_SHARED, fd, 0);
    if (fd >= 0) ::close(fd);  // the mapping keeps the file open
    if (data == MAP_FAILED)
      throw Error("cannot map " + format_bytes(bytes_) + " for the image cache; cache on disk or not at all");
    data_ = static_cast<uint8_t*>(data);
  }
  ~ImageCache() {
    if (data_ != nullptr) ::munmap(data_, bytes_);
    std::error_code ignored;
    if (!file_.empty()) fs::remove(file_, ignored);  // only valid for this loader's samples
  }
  ImageCache(const ImageCache&) = delete;
  ImageCache& operator=(const ImageCache&) = delete;

  bool enabled() const { return data_ != nullptr; }
  uint8_t* slot(size_t sample) const { return data_ + sample * image_bytes_; }
  std::string description() const {
    if (!enabled()) return "off";
    return file_.empty() ? "memory, " + format_bytes(bytes_) : "disk, " + file_.string();
  }

 private:
  size_t image_bytes_, bytes_;
  uint8_t* data_ = nullptr;
  fs::path file_;
};

// The input tensors of one batch as the workers fill them in.
struct PendingBatch {
  PendingBatch(size_t size, int side)
      : images(torch::empty({static_cast<int64_t>(size), 3, side, side}, torch::kFloat32)),
        ok(size, false),
        remaining(size) {}
  torch::Tensor images;
  std::vector<bool> ok;  // guarded by the loader's mutex
  size_t remaining;
};

}  // namespace

std::vector<size_t> epoch_order(size_t n, uint64_t seed, int epoch) {
  // Golden-ratio step: neighbouring (seed, epoch) pairs get unrelated streams.
  return shuffled_indices(n, seed ^ (static_cast<uint64_t>(epoch) + 1) * 0x9E3779B97F4A7C15ULL);
}

std::vector<size_t> shard(const std::vector<size_t>& order, int index, int count) {
  std::vector<size_t> share;
  share.reserve(order.size() / count + 1);
  for (size_t position = index; position < order.size(); position += count) share.push_back(order[position]);
  return share;
}

// Workers claim positions of the epoch's order one image at a time, at most
// `prefetch_batches` batches ahead of the consumer, and write each image into
// its slot of its batch; next() hands batches out strictly in order, so thread
// timing never changes what a batch holds.
struct BatchLoader::State {
  State(fs::path root_dir, std::vector<Sample> all_samples, LoaderOptions loader_options)
      : root(std::move(root_dir)),
        samples(std::move(all_samples)),
        options(std::move(loader_options)),
        batch_size(static_cast<size_t>(std::max(options.batch_size, 1))),
        num_batches(ceil_div(samples.size(), batch_size * static_cast<size_t>(std::max(options.shard_count, 1)))),
        input_floats(size_t{3} * options.image_size * options.image_size),
        source_side(options.augment ? augment_source_size(options.image_size) : options.image_size),
        source_bytes(size_t{3} * source_side * source_side),
        cache(options.cache, samples.size(), source_bytes, options.cache_dir),
        image_states(samples.size()),
        damage_noted(samples.size(), false) {
    const size_t workers = static_cast<size_t>(options.workers > 0 ? options.workers : available_cores());
    prefetch_batches = std::max(kMinPrefetchBatches, (2 * workers + batch_size - 1) / batch_size);
    for (size_t i = 0; i < workers; ++i) threads.emplace_back([this] { work(); });
  }

  ~State() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    work_ready.notify_all();
    for (auto& thread : threads) thread.join();
  }

  size_t claim_limit() const { return std::min(order.size(), (consumed + prefetch_batches) * batch_size); }

  void work() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_ready.wait(lock, [&] { return stopping || claimed < claim_limit(); });
      if (stopping) return;
      const size_t position = claimed++;
      auto& batch = pending[position / batch_size];
      if (!batch)
        batch = std::make_shared<PendingBatch>(std::min(batch_size, order.size() - position), options.image_size);
      const auto target = batch;
      const size_t sample = order[position], slot = position % batch_size;
      const int image_epoch = epoch;
      ++in_flight;
      lock.unlock();
      const bool ok = load_image(sample, image_epoch, target->images.data_ptr<float>() + slot * input_floats);
      lock.lock();
      --in_flight;
      target->ok[slot] = ok;
      if (--target->remaining == 0 || in_flight == 0) progress.notify_all();
    }
  }

  // Cache hit, or decode + resize (and fill the cache); then the input planes,
  // augmented when asked. Failures are final.
  bool load_image(size_t sample, int image_epoch, float* out) {
    auto& state = image_states[sample];
    const auto known = state.load(std::memory_order_acquire);
    if (known == ImageState::Failed) return false;
    if (known == ImageState::Cached) {
      write_input(cv::Mat(source_side, source_side, CV_8UC3, cache.slot(sample)), sample, image_epoch, out);
      return true;
    }
    try {
      DecodedImage decoded = decode_image(root / samples[sample].path, options.decode_limits);
      if (!decoded.damage.empty()) note_damage(sample, decoded.damage);
      const cv::Mat source = resize_square(decoded.rgb, source_side);
      write_input(source, sample, image_epoch, out);
      if (cache.enabled()) {  // a fresh square 3-channel Mat is continuous
        std::memcpy(cache.slot(sample), source.data, source_bytes);
        state.store(ImageState::Cached, std::memory_order_release);
      }
      return true;
    } catch (const Error& e) {
      fail(sample, skip_reason(e), e.what());
      return false;
    } catch (const std::exception& e) {  // anything else must not end the worker either
      fail(sample, SkipReason::Undecodable, e.what());
      return false;
    }
  }

  void write_input(const cv::Mat& source, size_t sample, int image_epoch, float* out) const {
    if (options.augment)
      write_input_planes(
          augment_image(source, draw_augmentation(*options.augment, source_side, options.seed, image_epoch, sample),
                        options.image_size),
          out);
    else
      write_input_planes(source, out);
  }

  // Once per file, whatever the epochs (without a cache each decodes it again).
  void note_damage(size_t sample, const std::string& damage) {
    std::lock_guard<std::mutex> lock(mutex);
    if (damage_noted[sample]) return;
    damage_noted[sample] = true;
    spdlog::debug("{}: damaged, decoded in part ({})", (root / samples[sample].path).string(), damage);
    damaged.push_back({samples[sample].path, damage});
  }

  void fail(size_t sample, SkipReason reason, const std::string& message) {
    image_states[sample].store(ImageState::Failed, std::memory_order_release);
    spdlog::warn("skipping {}", message);
    std::lock_guard<std::mutex> lock(mutex);
    failures.push_back({samples[sample].path, reason, message});
  }

  Batch assemble(size_t batch_index, const PendingBatch& ready) const {
    std::vector<int64_t> rows, labels;
    Batch batch;
    for (size_t slot = 0; slot < ready.ok.size(); ++slot) {
      if (!ready.ok[slot]) continue;
      const size_t sample = order[batch_index * batch_size + slot];
      rows.push_back(static_cast<int64_t>(slot));
      labels.push_back(samples[sample].label);
      batch.indices.push_back(sample);
    }
    const bool complete = rows.size() == ready.ok.size();
    batch.images = complete ? ready.images : ready.images.index_select(0, torch::tensor(rows));
    batch.labels = torch::tensor(labels, torch::kInt64);
    return batch;
  }

  const fs::path root;
  const std::vector<Sample> samples;
  const LoaderOptions options;
  const size_t batch_size, num_batches;
  const size_t input_floats;  // of one image's input tensor
  const int source_side;      // of the images decoded, cached and augmented or not
  const size_t source_bytes;  // of one of them
  size_t prefetch_batches = kMinPrefetchBatches;
  ImageCache cache;
  std::vector<std::atomic<ImageState>> image_states;

  mutable std::mutex mutex;
  std::condition_variable work_ready, progress;
  std::vector<size_t> order;  // this epoch's sample order; empty before the first epoch
  int epoch = 0;
  std::vector<std::shared_ptr<PendingBatch>> pending;  // per batch of the epoch, while in flight
  size_t claimed = 0, consumed = 0, in_flight = 0;
  bool stopping = false;
  std::vector<SkippedFile> failures;
  std::vector<DamagedFile> damaged;
  std::vector<bool> damage_noted;    // per sample
  std::vector<std::thread> threads;  // last: started once everything above exists
};

BatchLoader::BatchLoader(fs::path root, std::vector<Sample> samples, LoaderOptions options)
    : state_(std::make_unique<State>(std::move(root), std::move(samples), checked(std::move(options)))) {}

BatchLoader::~BatchLoader() = default;

const std::vector<Sample>& BatchLoader::samples() const { return state_->samples; }

size_t BatchLoader::num_batches() const { return state_->num_batches; }

void BatchLoader::start_epoch(int epoch) {
  auto& s = *state_;
  std::vector<size_t> order(s.samples.size());
  if (s.options.shuffle)
    order = epoch_order(order.size(), s.options.seed, epoch);
  else
    std::iota(order.begin(), order.end(), size_t{0});
  if (s.options.shard_count > 1) order = shard(order, s.options.shard_index, s.options.shard_count);
  {
    std::unique_lock<std::mutex> lock(s.mutex);
    s.claimed = s.order.size();  // an unfinished epoch: no new claims, let the running ones end
    s.progress.wait(lock, [&] { return s.in_flight == 0; });
    s.order = std::move(order);
    s.epoch = epoch;
    s.pending.assign(s.num_batches, nullptr);
    s.claimed = s.consumed = 0;
  }
  s.work_ready.notify_all();
}

std::optional<Batch> BatchLoader::next() {
  auto& s = *state_;
  std::shared_ptr<PendingBatch> ready;
  size_t batch_index = 0;
  {
    std::unique_lock<std::mutex> lock(s.mutex);
    if (s.consumed >= s.pending.size()) return std::nullopt;
    batch_index = s.consumed;
    if (batch_index * s.batch_size >= s.order.size()) {  // past the end of a short shard
      ++s.consumed;
      const int side = s.options.image_size;
      return Batch{torch::empty({0, 3, side, side}), torch::empty({0}, torch::kInt64), {}};
    }
    s.progress.wait(lock, [&] { return s.pending[batch_index] && s.pending[batch_index]->remaining == 0; });
    ready = std::move(s.pending[batch_index]);
    ++s.consumed;
  }
  s.work_ready.notify_all();
  return s.assemble(batch_index, *ready);
}

std::vector<SkippedFile> BatchLoader::failures() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->failures;
}

std::vector<DamagedFile> BatchLoader::damaged() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->damaged;
}

std::string BatchLoader::cache_description() const { return state_->cache.description(); }

}  // namespace catdog
