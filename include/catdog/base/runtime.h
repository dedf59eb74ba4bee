#pragma once
#include <cstdint>
#include <string>

#include <torch/types.h>

#include "catdog/base/image_format.h"
#include "catdog/base/names.h"
#include "catdog/base/precision.h"

namespace catdog {

// Where models run: auto picks CUDA when this build and machine have it.
enum class DeviceChoice { Auto, Cpu, Cuda };
inline constexpr Named<DeviceChoice> kDeviceNames[] = {
    {DeviceChoice::Auto, "auto"}, {DeviceChoice::Cpu, "cpu"}, {DeviceChoice::Cuda, "cuda"}};

// What the user asked for; configure_runtime validates it.
struct RuntimeOptions {
  DeviceChoice device = DeviceChoice::Auto;
  int threads = 0;              // 0 = all cores
  uint64_t seed = 42;
  Precision precision = Precision::Auto;
  DecodeLimits decode_limits;
};

// The one runtime of a catdog process, built once by the application and
// passed down: every thread pool (loader workers, the dataset scan's
// decoders, predict's decoders) takes its size from `threads`.
struct Runtime {
  torch::Device device{torch::kCPU};
  int threads = 1;
  uint64_t seed = 42;
  Precision precision = Precision::Auto;
  DecodeLimits decode_limits;  // every image decoded: the pixel cap
};

// The most threads a runtime may have: twice the cores this process may use.
// More only adds contention (a thousand threads made a one-image predict
// take over a minute).
int max_threads();

// Validates the options and applies them process-wide: LibTorch's intra-op
// threads, the BLAS threads, the RNG seeds. Throws Error for a thread count
// outside 1..max_threads() or a CUDA device this build cannot reach.
Runtime configure_runtime(const RuntimeOptions& options);

// The runtime of one of `shares` model runs that share this one's threads at
// once (serve's workers): threads / shares each, at least 1, applied to
// LibTorch's and BLAS's pools (more threads than cores spin against each other).
Runtime share_threads(const Runtime& runtime, int shares);
// Gives the calling thread `runtime.threads` for LibTorch's and BLAS's work.
// OpenMP keeps the count per thread: a thread catdog did not set up this way
// (a server's worker) computes with one per core, whatever was set elsewhere.
void use_threads_in_this_thread(const Runtime& runtime);
// The threads each of `shares` processes gets of `threads` (--nproc's ranks).
int threads_per_share(int threads, int shares);

// Number of cores the scheduler lets this process use.
int available_cores();

}  // namespace catdog
