#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/base/precision.h"
#include "test_support.h"

namespace {

// The kernel's view of the same CPUID bits.
bool cpuinfo_lists_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line);
    for (std::string flag; flags >> flag;)
      if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
    return false;
  }
  return false;
}

TEST(Precision, DetectsNativeBf16LikeTheKernel) {
  if (!std::ifstream("/proc/cpuinfo")) GTEST_SKIP() << "no /proc/cpuinfo";
  EXPECT_EQ(catdog::cpu_has_native_bf16(), cpuinfo_lists_bf16());
}

TEST(Precision, ParsesAndNames) {
  for (auto precision : {catdog::Precision::Auto, catdog::Precision::Fp32, catdog::Precision::Bf16})
    EXPECT_EQ(catdog::parse_precision(catdog::to_string(precision)), precision);
  EXPECT_EQ(catdog::testing::error_of([] { catdog::parse_precision("fp8"); }),
            "unknown precision 'fp8': choose auto, fp32 or bf16");
}

// Logs and messages name number formats as a person does, not "Float".
TEST(Precision, DtypesAreNamedAsPeopleDo) {
  EXPECT_EQ(catdog::dtype_name(torch::kFloat), "fp32");
  EXPECT_EQ(catdog::dtype_name(torch::kBFloat16), "bf16");
  EXPECT_EQ(catdog::dtype_name(torch::kHalf), "fp16");
  EXPECT_EQ(catdog::dtype_name(torch::kDouble), "fp64");
  EXPECT_EQ(catdog::dtype_name(torch::kInt8), "Char");
}

TEST(Precision, AutoIsFp16OnCudaAndFp32OnCpus) {
  const torch::Device cpu(torch::kCPU), cuda(torch::kCUDA);
  EXPECT_EQ(catdog::inference_dtype(catdog::Precision::Fp32, cpu), torch::kFloat);
  EXPECT_EQ(catdog::inference_dtype(catdog::Precision::Bf16, cpu), torch::kBFloat16);
  EXPECT_EQ(catdog::inference_dtype(catdog::Precision::Auto, cpu), torch::kFloat);  // bf16 changes labels
  EXPECT_EQ(catdog::inference_dtype(catdog::Precision::Auto, cuda), torch::kHalf);
  EXPECT_EQ(catdog::inference_dtype(catdog::Precision::Fp32, cuda), torch::kFloat);
}

TEST(Precision, AutocastGuardRunsConvolutionsInBf16AndRestores) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 8, 8});
  const auto w = torch::randn({4, 3, 3, 3});
  const auto reference = torch::conv2d(x, w);
  {
    catdog::AutocastGuard guard(torch::Device(torch::kCPU), torch::kBFloat16);
    const auto y = torch::conv2d(x, w);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    // bf16 keeps 8 bits of mantissa: within ~1% of the output's scale.
    EXPECT_LT((y.to(torch::kFloat) - reference).abs().max().item<float>(),
              0.02f * reference.abs().max().item<float>());
    {
      catdog::AutocastGuard nested(torch::Device(torch::kCPU), torch::kFloat);
      EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);  // fp32 guard changes nothing
    }
  }
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
}

}  // namespace
