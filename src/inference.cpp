#include "catdog/inference.h"

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
    if (batch->labels.numel() == 0) continue;
    if (!visit(batch->images.to(device_), batch->labels.to(device_), batch->indices)) break;
  }
  // A loader stopped early still decodes the rest (into its cache, for the next pass).
  while (loader_.next()) {
  }
}

FeatureBatches::FeatureBatches(torch::Tensor features, torch::Tensor labels, std::vector<bool> usable,
                               int batch_size, bool shuffle, uint64_t seed)
    : features_(std::move(features)),
      labels_(std::move(labels)),
      usable_(std::move(usable)),
      batch_size_(static_cast<size_t>(batch_size)),
      shuffle_(shuffle),
      seed_(seed) {}

size_t FeatureBatches::num_batches() const { return (usable_.size() + batch_size_ - 1) / batch_size_; }

void FeatureBatches::for_each_batch(int epoch, const BatchVisitor& visit) {
  std::vector<size_t> order(usable_.size());
  if (shuffle_)
    order = epoch_order(usable_.size(), seed_, epoch);
  else
    std::iota(order.begin(), order.end(), size_t{0});
  for (size_t start = 0; start < order.size(); start += batch_size_) {
    std::vector<size_t> rows;
    for (size_t i = start; i < std::min(start + batch_size_, order.size()); ++i)
      if (usable_[order[i]]) rows.push_back(order[i]);
    if (rows.empty()) continue;
    const auto index =
        torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kInt64).to(features_.device());
    if (!visit(features_.index_select(0, index), labels_.index_select(0, index), rows)) return;
  }
}

void run_inference(BatchSource& source, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                   const InferenceVisitor& visit) {
  torch::NoGradGuard no_grad;
  source.for_each_batch(0, [&](const torch::Tensor& inputs, const torch::Tensor& labels,
                               const std::vector<size_t>& indices) { return visit(forward(inputs), labels, indices); });
}

}  // namespace catdog
