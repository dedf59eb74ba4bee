#include <torch/torch.h>

#include "catdog/error.h"
#include "catdog/runtime.h"
#include "test_support.h"

TEST(Runtime, UsesAllCoresByDefault) {
  catdog::RuntimeOptions options;
  options.device = "cpu";
  EXPECT_EQ(catdog::configure_runtime(options), torch::Device(torch::kCPU));
  EXPECT_EQ(torch::get_num_threads(), catdog::available_cores());
}

TEST(Runtime, ThreadsFlagIsApplied) {
  catdog::RuntimeOptions options;
  options.device = "cpu";
  options.threads = 1;
  catdog::configure_runtime(options);
  EXPECT_EQ(torch::get_num_threads(), 1);
}

TEST(Runtime, SeedMakesRandomNumbersRepeatable) {
  catdog::RuntimeOptions options;
  options.device = "cpu";
  catdog::configure_runtime(options);
  const auto first = torch::rand({4});
  catdog::configure_runtime(options);
  EXPECT_TRUE(torch::equal(first, torch::rand({4})));
}

TEST(Runtime, CudaWithoutDeviceIsAClearError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  catdog::RuntimeOptions options;
  options.device = "cuda";
  EXPECT_THROW(catdog::configure_runtime(options), catdog::Error);
}
