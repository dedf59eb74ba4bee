#include <gtest/gtest.h>
#include <torch/torch.h>

#include "catdog/data/preprocess.h"
#include "catdog/infer/inference.h"
#include "catdog/models/classifier.h"

namespace catdog {
namespace {

torch::Tensor random_images(int64_t n) {
  torch::manual_seed(5);
  return torch::rand({n, 3, kDefaultImageSize, kDefaultImageSize}) * 2 - 1;
}

// Logits from the left and the right half of the images: a mirror image swaps them.
torch::Tensor left_versus_right(const torch::Tensor& images) {
  const int64_t half = images.size(3) / 2;
  return torch::stack({images.slice(3, 0, half).mean({1, 2, 3}), images.slice(3, half).mean({1, 2, 3})}, 1) * 40;
}

TEST(TestTimeAugmentation, WithoutItTheLogSoftmaxOfTheLogits) {
  const auto images = random_images(3);
  EXPECT_TRUE(torch::allclose(class_log_probabilities(left_versus_right, images, false),
                              torch::log_softmax(left_versus_right(images), 1)));
}

TEST(TestTimeAugmentation, AModelBlindToMirroringGetsTheSameProbabilities) {
  const auto images = random_images(4);
  // Statistics of the whole image do not change when it is mirrored.
  const auto blind = [](const torch::Tensor& x) {
    return torch::stack({x.mean({1, 2, 3}), (x.select(1, 0) * x.select(1, 2)).mean({1, 2}) * 10}, 1);
  };
  EXPECT_TRUE(torch::allclose(class_log_probabilities(blind, images, true), class_log_probabilities(blind, images, false),
                              1e-5, 1e-6));
}

TEST(TestTimeAugmentation, TheMeanOfTheSoftmaxOfTheImageAndOfItsMirrorImage) {
  const auto images = random_images(5);
  torch::NoGradGuard no_grad;
  torch::manual_seed(2);
  Classifier model(ModelKind::Scratch);
  model->eval();
  const auto forward = [&](const torch::Tensor& x) { return model->forward(x); };
  for (const auto& [name, model_forward] :
       {std::pair<const char*, std::function<torch::Tensor(const torch::Tensor&)>>{"halves", left_versus_right},
        {"scratch", forward}}) {
    const auto tta = torch::exp(class_log_probabilities(model_forward, images, true));
    const auto by_hand =
        (torch::softmax(model_forward(images), 1) + torch::softmax(model_forward(images.flip({3})), 1)) / 2;
    EXPECT_TRUE(torch::allclose(tta, by_hand, 1e-4, 1e-6)) << name << "\n" << tta << "\n" << by_hand;
    EXPECT_FALSE(torch::allclose(tta, torch::softmax(model_forward(images), 1), 1e-3, 1e-4))
        << name << ": the model is not blind to mirroring, so TTA must change something";
    // An image and its mirror image get the same answer.
    EXPECT_TRUE(torch::allclose(torch::exp(class_log_probabilities(model_forward, images.flip({3}), true)), tta, 1e-4,
                                1e-6))
        << name;
  }
}

}  // namespace
}  // namespace catdog
