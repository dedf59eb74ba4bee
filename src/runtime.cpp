#include "catdog/runtime.h"

#include <dlfcn.h>
#include <sched.h>

#include <thread>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/error.h"

namespace catdog {

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

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

}  // namespace

torch::Device configure_runtime(const RuntimeOptions& options) {
  const int threads = options.threads > 0 ? options.threads : available_cores();
  torch::set_num_threads(threads);
  set_blas_threads(threads);
  torch::manual_seed(options.seed);

  const bool cuda = torch::cuda::is_available();
  if (options.device == "cuda") {
    if (!cuda) throw Error("--device cuda: no CUDA device is available to this build; use --device cpu or auto");
    torch::cuda::manual_seed_all(options.seed);
    return torch::Device(torch::kCUDA);
  }
  if (options.device == "auto" && cuda) {
    torch::cuda::manual_seed_all(options.seed);
    return torch::Device(torch::kCUDA);
  }
  if (options.device != "auto" && options.device != "cpu")
    throw Error("--device " + options.device + ": use auto, cpu or cuda");
  spdlog::debug("device cpu, {} threads", threads);
  return torch::Device(torch::kCPU);
}

}  // namespace catdog
