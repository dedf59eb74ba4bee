#include "catdog/base/runtime.h"

#include <dlfcn.h>
#include <sched.h>

#include <thread>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/base/error.h"

namespace catdog {

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

int max_threads() { return 2 * available_cores(); }

namespace {

// LibTorch reaches BLAS through libblas.so.3; when that is OpenBLAS, its own
// thread count is set here too so both libraries use the same cores.
void set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
    spdlog::debug("OpenBLAS threads: {}", threads);
  }
}

torch::Device pick_device(DeviceChoice choice, uint64_t seed) {
  const bool cuda = torch::cuda::is_available();
  if (choice == DeviceChoice::Cuda && !cuda)
    throw Error("no CUDA device is available to this build: run on the cpu device (or auto)");
  if (choice == DeviceChoice::Cpu || !cuda) return torch::Device(torch::kCPU);
  torch::cuda::manual_seed_all(seed);
  return torch::Device(torch::kCUDA);
}

}  // namespace

int threads_per_share(int threads, int shares) { return std::max(1, threads / std::max(1, shares)); }

void use_threads_in_this_thread(const Runtime& runtime) {
  torch::set_num_threads(runtime.threads);
  set_blas_threads(runtime.threads);
}

Runtime share_threads(const Runtime& runtime, int shares) {
  Runtime shared = runtime;
  shared.threads = threads_per_share(runtime.threads, shares);
  use_threads_in_this_thread(shared);
  return shared;
}

Runtime configure_runtime(const RuntimeOptions& options) {
  if (options.threads < 0 || options.threads > max_threads())
    throw Error("a thread count of " + std::to_string(options.threads) + " is out of range: use 1 to " +
                std::to_string(max_threads()) + " (twice the " + std::to_string(available_cores()) +
                " cores here), or 0 for all cores");
  Runtime runtime;
  runtime.threads = options.threads > 0 ? options.threads : available_cores();
  runtime.seed = options.seed;
  runtime.precision = options.precision;
  runtime.decode_limits = options.decode_limits;
  use_threads_in_this_thread(runtime);
  torch::manual_seed(options.seed);
  runtime.device = pick_device(options.device, options.seed);
  if (bf16_emulated(runtime.precision, runtime.device))
    spdlog::warn("this CPU has no bf16 instructions (AVX512-BF16 or AMX): bf16 is emulated, slower than fp32");
  spdlog::debug("device {}, {} threads, precision {}", runtime.device.str(), runtime.threads,
                to_string(runtime.precision));
  return runtime;
}

}  // namespace catdog
