// Grad-CAM: shapes and range for every model, a map that points at the
// evidence for a scratch model trained on images where the evidence is one
// small region, and the real MobileNetV2 backbone when ../shared has it.
#include <torch/torch.h>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/infer/gradcam.h"
#include "catdog/models/keras_h5.h"
#include "square_model.h"
#include "test_support.h"

namespace {

using catdog::Classifier;
using catdog::ModelKind;

using catdog::testing::square_or_not;

void expect_valid_map(const catdog::Explanation& explanation, cv::Size size) {
  ASSERT_EQ(explanation.heat.type(), CV_32F);
  ASSERT_EQ(explanation.heat.size(), size);
  double low = 0, high = 0;
  cv::minMaxLoc(explanation.heat, &low, &high);
  EXPECT_GE(low, 0.0);
  EXPECT_LE(high, 1.0 + 1e-6);
  EXPECT_NEAR(explanation.probabilities[0] + explanation.probabilities[1], 1.0, 1e-6);
}

bool is_uniform(const cv::Mat& heat) {
  double low = 0, high = 0;
  cv::minMaxLoc(heat, &low, &high);
  return high - low < 1e-3;
}

TEST(GradCam, NamesTheLastConvolutionOfEachModel) {
  EXPECT_EQ(catdog::gradcam_layer(ModelKind::Scratch), "conv2d_2");
  EXPECT_EQ(catdog::gradcam_layer(ModelKind::Vgg16), "block5_conv3");
  EXPECT_EQ(catdog::gradcam_layer(ModelKind::MobileNetV2), "Conv_1");
}

TEST(GradCam, GivesAMapOfTheImageSizeInZeroToOneForEveryModel) {
  const cv::Mat photo = square_or_not(true, 1);
  cv::Mat wide;
  cv::resize(photo, wide, {300, 200});
  for (const auto kind : {ModelKind::Scratch, ModelKind::Vgg16, ModelKind::MobileNetV2}) {
    SCOPED_TRACE(catdog::model_name(kind));
    torch::manual_seed(3);
    Classifier model(kind);
    model->weights_changed();
    model->eval();
    for (const int label : {0, 1}) {
      const auto explanation = catdog::explain(model, wide, label);
      expect_valid_map(explanation, wide.size());
      EXPECT_EQ(explanation.explained_label, label);
    }
    // Asked for a size, the map comes at that size; the probabilities are the plain forward's.
    const auto small = catdog::explain(model, wide, -1, {40, 30});
    expect_valid_map(small, {40, 30});
    torch::NoGradGuard no_grad;
    const auto expected = torch::softmax(
        model->forward(catdog::to_input_tensor(catdog::resize_to_input(wide, catdog::kDefaultImageSize)).unsqueeze(0)),
        1);
    EXPECT_NEAR(small.probabilities[catdog::kDogLabel], expected[0][catdog::kDogLabel].item<double>(), 1e-5);
    EXPECT_EQ(small.explained_label, small.probabilities[1] > small.probabilities[0] ? 1 : 0);
  }
}

TEST(GradCam, LeavesTheWeightsAndTheirGradientsAlone) {
  torch::manual_seed(5);
  Classifier model(ModelKind::Scratch);
  model->eval();
  const auto before = model->parameters()[0].clone();
  catdog::explain(model, square_or_not(true, 2));
  EXPECT_TRUE(torch::equal(before, model->parameters()[0]));
  for (const auto& parameter : model->parameters()) EXPECT_FALSE(parameter.grad().defined());
}

TEST(GradCam, PointsAtTheRegionThatHoldsTheEvidence) {
  auto model = catdog::testing::train_square_detector();
  for (const unsigned test_seed : {7u, 8u, 9u}) {
    cv::Rect square;
    const auto photo = square_or_not(true, test_seed, &square);
    const auto explanation = catdog::explain(model, photo, catdog::kDogLabel);
    EXPECT_GT(explanation.probabilities[catdog::kDogLabel], 0.9) << "the model did not learn the squares";
    ASSERT_FALSE(is_uniform(explanation.heat));
    cv::Mat outside_mask(photo.size(), CV_8U, cv::Scalar(255));
    outside_mask(square).setTo(0);
    const double inside = cv::mean(explanation.heat(square))[0];
    const double outside = cv::mean(explanation.heat, outside_mask)[0];
    EXPECT_GT(inside, 3 * outside) << "inside " << inside << ", outside " << outside;
    const auto overlay = catdog::gradcam_overlay(photo, explanation.heat);
    ASSERT_EQ(overlay.size(), photo.size());
    ASSERT_EQ(overlay.type(), CV_8UC3);
    // Hot (red) over the square, cold (blue) far from it.
    const cv::Vec3b hot = overlay.at<cv::Vec3b>(square.y + square.height / 2, square.x + square.width / 2);
    EXPECT_GT(hot[0], hot[2]);
    const auto rgba = catdog::gradcam_rgba(explanation.heat);
    ASSERT_EQ(rgba.type(), CV_8UC4);
    EXPECT_GT(rgba.at<cv::Vec4b>(square.y + square.height / 2, square.x + square.width / 2)[3], 100);
  }
}

TEST(GradCam, ExplainsTheRealMobileNetV2Backbone) {
  const auto shared = catdog::testing::shared_dir();
  const auto weights = shared / "weights" / "mobilenet_v2_1.0_no_top.h5";
  const auto photo_file = shared / "weights" / "testimgs" / "grace_hopper.png";
  if (shared.empty() || !std::filesystem::exists(weights) || !std::filesystem::exists(photo_file))
    GTEST_SKIP() << "../shared/weights (MobileNetV2 weights and test images) is absent";
  torch::manual_seed(1);
  Classifier model(ModelKind::MobileNetV2);
  model->load_backbone_weights(weights);
  model->eval();
  const cv::Mat photo = catdog::decode_rgb(photo_file);
  const auto explanation = catdog::explain(model, photo);
  expect_valid_map(explanation, photo.size());
  EXPECT_FALSE(is_uniform(explanation.heat));
  for (const auto& parameter : model->parameters()) EXPECT_FALSE(parameter.grad().defined());
}

}  // namespace
