// Data pipeline throughput: BatchLoader over a folder, batch 32, shuffled, a
// memory cache. Prints images/s of the first epoch (every image decoded) and
// of the second (all from the cache) as one line of JSON. `augment`: with the
// recipe's training augmentation (augment.h).
//   bench_data_pipeline DIR THREADS [augment]
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "catdog/base/runtime.h"
#include "catdog/data/dataset.h"
#include "catdog/data/loader.h"

namespace {

// Images per second of one epoch; the checksum keeps every batch alive to the end.
double epoch_rate(catdog::BatchLoader& loader, int epoch, double& checksum) {
  const auto start = std::chrono::steady_clock::now();
  size_t images = 0;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) {
    images += batch->indices.size();
    checksum += batch->images[0][0][0][0].item<float>();
  }
  return images / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const bool augment = argc == 4 && std::string(argv[3]) == "augment";
  if (argc != 3 && !augment) {
    std::cerr << "usage: " << argv[0] << " DIR THREADS [augment]\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  catdog::RuntimeOptions runtime;
  runtime.threads = std::atoi(argv[2]);
  catdog::configure_runtime(runtime);

  const auto index = catdog::scan_dataset(argv[1]);
  catdog::LoaderOptions options;
  options.batch_size = 32;
  options.shuffle = true;
  options.seed = 1;
  options.workers = runtime.threads;
  options.cache = catdog::CacheMode::Memory;
  if (augment) options.augment = catdog::Augmentation{};
  catdog::BatchLoader loader(index.root, index.samples, options);
  double checksum = 0;
  const double uncached = epoch_rate(loader, 0, checksum);
  const double cached = epoch_rate(loader, 1, checksum);
  std::cout << "{\"images\": " << index.samples.size() << ", \"augment\": " << (augment ? "true" : "false")
            << ", \"uncached_img_s\": " << uncached
            << ", \"cached_img_s\": " << cached << ", \"checksum\": " << checksum << "}\n";
  return 0;
}
