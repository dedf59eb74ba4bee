#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "catdog/data/preprocess.h"
#include "catdog/infer/classify.h"
#include "catdog/infer/engine.h"
#include "catdog/infer/inference.h"
#include "catdog/models/classifier.h"
#include "random_backbone.h"
#include "test_support.h"

namespace catdog {
namespace {

namespace fs = std::filesystem;

// The engine's bar: probabilities within 1e-4 of the eager path's (fp32).
constexpr double kTolerance = 1e-4;
constexpr int kPhotosPerClass = 2;

Runtime fp32_cpu() {
  Runtime runtime;
  runtime.precision = Precision::Fp32;
  return runtime;
}

// The first photos of each class of ../shared's cat/dog dev set, preprocessed.
torch::Tensor dev_photos() {
  std::vector<torch::Tensor> images;
  for (const char* label : {"cat", "dog"}) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(testing::shared_dir() / "data" / "catdog-dev" / label))
      files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (int i = 0; i < kPhotosPerClass; ++i) images.push_back(load_input(files[static_cast<size_t>(i)], kDefaultImageSize));
  }
  return torch::stack(images);
}

// A model whose outputs vary from photo to photo: mobilenetv2 with its real
// ImageNet weights, vgg16 He-initialised with small biases (its ImageNet file
// is not available offline; the generated Keras-layout file's large biases
// give every photo the same answer), scratch Keras-initialised; the heads
// from a fixed seed.
Classifier make_model(ModelKind kind, int64_t classes) {
  torch::manual_seed(23);
  Classifier model(kind, classes);
  if (kind == ModelKind::MobileNetV2)
    model->load_backbone_weights(testing::shared_dir() / "weights" / "mobilenet_v2_1.0_no_top.h5");
  if (kind == ModelKind::Vgg16) testing::he_initialise_backbone(model);
  model->eval();
  return model;
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Case {
  ModelKind kind;
  int64_t classes;
};

class EngineOnPhotos : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (testing::shared_dir().empty()) GTEST_SKIP() << "needs ../shared (dev photos and MobileNetV2 weights)";
  }
};

