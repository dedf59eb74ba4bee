#include "catdog/infer/inference.h"

#include <cmath>
#include <numeric>

#include <torch/torch.h>

namespace catdog {

namespace fs = std::filesystem;

ImageBatches::ImageBatches(const fs::path& root, std::vector<Sample> samples, LoaderOptions options,
                           torch::Device device)
    : loader_(root, std::move(samples), std::move(options)), device_(device) {}

void ImageBatches::for_each_batch(int epoch, const BatchVisitor& visit) {
  loader_.start_epoch(epoch);
  while (auto batch = loader_.next()) {
    if (!visit(batch->images.to(device_), batch->labels.to(device_), batch->indices)) break;
  }
  // A loader stopped early still decodes the rest (into its cache, for the next pass).
  while (loader_.next()) {
  }
}

FeatureBatches::FeatureBatches(torch::Tensor features, torch::Tensor labels, std::vector<bool> usable,
                               int batch_size, bool shuffle, uint64_t seed, int shard_index, int shard_count)
    : features_(std::move(features)),
      labels_(std::move(labels)),
      usable_(std::move(usable)),
      batch_size_(static_cast<size_t>(batch_size)),
      shuffle_(shuffle),
      seed_(seed),
      shard_index_(shard_index),
      shard_count_(shard_count) {}

size_t FeatureBatches::num_batches() const {
  const size_t all_shards = batch_size_ * static_cast<size_t>(shard_count_);
  return (usable_.size() + all_shards - 1) / all_shards;
}

void FeatureBatches::for_each_batch(int epoch, const BatchVisitor& visit) {
  std::vector<size_t> order(usable_.size());
  if (shuffle_)
    order = epoch_order(usable_.size(), seed_, epoch);
  else
    std::iota(order.begin(), order.end(), size_t{0});
  if (shard_count_ > 1) order = shard(order, shard_index_, shard_count_);
  for (size_t batch = 0; batch < num_batches(); ++batch) {
    std::vector<size_t> rows;
    for (size_t i = batch * batch_size_; i < std::min((batch + 1) * batch_size_, order.size()); ++i)
      if (usable_[order[i]]) rows.push_back(order[i]);
    const auto index =
        torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kInt64).to(features_.device());
    if (!visit(features_.index_select(0, index), labels_.index_select(0, index), rows)) return;
  }
}

void run_inference(BatchSource& source, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                   const InferenceVisitor& visit) {
  torch::NoGradGuard no_grad;
  source.for_each_batch(0, [&](const torch::Tensor& inputs, const torch::Tensor& labels,
                               const std::vector<size_t>& indices) {
    return labels.numel() == 0 || visit(forward(inputs), labels, indices);
  });
}

torch::Tensor class_log_probabilities(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                      const torch::Tensor& images, bool tta) {
  if (!tta) return torch::log_softmax(forward(images), 1);
  const int64_t n = images.size(0);
  const torch::Tensor both = torch::log_softmax(forward(torch::cat({images, images.flip({3})})), 1);
  // log((p + q) / 2) = logsumexp(log p, log q) - log 2
  return torch::logsumexp(torch::stack({both.slice(0, 0, n), both.slice(0, n)}), 0) - std::log(2.0);
}

}  // namespace catdog
