#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "catdog/data/loader.h"

namespace catdog {

// inputs (images or backbone features) and labels on the model's device, and
// the positions of the batch's samples in the source's sample list.
// Returns false to stop early.
using BatchVisitor =
    std::function<bool(const torch::Tensor& inputs, const torch::Tensor& labels, const std::vector<size_t>& indices)>;

// The batches of one split, from images or from precomputed backbone
// features. A batch may be empty (all its files failed to decode, or a
// rank's share ran out): every batch is visited, so that data-parallel ranks
// step together.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual size_t num_batches() const = 0;
  // True when inputs are backbone features (ClassifierImpl::classify), false
  // for images (forward).
  virtual bool yields_features() const = 0;
  // Every batch of `epoch` (0-based) in the loader's order.
  virtual void for_each_batch(int epoch, const BatchVisitor& visit) = 0;
};

// Decoded images from a BatchLoader, moved to `device`. Files that fail to
// decode are left out of their batch (see failures()).
class ImageBatches : public BatchSource {
 public:
  ImageBatches(const std::filesystem::path& root, std::vector<Sample> samples, LoaderOptions options,
               torch::Device device);
  size_t num_batches() const override { return loader_.num_batches(); }
  bool yields_features() const override { return false; }
  void for_each_batch(int epoch, const BatchVisitor& visit) override;
  std::vector<SkippedFile> failures() const { return loader_.failures(); }
  std::vector<DamagedFile> damaged() const { return loader_.damaged(); }
  std::string cache_description() const { return loader_.cache_description(); }

 private:
  BatchLoader loader_;
  torch::Device device_;
};

// Rows of a feature matrix (one per sample), batched in the same per-epoch
// order as BatchLoader's, leaving out the samples that are not `usable`;
// with shard_count > 1 only share shard_index of each epoch's order, as a
// sharded BatchLoader does.
class FeatureBatches : public BatchSource {
 public:
  FeatureBatches(torch::Tensor features, torch::Tensor labels, std::vector<bool> usable, int batch_size,
                 bool shuffle, uint64_t seed, int shard_index = 0, int shard_count = 1);
  size_t num_batches() const override;
  bool yields_features() const override { return true; }
  void for_each_batch(int epoch, const BatchVisitor& visit) override;

 private:
  torch::Tensor features_, labels_;
  std::vector<bool> usable_;
  size_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  int shard_index_, shard_count_;
};

// outputs = forward(inputs) of one batch; return false to stop early.
using InferenceVisitor =
    std::function<bool(const torch::Tensor& outputs, const torch::Tensor& labels, const std::vector<size_t>& indices)>;

// The one inference loop of catdog: evaluation, the trainer's validation and
// the backbone feature extraction all run through it. Runs `forward` without
// gradients over the non-empty batches of `source` in order (epoch 0). Putting the
// model in eval mode is the caller's.
void run_inference(BatchSource& source, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                   const InferenceVisitor& visit);

// The log class probabilities of a batch of images (N x 3 x H x W) by a model
// whose `forward` gives logits: log_softmax, or with test-time augmentation
// (`tta`) the log of the mean of the softmax of each image and of its
// horizontal mirror image (one forward of both, 2N images). Logs, so that
// eval's loss stays exact where a probability is tiny; evaluation and
// prediction both use this.
torch::Tensor class_log_probabilities(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                      const torch::Tensor& images, bool tta);

}  // namespace catdog
