#include <gmock/gmock.h>
#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/base/runtime.h"
#include "catdog/base/thread_pool.h"
#include "test_support.h"

namespace catdog {
namespace {

RuntimeOptions cpu() {
  RuntimeOptions options;
  options.device = DeviceChoice::Cpu;
  return options;
}

TEST(Runtime, UsesAllCoresByDefault) {
  const Runtime runtime = configure_runtime(cpu());
  EXPECT_EQ(runtime.device, torch::Device(torch::kCPU));
  EXPECT_EQ(runtime.threads, available_cores());
  EXPECT_EQ(torch::get_num_threads(), available_cores());
}

TEST(Runtime, ThreadsAreAppliedAndCarried) {
  auto options = cpu();
  options.threads = 1;
  options.seed = 5;
  options.precision = Precision::Bf16;
  const Runtime runtime = configure_runtime(options);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_EQ(runtime.threads, 1);
  EXPECT_EQ(runtime.seed, 5u);
  EXPECT_EQ(runtime.precision, Precision::Bf16);
}

// Issue 10 item 12: a thousand threads made a one-image predict take minutes.
TEST(Runtime, ThreadCountIsBounded) {
  auto options = cpu();
  options.threads = max_threads() + 1;
  EXPECT_THAT(testing::error_of([&] { configure_runtime(options); }),
              ::testing::StartsWith("a thread count of " + std::to_string(max_threads() + 1) + " is out of range: use 1 to " +
                                    std::to_string(max_threads())));
  options.threads = -1;
  EXPECT_THAT(testing::error_of([&] { configure_runtime(options); }), ::testing::HasSubstr("or 0 for all cores"));
  options.threads = max_threads();
  EXPECT_EQ(configure_runtime(options).threads, max_threads());
  EXPECT_EQ(max_threads(), 2 * available_cores());
}

TEST(Runtime, SeedMakesRandomNumbersRepeatable) {
  configure_runtime(cpu());
  const auto first = torch::rand({4});
  configure_runtime(cpu());
  EXPECT_TRUE(torch::equal(first, torch::rand({4})));
}

TEST(Runtime, CudaWithoutDeviceIsAClearError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  auto options = cpu();
  options.device = DeviceChoice::Cuda;
  EXPECT_EQ(testing::error_of([&] { configure_runtime(options); }),
            "no CUDA device is available to this build: run on the cpu device (or auto)");
}

TEST(Runtime, DeviceNamesParseBothWays) {
  for (const auto& entry : kDeviceNames) EXPECT_EQ(parse_named(kDeviceNames, entry.name, "device"), entry.value);
  try {
    parse_named(kDeviceNames, "tpu", "device");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown device 'tpu': choose auto, cpu or cuda");
  }
}

// The warning about emulated bf16 concerns the device the runtime chose, never
// the CPU default it starts from: a CUDA run never emulates bf16.
TEST(Runtime, Bf16IsEmulatedOnlyOnACpuWithoutItsInstructions) {
  EXPECT_FALSE(bf16_emulated(Precision::Bf16, torch::Device(torch::kCUDA)));
  EXPECT_FALSE(bf16_emulated(Precision::Fp32, torch::Device(torch::kCPU)));
  EXPECT_FALSE(bf16_emulated(Precision::Auto, torch::Device(torch::kCPU)));
  EXPECT_EQ(bf16_emulated(Precision::Bf16, torch::Device(torch::kCPU)), !cpu_has_native_bf16());
}

// "0 threads = all cores" is decided in configure_runtime; sharing divides what it decided.
TEST(Runtime, SharedThreadsAreDividedAndApplied) {
  EXPECT_EQ(threads_per_share(8, 2), 4);
  EXPECT_EQ(threads_per_share(2, 4), 1);
  EXPECT_EQ(threads_per_share(3, 0), 3);
  auto options = cpu();
  options.threads = 2;
  const Runtime runtime = configure_runtime(options);
  const Runtime shared = share_threads(runtime, 2);
  EXPECT_EQ(shared.threads, 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_EQ(shared.device, runtime.device);
  configure_runtime(cpu());
}

TEST(ThreadPool, RunsEveryIndexOnceOnAtMostTheGivenThreads) {
  std::vector<std::atomic<int>> runs(100);
  std::vector<std::atomic<int>> workers(3);
  parallel_for(runs.size(), 3, [&](size_t worker, size_t i) {
    ++runs[i];
    ++workers.at(worker);
  });
  for (const auto& count : runs) EXPECT_EQ(count, 1);
  EXPECT_EQ(workers[0] + workers[1] + workers[2], 100);
  parallel_for(0, 4, [](size_t, size_t) { FAIL() << "no work to do"; });
}

TEST(ThreadPool, RethrowsATaskFailure) {
  EXPECT_THROW(parallel_for(50, 2, [](size_t, size_t i) {
                 if (i == 7) throw Error("seven");
               }),
               Error);
}

}  // namespace
}  // namespace catdog
