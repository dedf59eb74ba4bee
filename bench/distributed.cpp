// Data-parallel cost on one machine: the scratch training step and the
// frozen-backbone feature pass, as one process or as N local ranks (started by
// launch_local through this same executable), with the time spent in c10d
// collectives and the bytes each rank contributes per step.
//   bench_distributed DATA IMAGES BATCH_PER_RANK THREADS_PER_RANK NPROC [WEIGHTS_H5]
// Rank 0 prints one line per measurement (bench/distributed_bench.sh runs it).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "catdog/app/launch.h"
#include "catdog/base/error.h"
#include "catdog/base/runtime.h"
#include "catdog/data/dataset.h"
#include "catdog/data/loader.h"
#include "catdog/data/split.h"
#include "catdog/models/classifier.h"
#include "catdog/train/data_parallel.h"
#include "catdog/train/optimizer.h"

using namespace catdog;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Seconds and communication of one timed pass, maxed over ranks (the slowest rank sets the pace).
struct Timing {
  double seconds = 0, communication = 0;
  int64_t bytes = 0;
};

Timing slowest(ProcessGroup* group, Timing local) {
  if (!group) return local;
  const auto values = torch::tensor({local.seconds, local.communication, static_cast<double>(local.bytes)},
                                    torch::kFloat64);
  const auto max = std::get<0>(group->all_gather(values).max(0));
  return {max[0].item<double>(), max[1].item<double>(), static_cast<int64_t>(max[2].item<double>())};
}

int run_rank(const std::string& data, size_t images, int batch, int threads, const std::string& weights) {
  RuntimeOptions runtime;
  runtime.threads = threads;
  configure_runtime(runtime);
  const auto launch = detect_launch();
  std::optional<ProcessGroup> group;
  if (launch) group.emplace(*launch, torch::kCPU);
  ProcessGroup* group_ptr = group ? &*group : nullptr;
  const int rank = group ? group->rank() : 0, ranks = group ? group->world_size() : 1;

  const auto index = scan_dataset(data);
  auto samples = split_dataset(index.samples).train;
  samples.resize(std::min(images, samples.size()));

  // Scratch: one warm-up epoch fills the decoded-image cache, the second is timed.
  LoaderOptions options;
  options.batch_size = batch;
  options.shuffle = true;
  options.cache = CacheMode::Memory;
  options.workers = threads;
  options.shard_index = rank;
  options.shard_count = ranks;
  BatchLoader loader(index.root, samples, options);
  loader.start_epoch(0);
  while (loader.next()) {
  }
  torch::manual_seed(1);
  Classifier model(ModelKind::Scratch);
  const auto parameters = model->trainable_parameters();
  std::optional<GradientAverager> averager;
  if (group) {
    broadcast_parameters(*group, parameters);
    averager.emplace(*group, parameters);
  }
  KerasRMSprop optimizer(parameters, 1e-4);
  const double communication_before = group ? group->communication_seconds() : 0;
  const int64_t bytes_before = group ? group->communicated_bytes() : 0;
  const auto start = Clock::now();
  loader.start_epoch(1);
  int64_t steps = 0;
  while (auto next = loader.next()) {
    optimizer.zero_grad();
    if (next->labels.numel() > 0)
      torch::nn::functional::cross_entropy(model->forward(next->images), next->labels).backward();
    if (averager) averager->average(next->labels.numel());
    optimizer.step();
    ++steps;
  }
  Timing scratch{seconds_since(start), group ? group->communication_seconds() - communication_before : 0,
                 group ? (group->communicated_bytes() - bytes_before) / std::max<int64_t>(steps, 1) : 0};
  scratch = slowest(group_ptr, scratch);
  int64_t weight_bytes = 0;
  for (const auto& parameter : parameters) weight_bytes += parameter.numel() * parameter.element_size();
  if (rank == 0)
    std::printf("scratch ranks %d x threads %d, batch %d per rank: %zu images, %lld steps, %.2f s "
                "(%.1f img/s), communication %.2f s (%.1f%%), %.1f MB per step per rank (weights %.1f MB, %lld buckets)\n",
                ranks, threads, batch, samples.size(), static_cast<long long>(steps), scratch.seconds,
                samples.size() / scratch.seconds, scratch.communication,
                100 * scratch.communication / scratch.seconds, scratch.bytes / 1e6, weight_bytes / 1e6,
                static_cast<long long>(averager ? averager->num_buckets() : 0));

  if (weights.empty()) return 0;
  // Frozen backbone: each rank's share of the images' features, then all of them everywhere.
  Classifier transfer(ModelKind::MobileNetV2);
  transfer->load_backbone_weights(weights);
  transfer->eval();
  LoaderOptions feature_options;
  feature_options.batch_size = 64;
  feature_options.cache = CacheMode::Off;
  feature_options.workers = threads;
  feature_options.shard_index = rank;
  feature_options.shard_count = ranks;
  BatchLoader feature_loader(index.root, samples, feature_options);
  torch::NoGradGuard no_grad;
  const double gather_before = group ? group->communication_seconds() : 0;
  const auto feature_start = Clock::now();
  std::vector<torch::Tensor> parts;
  feature_loader.start_epoch(0);
  while (auto next = feature_loader.next())
    if (next->labels.numel() > 0) parts.push_back(transfer->features(next->images));
  auto features = torch::cat(parts);
  if (group) features = gather_shards(*group, features, samples.size());
  Timing pass{seconds_since(feature_start), group ? group->communication_seconds() - gather_before : 0,
              features.numel() * 4 / ranks};
  pass = slowest(group_ptr, pass);
  if (rank == 0)
    std::printf("mobilenetv2 features ranks %d x threads %d: %lld x %lld features in %.2f s (%.1f img/s), "
                "all-gather %.3f s\n",
                ranks, threads, static_cast<long long>(features.size(0)), static_cast<long long>(features.size(1)),
                pass.seconds, samples.size() / pass.seconds, pass.communication);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: bench_distributed DATA IMAGES BATCH_PER_RANK THREADS_PER_RANK NPROC [WEIGHTS_H5]\n";
    return 2;
  }
  try {
    const int nproc = std::atoi(argv[5]);
    if (nproc > 1 && !process_environment("RANK")) {
      std::vector<std::string> command{"/proc/self/exe"};
      for (int i = 1; i < argc; ++i) command.push_back(argv[i]);
      return catdog::app::launch_local(nproc, command);
    }
    return run_rank(argv[1], std::stoul(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), argc > 6 ? argv[6] : "");
  } catch (const std::exception& error) {
    std::cerr << "bench_distributed: " << first_line(error.what()) << "\n";
    return 1;
  }
}