TEST_P(EngineOnPhotos, ProbabilitiesEqualTheEagerPaths) {
  Classifier model = make_model(GetParam().kind, GetParam().classes);
  const auto photos = dev_photos();
  InferenceEngine logits(model, GraphOutput::Logits, fp32_cpu());
  ASSERT_TRUE(logits.runs_frozen_graph());
  torch::NoGradGuard no_grad;
  const auto expected = torch::softmax(model->forward(photos), 1);
  const auto actual = torch::softmax(logits(photos), 1);
  EXPECT_EQ(logits.builds(), 1);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_LT(max_difference(actual, expected), kTolerance);
  // predict's and serve's path too: class_probabilities through the engine.
  EXPECT_LT(max_difference(class_probabilities(logits, photos, /*tta=*/true),
                           torch::exp(class_log_probabilities(
                                          [&](const torch::Tensor& x) { return model->forward(x); }, photos, true))
                               .to(torch::kFloat64)),
            kTolerance);
  // The photos are told apart: equal answers would prove little.
  EXPECT_GT(expected.select(1, 0).max().item<double>() - expected.select(1, 0).min().item<double>(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(EveryModel, EngineOnPhotos,
                         ::testing::Values(Case{ModelKind::Scratch, 2}, Case{ModelKind::Scratch, 5},
                                           Case{ModelKind::MobileNetV2, 2}, Case{ModelKind::MobileNetV2, 5},
                                           Case{ModelKind::Vgg16, 2}, Case{ModelKind::Vgg16, 5}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return model_name(info.param.kind) + "_" + std::to_string(info.param.classes) + "classes";
                         });

class EngineBackbone : public ::testing::TestWithParam<ModelKind> {
 protected:
  void SetUp() override {
    if (testing::shared_dir().empty()) GTEST_SKIP() << "needs ../shared (dev photos and MobileNetV2 weights)";
  }
};

// The frozen-backbone feature pass: the backbone alone, the same features.
TEST_P(EngineBackbone, TheBackboneGraphGivesTheBackbonesFeatures) {
  Classifier model = make_model(GetParam(), 2);
  const auto photos = dev_photos();
  InferenceEngine features(model, GraphOutput::Features, fp32_cpu());
  torch::NoGradGuard no_grad;
  const auto expected = model->features(photos);
  const auto actual = features(photos);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_LT(max_difference(actual, expected), kTolerance * std::max(1.0, expected.abs().max().item<double>()));
  EXPECT_EQ(features.builds(), 1);
}

INSTANTIATE_TEST_SUITE_P(Backbones, EngineBackbone, ::testing::Values(ModelKind::MobileNetV2, ModelKind::Vgg16),
                         [](const ::testing::TestParamInfo<ModelKind>& info) { return model_name(info.param); });

TEST(Engine, ScratchHasNoBackboneGraph) {
  Classifier model(ModelKind::Scratch);
  model->eval();
  InferenceEngine features(model, GraphOutput::Features, fp32_cpu());
  EXPECT_NE(testing::error_of([&] { features(torch::zeros({1, 3, kDefaultImageSize, kDefaultImageSize})); }).find("no backbone"),
            std::string::npos);
}

// Whatever changes a weight after the graph was built (an optimizer step, a
// checkpoint loaded into the model, BatchNorm statistics), the next forward
// answers with the new weights: the graph is rebuilt, and only then.
TEST(Engine, AWeightChangeIsNeverServedStale) {
  if (testing::shared_dir().empty()) GTEST_SKIP() << "needs ../shared (dev photos and MobileNetV2 weights)";
  Classifier model = make_model(ModelKind::MobileNetV2, 2);
  InferenceEngine logits(model, GraphOutput::Logits, fp32_cpu());
  const auto images = dev_photos();
  torch::NoGradGuard no_grad;
  auto before = logits(images);
  logits(images);
  EXPECT_EQ(logits.builds(), 1);  // the same weights: the same graph

  const auto check_rebuilt = [&](const std::string& what, int builds) {
    const auto after = logits(images);
    EXPECT_EQ(logits.builds(), builds) << what;
    EXPECT_GT(max_difference(after, before), 1e-3) << what;
    EXPECT_LT(max_difference(after, model->forward(images)), kTolerance) << what;
    before = after;
  };
  auto head_weight = model->named_parameters()["head.dense_1.weight"];
  head_weight.mul_(1.5);  // in place, as an optimizer step
  check_rebuilt("head weight scaled", 2);

  auto saved = head_weight.clone();
  head_weight.copy_(saved * 2);  // as a checkpoint load copies
  check_rebuilt("head weight copied over", 3);

  for (auto& buffer : model->named_buffers())
    if (buffer.key().find("running_mean") != std::string::npos) buffer.value().add_(0.3);
  model->weights_changed();  // the eager model's folded copy (the engine needs no call)
  check_rebuilt("BatchNorm statistics", 4);
}

TEST(Engine, Bf16RunsTheModelUnderAutocast) {
  torch::manual_seed(3);
  Classifier model(ModelKind::Scratch);
  model->eval();
  Runtime runtime;
  runtime.precision = Precision::Bf16;
  InferenceEngine logits(model, GraphOutput::Logits, runtime);
  EXPECT_FALSE(logits.runs_frozen_graph());
  const auto images = torch::rand({2, 3, kDefaultImageSize, kDefaultImageSize}) * 2 - 1;
  torch::NoGradGuard no_grad;
  const auto expected = forward_in(torch::kBFloat16, torch::kCPU, [&] { return model->forward(images); });
  EXPECT_TRUE(torch::equal(logits(images), expected));
  EXPECT_EQ(logits.builds(), 0);
}

// A one-photo predict stays eager (the graph would cost more than it saves);
// from frozen_graph_min_images photos on, the frozen graph runs.
TEST(Engine, APredictOfOnePhotoStaysEager) {
  if (testing::shared_dir().empty()) GTEST_SKIP() << "needs ../shared (dev photos)";
  torch::manual_seed(11);
  Classifier model(ModelKind::Scratch);
  const auto cats = testing::shared_dir() / "data" / "catdog-dev" / "cat";
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(cats)) {
    files.push_back(entry.path().string());
    if (files.size() == 8) break;
  }
  std::vector<std::string> folder;  // the same photos again and again: decoding stays cheap
  while (folder.size() < frozen_graph_min_images(ModelKind::Scratch)) folder.push_back(files[folder.size() % files.size()]);
  const auto frozen_graphs_built = [&](const std::vector<std::string>& inputs) {
    testing::LogCapture log;
    spdlog::default_logger()->set_level(spdlog::level::debug);
    const auto results = predict_images(model, expand_inputs(inputs), PredictOptions{}, fp32_cpu());
    for (const auto& result : results) EXPECT_EQ(result.error, "");
    return log.text().find("frozen logits graph") != std::string::npos;
  };
  EXPECT_FALSE(frozen_graph_pays_off(ModelKind::Scratch, 1));
  EXPECT_FALSE(frozen_graph_pays_off(ModelKind::MobileNetV2, 1'000'000)) << "eager is faster at batch 32";
  EXPECT_FALSE(frozen_graphs_built({files[0]}));
  EXPECT_TRUE(frozen_graphs_built(folder));
}

}  // namespace
}  // namespace catdog
