#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn.h>

#include "catdog/models/keras_h5.h"

namespace catdog {

// The building blocks every network of catdog is made of. Backbones
// (vgg16.h, mobilenet_v2.h) and the classifier (models.h) include this; it
// includes none of them, so there is no cycle.

// One row of `catdog summary`.
struct LayerSummary {
  std::string name;          // Keras style, e.g. "block1_conv1 (Conv2D)"
  std::string output_shape;  // Keras style, e.g. "(None, 80, 80, 16)"
  int64_t parameters = 0;    // weights and floating-point buffers, as Keras counts them
  int64_t trainable_parameters = 0;  // of those, the ones training updates (requires_grad)
};

// Keras' `activation=` argument of Conv2D and Dense.
enum class Activation { None, Relu };

// Sees the output of one layer and returns what the rest of the network runs
// on instead (Grad-CAM: the same values as a leaf that records gradients).
using LayerTap = std::function<torch::Tensor(const torch::Tensor&)>;

// Keras-named layers run in order, like a keras.Sequential. Each is a
// LibTorch module (registered under its Keras name, so parameters read
// "block1_conv1.weight"), optionally followed by its built-in activation.
class LayerStackImpl : public torch::nn::Module {
 public:
  template <typename ModuleHolder>
  ModuleHolder add(const std::string& name, const std::string& keras_type, ModuleHolder layer,
                   Activation activation = Activation::None) {
    register_module(name, layer);
    layers_.push_back({name, keras_type, torch::nn::AnyModule(layer), activation});
    return layer;
  }

  torch::Tensor forward(torch::Tensor x);
  // forward() with `tap` applied to the output of the layer called `name`
  // (activation included). Error when there is no such layer.
  torch::Tensor forward_tapped(torch::Tensor x, const std::string& name, const LayerTap& tap);
  // Runs `x` through like forward() (it comes out as the output) and
  // describes every layer, as Keras' model.summary() does.
  std::vector<LayerSummary> summarize(torch::Tensor& x);

  struct Layer {
    std::string name;
    std::string keras_type;
    torch::nn::AnyModule module;
    Activation activation;
  };
  // The layers in order: for code that writes the network in another form (export/).
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  torch::Tensor run(Layer& layer, const torch::Tensor& x);

  std::vector<Layer> layers_;
};
TORCH_MODULE(LayerStack);

// Keras' GlobalAveragePooling2D: N x C x H x W -> N x C.
torch::nn::Functional global_average_pooling();

// Keras' Conv2D(out, 3, padding="same") on `in` channels.
torch::nn::Conv2d same_conv3x3(int64_t in, int64_t out);

// A frozen ImageNet feature extractor: preprocessed images (preprocess.h)
// -> globally average-pooled features N x feature_size().
class BackboneImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
  // forward() with `tap` on the output of the layer called `layer`.
  virtual torch::Tensor forward_tapped(const torch::Tensor& images, const std::string& layer, const LayerTap& tap) = 0;
  virtual int64_t feature_size() const = 0;
  // The weighted layers in Keras' model order, for assign_keras_weights.
  virtual std::vector<KerasLayerTarget> keras_layers() = 0;
  // Called after weights change (load, checkpoint restore): lets a backbone
  // precompute an inference form (e.g. BatchNorm folded into convolutions).
  virtual void weights_changed() {}
  // Summary rows; `images` comes out as the features.
  virtual std::vector<LayerSummary> summarize(torch::Tensor& images) = 0;
};

}  // namespace catdog
