// The allocator catdog links (CMakeLists.txt, CATDOG_ALLOCATOR) keeps freed
// tensor memory for the next batch instead of returning it to the kernel and
// faulting it back in page by page: on a VM each fault is expensive, and with
// glibc's defaults a scratch training step spent most of its time in the kernel.
#include <sys/resource.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "catdog/models/classifier.h"

namespace {

long minor_page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Minor page faults per step of `step`, after two warm-up steps.
template <typename Step>
double faults_per_step(Step&& step, int steps = 6) {
  step();
  step();
  const long before = minor_page_faults();
  for (int i = 0; i < steps; ++i) step();
  return static_cast<double>(minor_page_faults() - before) / steps;
}

// glibc's defaults give 42,000 (inference) to 55,000 (training) faults per step here (every activation above the
// mmap threshold is a fresh mapping); a caching allocator gives a few hundred.
constexpr double kMaxFaultsPerStep = 3000;

TEST(Allocator, InferenceReusesMemoryAcrossBatches) {
  torch::manual_seed(0);
  catdog::Classifier model(catdog::ModelKind::Scratch);
  model->eval();
  const auto images = torch::rand({32, 3, 160, 160}) * 2 - 1;
  const double faults = faults_per_step([&] {
    torch::NoGradGuard no_grad;
    model->forward(images);
  });
  EXPECT_LT(faults, kMaxFaultsPerStep) << "minor page faults per batch: is the allocator linked?";
}

TEST(Allocator, TrainingStepReusesMemory) {
  torch::manual_seed(0);
  catdog::Classifier model(catdog::ModelKind::Scratch);
  model->train();
  const auto images = torch::rand({32, 3, 160, 160}) * 2 - 1;
  const auto labels = torch::randint(0, 2, {32}, torch::kInt64);
  const double faults = faults_per_step([&] {
    for (auto& parameter : model->parameters()) parameter.mutable_grad() = torch::Tensor();
    torch::nn::functional::cross_entropy(model->forward(images), labels).backward();
  });
  EXPECT_LT(faults, kMaxFaultsPerStep) << "minor page faults per training step: is the allocator linked?";
}

}  // namespace
