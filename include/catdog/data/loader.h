#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "catdog/base/image_format.h"
#include "catdog/base/names.h"
#include "catdog/data/augment.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"

namespace catdog {

// Where decoded images are kept after their first decode: input-size squares,
// or the larger ones augmentation cuts from (augment_source_size). A cache
// belongs to one loader, so to one input size.
enum class CacheMode {
  Auto,    // memory when it fits in half the free RAM, else disk
  Memory,
  Disk,    // one raw file under LoaderOptions::cache_dir, its space reserved up
           // front: when the disk has too little, a warning and no cache
  Off,     // decode every time
};
inline constexpr Named<CacheMode> kCacheModeNames[] = {
    {CacheMode::Auto, "auto"}, {CacheMode::Memory, "memory"}, {CacheMode::Disk, "disk"}, {CacheMode::Off, "off"}};
inline CacheMode parse_cache_mode(const std::string& name) { return parse_named(kCacheModeNames, name, "cache"); }
inline const char* to_string(CacheMode mode) { return name_of(kCacheModeNames, mode); }

struct LoaderOptions {
  int image_size = kDefaultImageSize;  // the input side (preprocess.h): the model's
  int batch_size = 32;
  bool shuffle = false;  // a fresh permutation every epoch, seeded by (seed, epoch)
  uint64_t seed = 0;
  int workers = 0;       // decoding threads; 0 = all cores
  CacheMode cache = CacheMode::Auto;
  std::filesystem::path cache_dir;  // needed for Disk (and Auto when memory is short)
  DecodeLimits decode_limits;       // a file over them is a failure (SkipReason::TooLarge)
  // Distributed training: this rank's strided share (positions shard_index,
  // shard_index + shard_count, ...) of every epoch's order. All shards have
  // the same num_batches(), so ranks step together; a short shard's last
  // batches are empty.
  int shard_index = 0;
  int shard_count = 1;
  // Set: every image is augmented afresh every epoch (augment.h), drawn from
  // (seed, epoch, its index in the samples), so batches do not depend on the
  // number of workers. For training only.
  std::optional<Augmentation> augment;
};

// The order a shuffling BatchLoader visits its n samples in epoch `epoch`
// (0-based): a permutation that depends on (seed, epoch) only. Exposed so the
// trainer's cached-feature path forms exactly the same batches.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, int epoch);

// Share `index` of `count` of an order: positions index, index + count, ...
// (strided, as PyTorch's DistributedSampler, but nothing padded or dropped:
// the first n % count shares hold one sample more).
std::vector<size_t> shard(const std::vector<size_t>& order, int index, int count);

struct Batch {
  torch::Tensor images;         // N x 3 x S x S (S: the image size) float32 in [-1, 1], augmented when asked
  torch::Tensor labels;         // N int64
  std::vector<size_t> indices;  // positions of the batch's images in the loader's samples
};

// A file the decoder read in part (relative to the dataset root), and its words.
struct DamagedFile {
  std::string path;
  std::string damage;
};

// Batches of preprocessed images, decoded on worker threads ahead of the
// consumer. A file that fails to decode is left out of its batch (so a batch
// may be short), logged once, and listed by failures() with its reason
// (undecodable, too large, unreadable); it never stops a run.
class BatchLoader {
 public:
  BatchLoader(std::filesystem::path root, std::vector<Sample> samples, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  const std::vector<Sample>& samples() const;
  size_t num_batches() const;

  // Starts epoch `epoch` (0-based); then call next() until it returns nullopt.
  void start_epoch(int epoch);
  std::optional<Batch> next();

  std::vector<SkippedFile> failures() const;
  // Files that decoded with damage (preprocess.h's DecodedImage::damage: a
  // JPEG cut short), each once, with the decoder's words; they are used.
  std::vector<DamagedFile> damaged() const;
  // "memory, 1.8 GB", "disk, runs/x/cache/images.u8" or "off": for the log.
  // Augmenting, it holds augment_source_size squares: 1.44 times the bytes.
  std::string cache_description() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace catdog
