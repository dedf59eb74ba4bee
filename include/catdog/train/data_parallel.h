// Data-parallel training over a ProcessGroup: the same start everywhere,
// gradient averaging in buckets, per-rank shards, metric reduction.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "catdog/infer/metrics.h"
#include "catdog/train/process_group.h"

namespace catdog {

// Makes every rank's parameters rank 0's (as DDP does at construction).
void broadcast_parameters(ProcessGroup& group, const std::vector<torch::Tensor>& parameters);

// Averages gradients over all ranks after backward, weighted by each rank's
// number of samples, so N ranks with their shares of a batch compute the
// gradient of the whole batch's mean loss: the same as one process on it.
// Gradients are packed into flat buckets of about `bucket_bytes` (DDP's
// 25 MB default), one all-reduce per bucket.
class GradientAverager {
 public:
  GradientAverager(ProcessGroup& group, std::vector<torch::Tensor> parameters,
                   int64_t bucket_bytes = 25 * 1024 * 1024);
  // `local_samples` is the number of samples behind this rank's gradients
  // (0 for a rank without any in the last batch: its gradients count as zero).
  void average(int64_t local_samples);
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // What each rank contributes to the all-reduces of one step.
  int64_t bytes_per_step() const;
  ProcessGroup& group() const { return group_; }

 private:
  struct Bucket {
    std::vector<size_t> parameters;  // indices into parameters_
    torch::Tensor flat;              // the gradients end to end; the last bucket also carries the sample count
  };
  ProcessGroup& group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<Bucket> buckets_;
};

// Each rank trains on shard(order, rank, N) of every epoch's order (loader.h:
// strided, nothing padded or dropped), so the k-th batches of all ranks with
// per-rank batch B are exactly the k-th batch of size N*B: training matches one
// process with batch N*B. Every rank takes the same number of steps per epoch
// (a rank whose share has run out joins the last ones with an empty batch,
// as a sharded BatchLoader yields):
int64_t steps_per_epoch(size_t num_samples, int batch_size, int world_size);

// Sums each rank's confusion counts: every rank then holds the whole split's.
ConfusionMatrix all_reduce(ProcessGroup& group, const ConfusionMatrix& local);
// Sums values (loss sums, counts) over ranks, in double precision.
std::vector<double> all_reduce_sum(ProcessGroup& group, const std::vector<double>& local);

// Rebuilds all n rows from each rank's shard(identity order) rows: rank r
// computed rows r, r+N, ...; every rank gets all n in order (the frozen
// backbone's feature cache).
torch::Tensor gather_shards(ProcessGroup& group, const torch::Tensor& local_rows, size_t n);

}  // namespace catdog
