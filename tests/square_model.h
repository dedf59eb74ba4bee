// A scratch model trained in a few seconds where the evidence is one region:
// "dogs" are gray noise with a dark square somewhere, "cats" plain noise.
// For the tests that need a model whose Grad-CAM map is known to point at
// something (test_gradcam, test_serve's page).
#pragma once
#include <random>

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/models/classifier.h"

namespace catdog::testing {

// 160 x 160 RGB; `square` receives where the dark square is.
inline cv::Mat square_or_not(bool dog, unsigned seed, cv::Rect* square = nullptr) {
  std::mt19937 random(seed);
  cv::Mat image(kDefaultImageSize, kDefaultImageSize, CV_8UC3);
  cv::randu(image, cv::Scalar::all(110), cv::Scalar::all(150));
  if (dog) {
    std::uniform_int_distribution<int> corner(8, kDefaultImageSize - 8 - 48);
    const cv::Rect box(corner(random), corner(random), 48, 48);
    cv::rectangle(image, box, cv::Scalar::all(10), cv::FILLED);
    if (square) *square = box;
  }
  return image;
}

// 40 Adam steps of 16 images: > 90% dog on a square image. Eval mode.
inline Classifier train_square_detector() {
  torch::manual_seed(11);
  Classifier model(ModelKind::Scratch);
  torch::optim::Adam optimizer(model->trainable_parameters(), torch::optim::AdamOptions(1e-4));
  unsigned seed = 100;
  for (int step = 0; step < 40; ++step) {
    std::vector<torch::Tensor> images, labels;
    for (int i = 0; i < 16; ++i) {
      const bool dog = i % 2 == 1;
      images.push_back(to_input_tensor(square_or_not(dog, seed++)));
      labels.push_back(torch::tensor(dog ? kDogLabel : kCatLabel));
    }
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(torch::stack(images)), torch::stack(labels)).backward();
    optimizer.step();
  }
  model->eval();
  return model;
}

}  // namespace catdog::testing
