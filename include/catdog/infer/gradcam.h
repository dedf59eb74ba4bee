#pragma once
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/types.h>

#include "catdog/models/classifier.h"

namespace catdog {

// Grad-CAM's layer for each model: the last convolutional one (scratch
// "conv2d_2", VGG16 "block5_conv3", MobileNetV2's final 1x1 "Conv_1").
std::string gradcam_layer(ModelKind kind);

// One image's class probabilities and the Grad-CAM map of a class.
struct Explanation {
  std::vector<double> probabilities;  // one per class, the model's order
  int explained_label = 0;            // the class the map is for
  // Where the evidence for that class lies: H x W CV_32F in [0, 1] (1 at the
  // strongest); all zeros when nothing in the
  // layer speaks for the class.
  cv::Mat heat;
};

// Grad-CAM (Selvaraju et al. 2017): the layer's activations A_k weighted by
// the mean gradient of the class logit w.r.t. each A_k, summed, ReLU,
// scaled to [0, 1], resized to the image. `rgb` is any-size 8-bit RGB, fed to
// the model like every other input (resized to 160x160); the map is for
// `label`, or for the predicted class when label < 0; the map comes at
// `heat_size` (empty: the image's size). One forward and one
// backward pass through the part after the layer; the model's weights and
// their gradients are left untouched, so concurrent calls may share a model.
Explanation explain(Classifier& model, const cv::Mat& rgb, int label = -1, cv::Size heat_size = {});

// The heat map in the jet colours (blue = none, red = most) blended over the
// RGB photo: an RGB image the photo's size. `opacity` is the map's weight.
cv::Mat gradcam_overlay(const cv::Mat& rgb, const cv::Mat& heat, double opacity = 0.45);

// The heat map alone in the jet colours, transparent where the map is 0
// (RGBA, alpha follows the map): for drawing over the photo in a browser.
cv::Mat gradcam_rgba(const cv::Mat& heat);

}  // namespace catdog
