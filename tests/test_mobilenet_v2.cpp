// MobileNetV2 against the reference features of the real ImageNet weights,
// BatchNorm folding, and Keras' asymmetric padding.
#include <fstream>

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "catdog/base/precision.h"
#include "catdog/models/keras_h5.h"
#include "catdog/models/mobilenet_v2.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;

fs::path weights_dir() {
  const auto shared = catdog::testing::shared_dir();
  return shared.empty() ? fs::path() : shared / "weights";
}

// preprocess_input of keras.applications.mobilenet_v2: RGB, x / 127.5 - 1.
torch::Tensor network_input(const fs::path& png) {
  cv::Mat bgr = cv::imread(png.string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(bgr.empty()) << png;
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  auto hwc = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).to(torch::kFloat32);
  return (hwc / 127.5 - 1).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

std::shared_ptr<catdog::BackboneImpl> loaded_backbone(bool fold) {
  auto backbone = catdog::make_mobilenet_v2_backbone(fold);
  const auto file = weights_dir() / "mobilenet_v2_1.0_no_top.h5";
  catdog::assign_keras_weights(catdog::read_keras_weights(file), backbone->keras_layers(), file.string());
  backbone->weights_changed();
  backbone->eval();
  return backbone;
}

TEST(MobileNetV2, HasKerasWeightedLayerOrder) {
  const auto layers = catdog::make_mobilenet_v2_backbone()->keras_layers();
  ASSERT_EQ(layers.size(), 104u);
  EXPECT_EQ(layers[0].name, "Conv1");
  EXPECT_EQ(layers[1].name, "bn_Conv1");
  EXPECT_EQ(layers[2].name, "expanded_conv_depthwise");  // block 0 has no expand layer
  EXPECT_EQ(layers[2].weights[0].layout, catdog::KerasLayout::DepthwiseKernel);
  EXPECT_EQ(layers[2].weights[0].tensor.sizes(), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(layers[6].name, "block_1_expand");
  EXPECT_EQ(layers[103].name, "Conv_1_bn");
  EXPECT_EQ(layers[102].weights[0].tensor.sizes(), (std::vector<int64_t>{1280, 320, 1, 1}));
  ASSERT_EQ(layers[1].weights.size(), 4u);  // gamma, beta, moving mean, moving variance
}

TEST(MobileNetV2, MatchesTheReferenceFeaturesOfTheImageNetWeights) {
  const auto dir = weights_dir();
  if (dir.empty() || !fs::exists(dir / "mobilenet_v2_1.0_no_top.h5"))
    GTEST_SKIP() << "../shared/weights/mobilenet_v2_1.0_no_top.h5 is absent";
  nlohmann::json reference;
  std::ifstream(dir / "mobilenet_v2_reference.json") >> reference;
  const auto& images = reference.at("images");
  std::vector<torch::Tensor> inputs;
  for (const auto& image : images) inputs.push_back(network_input(dir / "testimgs" / image.at("image").get<std::string>()));
  const auto batch = torch::cat(inputs);

  for (const bool fold : {true, false}) {
    const auto backbone = loaded_backbone(fold);
    torch::NoGradGuard no_grad;
    const auto features = backbone->forward(batch);
    ASSERT_EQ(features.sizes(), (std::vector<int64_t>{5, 1280}));
    for (size_t i = 0; i < images.size(); ++i) {
      const auto& expected = images[i];
      const auto name = expected.at("image").get<std::string>() + (fold ? " folded" : " unfolded");
      const auto feature = features[static_cast<int64_t>(i)];
      for (int64_t k = 0; k < 8; ++k)
        EXPECT_NEAR(feature[k].item<double>(), expected.at("first8")[static_cast<size_t>(k)].get<double>(), 1e-4)
            << name << " feature " << k;
      const double norm = expected.at("l2_norm").get<double>(), sum = expected.at("sum").get<double>();
      EXPECT_NEAR(feature.norm().item<double>(), norm, 1e-5 * norm) << name;
      EXPECT_NEAR(feature.sum().item<double>(), sum, 1e-5 * sum) << name;
    }
  }
}

// The same random weights, folded and unfolded, with non-trivial BatchNorm
// statistics (the shared file's are identities), in inference mode.
std::pair<std::shared_ptr<catdog::BackboneImpl>, std::shared_ptr<catdog::BackboneImpl>> folded_and_unfolded() {
  torch::manual_seed(5);
  auto folded = catdog::make_mobilenet_v2_backbone(true);
  auto unfolded = catdog::make_mobilenet_v2_backbone(false);
  {
    torch::NoGradGuard no_grad;
    for (auto& module : folded->modules())
      if (auto* bn = module->as<torch::nn::BatchNorm2dImpl>()) {
        bn->weight.uniform_(0.5, 1.5);
        bn->bias.uniform_(-0.2, 0.2);
        bn->running_mean.uniform_(-0.2, 0.2);
        bn->running_var.uniform_(0.5, 2.0);
      }
    auto source = folded->named_parameters(), target = unfolded->named_parameters();
    for (auto& item : source) target[item.key()].copy_(item.value());
    auto source_buffers = folded->named_buffers(), target_buffers = unfolded->named_buffers();
    for (auto& item : source_buffers) target_buffers[item.key()].copy_(item.value());
  }
  folded->weights_changed();
  folded->eval();
  unfolded->eval();
  return {folded, unfolded};
}

// Folding is exact algebra.
TEST(MobileNetV2, FoldedAndUnfoldedBatchNormAgree) {
  const auto [folded, unfolded] = folded_and_unfolded();
  torch::NoGradGuard no_grad;
  const auto images = torch::rand({2, 3, 96, 96}) * 2 - 1;
  const auto a = folded->forward(images), b = unfolded->forward(images);
  EXPECT_GT(b.abs().max().item<float>(), 0.1f);
  EXPECT_LE((a - b).abs().max().item<float>(), 1e-4f);
}

// Fine-tuning a folded backbone: its weights get the gradients the unfolded
// Keras form gets (convolutions, BatchNorm gamma and beta), the running
// statistics stay as they were, and the outputs still agree.
TEST(MobileNetV2, FoldedLayersTrainLikeUnfoldedOnes) {
  const auto [folded, unfolded] = folded_and_unfolded();
  const auto statistics_before = folded->named_buffers();
  std::vector<torch::Tensor> kept;
  for (const auto& item : statistics_before) kept.push_back(item.value().clone());
  for (auto* backbone : {folded.get(), unfolded.get()})
    for (auto& item : backbone->named_parameters())
      item.value().set_requires_grad(item.key().find("block_16") != std::string::npos ||
                                     item.key().find("Conv_1") != std::string::npos);
  const auto images = torch::rand({2, 3, 96, 96}) * 2 - 1;
  const auto a = folded->forward(images), b = unfolded->forward(images);
  EXPECT_LE((a - b).abs().max().item<float>(), 1e-4f);
  a.square().sum().backward();
  b.square().sum().backward();
  auto unfolded_parameters = unfolded->named_parameters();
  int compared = 0;
  for (const auto& item : folded->named_parameters()) {
    const auto& reference = unfolded_parameters[item.key()];
    if (!item.value().requires_grad()) {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
      continue;
    }
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    const auto scale = reference.grad().abs().max().item<float>();
    EXPECT_GT(scale, 0.0f) << item.key();
    EXPECT_LE((item.value().grad() - reference.grad()).abs().max().item<float>(), 1e-3f * scale) << item.key();
    ++compared;
  }
  EXPECT_EQ(compared, 3 * 3 + 3);  // block_16: three convolutions with their BN gamma and beta; Conv_1 likewise
  size_t i = 0;
  for (const auto& item : folded->named_buffers()) EXPECT_TRUE(item.value().equal(kept[i++])) << item.key();
}

// State dict keeps Keras' unfolded form: folding adds no parameters or buffers.
TEST(MobileNetV2, FoldingLeavesTheParametersUnfolded) {
  auto folded = catdog::make_mobilenet_v2_backbone(true);
  auto unfolded = catdog::make_mobilenet_v2_backbone(false);
  folded->weights_changed();
  EXPECT_EQ(folded->named_parameters().keys(), unfolded->named_parameters().keys());
  EXPECT_EQ(folded->named_buffers().keys(), unfolded->named_buffers().keys());
}

TEST(MobileNetV2, PadsLikeKerasCorrectPad) {
  const auto even = torch::ones({1, 1, 4, 4});
  const auto padded = catdog::pad_like_keras(even, 3);
  ASSERT_EQ(padded.sizes(), (std::vector<int64_t>{1, 1, 5, 5}));
  // Top/left nothing, bottom/right one row/column of zeros (PyTorch's padding=1 would pad all sides).
  EXPECT_EQ(padded[0][0].slice(0, 0, 4).slice(1, 0, 4).sum().item<float>(), 16.0f);
  EXPECT_EQ(padded[0][0][4].sum().item<float>(), 0.0f);
  EXPECT_EQ(padded[0][0].select(1, 4).sum().item<float>(), 0.0f);

  const auto odd = catdog::pad_like_keras(torch::ones({1, 1, 5, 3}), 3);
  ASSERT_EQ(odd.sizes(), (std::vector<int64_t>{1, 1, 7, 5}));
  EXPECT_EQ(odd[0][0][0].sum().item<float>(), 0.0f);
  EXPECT_EQ(odd[0][0][1].sum().item<float>(), 3.0f);
}

// A stride-2 3x3 convolution after Keras' padding sees other pixels than one
// with PyTorch's symmetric padding=1: on an even input the windows shift.
TEST(MobileNetV2, AsymmetricPaddingChangesStrideTwoResults) {
  const auto input = torch::arange(16, torch::kFloat32).reshape({1, 1, 4, 4});
  const auto kernel = torch::ones({1, 1, 3, 3});
  namespace F = torch::nn::functional;
  const auto keras = F::conv2d(catdog::pad_like_keras(input, 3), kernel, F::Conv2dFuncOptions().stride(2));
  const auto symmetric = F::conv2d(input, kernel, F::Conv2dFuncOptions().stride(2).padding(1));
  // Keras' first window covers rows/cols 0..2: sum of 0,1,2,4,5,6,8,9,10 = 45.
  EXPECT_EQ(keras[0][0][0][0].item<float>(), 45.0f);
  // The symmetric one covers rows/cols -1..1: 0+1+4+5 = 10.
  EXPECT_EQ(symmetric[0][0][0][0].item<float>(), 10.0f);
}

}  // namespace

namespace {

// --precision bf16 on the real weights: the features stay close to fp32's
// (bf16 carries 3 significant digits; 52 layers add up to 6-8% relative error
// here, while the direction, which the head reads, stays within 0.5%).
TEST(MobileNetV2, Bf16FeaturesAgreeWithFp32OnRealPhotos) {
  const auto dir = weights_dir();
  if (dir.empty() || !fs::exists(dir / "mobilenet_v2_1.0_no_top.h5"))
    GTEST_SKIP() << "../shared/weights/mobilenet_v2_1.0_no_top.h5 is absent";
  auto backbone = loaded_backbone(/*fold=*/true);
  torch::NoGradGuard no_grad;
  const auto images = torch::cat({network_input(dir / "testimgs" / "cat_160.png"),
                                  network_input(dir / "testimgs" / "imprinting_dog_test_0_160.png")});
  const auto fp32 = backbone->forward(images);
  torch::Tensor bf16;
  {
    catdog::AutocastGuard guard(torch::Device(torch::kCPU), torch::kBFloat16);
    bf16 = backbone->forward(images).to(torch::kFloat);
  }
  for (int64_t i = 0; i < images.size(0); ++i) {
    const double relative = ((bf16[i] - fp32[i]).norm() / fp32[i].norm()).item<double>();
    const double cosine = torch::cosine_similarity(bf16[i], fp32[i], 0).item<double>();
    EXPECT_LT(relative, 0.12) << "image " << i;
    EXPECT_GT(cosine, 0.995) << "image " << i;
    EXPECT_GT(relative, 0.0) << "image " << i << ": bf16 ran in fp32";
  }
}

}  // namespace
