#pragma once
#include <cstdint>
#include <string>

#include <torch/types.h>

#include "catdog/precision.h"

namespace catdog {

// What the user asked for; configure_runtime validates it.
struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda
  int threads = 0;              // 0 = all cores
  uint64_t seed = 42;
  Precision precision = Precision::Auto;
};

// The one runtime of a catdog process, built once by the application and
// passed down: every thread pool (loader workers, the dataset scan's
// decoders, predict's decoders) takes its size from `threads`.
struct Runtime {
  torch::Device device{torch::kCPU};
  int threads = 1;
  uint64_t seed = 42;
  Precision precision = Precision::Auto;
};

// The most threads a runtime may have: twice the cores this process may use.
// More only adds contention (a thousand threads made a one-image predict
// take over a minute).
int max_threads();

// Validates the options and applies them process-wide: LibTorch's intra-op
// threads, the BLAS threads, the RNG seeds. Throws Error for a thread count
// outside 1..max_threads() or a CUDA device this build cannot reach.
Runtime configure_runtime(const RuntimeOptions& options);

// Number of cores the scheduler lets this process use.
int available_cores();

}  // namespace catdog
