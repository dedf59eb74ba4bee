#include "catdog/train/data_parallel.h"

#include <torch/torch.h>

#include "catdog/base/error.h"

namespace catdog {

void broadcast_parameters(ProcessGroup& group, const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  for (auto parameter : parameters) group.broadcast(parameter, 0);
}

GradientAverager::GradientAverager(ProcessGroup& group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
    : group_(group), parameters_(std::move(parameters)) {
  // Buckets in reverse parameter order, as DDP: the order backward produces gradients.
  int64_t bucket_elements = 0;
  for (size_t i = parameters_.size(); i-- > 0;) {
    const auto& parameter = parameters_[i];
    if (buckets_.empty() || bucket_elements * parameter.element_size() >= bucket_bytes) {
      buckets_.emplace_back();
      bucket_elements = 0;
    }
    buckets_.back().parameters.push_back(i);
    bucket_elements += parameter.numel();
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t elements = b + 1 == buckets_.size() ? 1 : 0;  // + the sample count
    for (const size_t i : buckets_[b].parameters) elements += parameters_[i].numel();
    buckets_[b].flat = torch::empty({elements}, parameters_.front().options().requires_grad(false));
  }
}

int64_t GradientAverager::bytes_per_step() const {
  int64_t bytes = 0;
  for (const auto& bucket : buckets_) bytes += bucket.flat.numel() * static_cast<int64_t>(bucket.flat.element_size());
  return bytes;
}

void GradientAverager::average(int64_t local_samples) {
  torch::NoGradGuard no_grad;
  for (auto& bucket : buckets_) {
    int64_t offset = 0;
    for (const size_t i : bucket.parameters) {
      const auto& parameter = parameters_[i];
      auto slot = bucket.flat.narrow(0, offset, parameter.numel());
      const auto& grad = parameter.grad();
      // Each rank's gradient is its mean over its samples: weighting by the
      // count makes the sum over ranks the sum over the whole batch.
      if (grad.defined() && local_samples > 0)
        torch::mul_out(slot, grad.reshape({-1}), static_cast<double>(local_samples));
      else
        slot.zero_();
      offset += parameter.numel();
    }
    if (&bucket == &buckets_.back()) bucket.flat[offset] = static_cast<double>(local_samples);
    group_.all_reduce_sum(bucket.flat);
  }
  const double total = buckets_.back().flat[-1].item<double>();
  if (total <= 0) throw Error("gradient averaging: no rank had any samples in this step");
  for (auto& bucket : buckets_) {
    int64_t offset = 0;
    for (const size_t i : bucket.parameters) {
      auto& parameter = parameters_[i];
      auto averaged = bucket.flat.narrow(0, offset, parameter.numel()).view(parameter.sizes()) / total;
      if (parameter.grad().defined())
        parameter.mutable_grad().copy_(averaged);
      else
        parameter.mutable_grad() = averaged;
      offset += parameter.numel();
    }
  }
}

int64_t steps_per_epoch(size_t num_samples, int batch_size, int world_size) {
  const auto global_batch = static_cast<size_t>(batch_size) * world_size;
  return static_cast<int64_t>((num_samples + global_batch - 1) / global_batch);
}

std::vector<double> all_reduce_sum(ProcessGroup& group, const std::vector<double>& local) {
  auto values = torch::tensor(local, torch::kFloat64);
  group.all_reduce_sum(values);
  return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

ConfusionMatrix all_reduce(ProcessGroup& group, const ConfusionMatrix& local) {
  const int classes = local.num_classes();
  auto counts = torch::empty({classes, classes}, torch::kInt64);
  for (int truth = 0; truth < classes; ++truth)
    for (int predicted = 0; predicted < classes; ++predicted) counts[truth][predicted] = local.count(truth, predicted);
  group.all_reduce_sum(counts);
  ConfusionMatrix total(classes);
  const auto sums = counts.accessor<int64_t, 2>();
  for (int truth = 0; truth < classes; ++truth)
    for (int predicted = 0; predicted < classes; ++predicted)
      for (int64_t i = 0; i < sums[truth][predicted]; ++i) total.add(truth, predicted);
  return total;
}

torch::Tensor gather_shards(ProcessGroup& group, const torch::Tensor& local_rows, size_t n) {
  const int ranks = group.world_size();
  const int64_t rows_per_rank = static_cast<int64_t>((n + ranks - 1) / ranks);
  // Collectives need equal shapes: pad every share to the largest one.
  auto sizes = local_rows.sizes().vec();
  sizes[0] = rows_per_rank;
  auto padded = torch::zeros(sizes, local_rows.options());
  padded.narrow(0, 0, local_rows.size(0)).copy_(local_rows);
  const auto gathered = group.all_gather(padded);  // ranks x rows_per_rank x ...
  // Row position p came from rank p % N, its (p / N)-th row: interleave the shares.
  return gathered.transpose(0, 1).reshape([&] {
           auto all = sizes;
           all[0] = rows_per_rank * ranks;
           return all;
         }())
      .narrow(0, 0, static_cast<int64_t>(n))
      .contiguous();
}

}  // namespace catdog
