#pragma once
#include <cstdint>
#include <string>

#include <torch/types.h>

namespace catdog {

// Settings every subcommand shares (--device, --threads, --seed).
struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda
  int threads = 0;              // 0 = all cores
  uint64_t seed = 42;
};

// Applies the options process-wide: LibTorch's intra-op threads (which start
// at one here unless told), the BLAS threads, the RNG seeds. Returns the
// device to run on; asking for cuda without one is an Error.
torch::Device configure_runtime(const RuntimeOptions& options);

// Number of cores the scheduler lets this process use.
int available_cores();

}  // namespace catdog
