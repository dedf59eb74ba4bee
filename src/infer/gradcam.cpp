#include "catdog/infer/gradcam.h"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"

namespace catdog {

std::string gradcam_layer(ModelKind kind) { return model_spec(kind).gradcam_layer; }

Explanation explain(Classifier& model, const cv::Mat& rgb, int label, cv::Size heat_size) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("Grad-CAM needs an 8-bit RGB image");
  if (label >= model->num_classes())
    throw Error("Grad-CAM explains one of the model's classes, 0 to " + std::to_string(model->num_classes() - 1));
  const auto device = model->parameters().front().device();
  const auto input = to_input_tensor(resize_to_input(rgb, model->image_size())).unsqueeze(0).to(device);

  // A leaf copy of the layer's output: the gradient stops there, and the
  // frozen backbone before it (whose weights need none) records nothing.
  torch::AutoGradMode with_gradients(true);
  torch::Tensor activations;
  const auto logits = model->forward_tapped(input, gradcam_layer(model->kind()), [&](const torch::Tensor& output) {
    activations = output.detach().requires_grad_(true);
    return activations;
  });

  Explanation explanation;
  const auto probabilities = torch::softmax(logits.detach(), 1).to(torch::kCPU, torch::kFloat64).contiguous();
  explanation.probabilities.assign(probabilities.data_ptr<double>(),
                                   probabilities.data_ptr<double>() + probabilities.numel());
  explanation.explained_label =
      label >= 0 ? label : static_cast<int>(probabilities[0].argmax().item<int64_t>());

  // autograd::grad, not backward(): no .grad accumulates on shared weights.
  const auto gradient = torch::autograd::grad({logits[0][explanation.explained_label]}, {activations})[0];
  torch::NoGradGuard no_grad;
  const auto channel_weights = gradient.mean({2, 3}, /*keepdim=*/true);
  auto map = torch::relu((channel_weights * activations).sum(1)[0]);
  const double peak = map.max().item<double>();
  map = (peak > 0 ? map / peak : torch::zeros_like(map)).to(torch::kCPU, torch::kFloat32).contiguous();

  const cv::Mat coarse(static_cast<int>(map.size(0)), static_cast<int>(map.size(1)), CV_32F, map.data_ptr<float>());
  cv::resize(coarse, explanation.heat, heat_size.empty() ? rgb.size() : heat_size, 0, 0, cv::INTER_LINEAR);
  return explanation;
}

namespace {

// Jet colours of a [0, 1] map, RGB.
cv::Mat jet_rgb(const cv::Mat& heat) {
  if (heat.empty() || heat.type() != CV_32F) throw Error("a Grad-CAM heat map is a non-empty float image");
  cv::Mat levels, bgr, rgb;
  heat.convertTo(levels, CV_8U, 255.0);
  cv::applyColorMap(levels, bgr, cv::COLORMAP_JET);
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

}  // namespace

cv::Mat gradcam_overlay(const cv::Mat& rgb, const cv::Mat& heat, double opacity) {
  cv::Mat colours = jet_rgb(heat);
  if (colours.size() != rgb.size()) cv::resize(colours, colours, rgb.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat blended;
  cv::addWeighted(rgb, 1.0 - opacity, colours, opacity, 0.0, blended);
  return blended;
}

cv::Mat gradcam_rgba(const cv::Mat& heat) {
  cv::Mat rgba, alpha;
  cv::cvtColor(jet_rgb(heat), rgba, cv::COLOR_RGB2RGBA);
  // Opaque where the evidence is, see-through where there is none.
  heat.convertTo(alpha, CV_8U, 200.0);
  cv::mixChannels(std::vector<cv::Mat>{alpha}, std::vector<cv::Mat>{rgba}, {0, 3});
  return rgba;
}

}  // namespace catdog
