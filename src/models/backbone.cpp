#include "catdog/models/backbone.h"

#include <algorithm>
#include <sstream>

#include <torch/torch.h>

#include "catdog/base/error.h"

namespace catdog {

namespace {

namespace nn = torch::nn;

// Weights and floating-point buffers (BatchNorm statistics), as Keras counts
// them; BatchNorm's integer step counter is not a weight.
int64_t weight_count(const nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  for (const auto& buffer : module.buffers())
    if (buffer.is_floating_point()) count += buffer.numel();
  return count;
}

int64_t trainable_count(const nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters())
    if (parameter.requires_grad()) count += parameter.numel();
  return count;
}

// "(None, 80, 80, 16)": Keras' channels-last shape with a free batch size.
std::string keras_output_shape(const torch::Tensor& x) {
  std::vector<int64_t> shape(x.sizes().begin() + 1, x.sizes().end());
  if (shape.size() == 3) std::rotate(shape.begin(), shape.begin() + 1, shape.end());  // CHW -> HWC
  std::ostringstream text;
  text << "(None";
  for (const auto size : shape) text << ", " << size;
  text << ")";
  return text.str();
}

}  // namespace

torch::Tensor LayerStackImpl::run(Layer& layer, const torch::Tensor& x) {
  auto y = layer.module.forward(x);
  return layer.activation == Activation::Relu ? torch::relu(y) : y;
}

torch::Tensor LayerStackImpl::forward(torch::Tensor x) {
  for (auto& layer : layers_) x = run(layer, x);
  return x;
}

torch::Tensor LayerStackImpl::forward_tapped(torch::Tensor x, const std::string& name, const LayerTap& tap) {
  const auto tapped = std::find_if(layers_.begin(), layers_.end(), [&](const Layer& layer) { return layer.name == name; });
  if (tapped == layers_.end()) throw Error("the network has no layer called '" + name + "'");
  for (auto layer = layers_.begin(); layer != layers_.end(); ++layer) {
    x = run(*layer, x);
    if (layer == tapped) x = tap(x);
  }
  return x;
}

std::vector<LayerSummary> LayerStackImpl::summarize(torch::Tensor& x) {
  std::vector<LayerSummary> rows;
  for (auto& layer : layers_) {
    x = run(layer, x);
    rows.push_back({layer.name + " (" + layer.keras_type + ")", keras_output_shape(x),
                    weight_count(*layer.module.ptr()), trainable_count(*layer.module.ptr())});
  }
  return rows;
}

nn::Functional global_average_pooling() {
  return nn::Functional([](const torch::Tensor& x) { return x.mean({2, 3}); });
}

nn::Conv2d same_conv3x3(int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); }

}  // namespace catdog
