#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <torch/nn.h>

#include "catdog/keras_h5.h"

namespace catdog {

enum class ModelKind { Scratch, Vgg16, MobileNetV2 };

// "scratch" | "vgg16" | "mobilenetv2" (an Error listing the choices otherwise).
ModelKind parse_model_kind(const std::string& name);
std::string model_name(ModelKind kind);
// The original recipe: scratch 10 epochs, the transfer models 5.
int default_epochs(ModelKind kind);
// Keras' official no-top weight file for the backbone ("" for scratch).
std::string keras_weights_file_name(ModelKind kind);

// One row of `catdog summary`.
struct LayerSummary {
  std::string name;          // Keras style, e.g. "block1_conv1 (Conv2D)"
  std::string output_shape;  // Keras style, e.g. "(None, 80, 80, 16)"
  int64_t parameters = 0;    // weights and floating-point buffers, as Keras counts them
  bool trainable = true;
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
  std::vector<LayerSummary> summarize(torch::Tensor& x, bool trainable);

 private:
  struct Layer {
    std::string name;
    std::string keras_type;
    torch::nn::AnyModule module;
    Activation activation;
  };
  torch::Tensor run(Layer& layer, const torch::Tensor& x);

  std::vector<Layer> layers_;
};
TORCH_MODULE(LayerStack);

// Keras' GlobalAveragePooling2D: N x C x H x W -> N x C.
torch::nn::Functional global_average_pooling();

// A frozen ImageNet feature extractor: images N x 3 x 160 x 160 in [-1, 1]
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
  // Summary rows (trainable = false); `images` comes out as the features.
  virtual std::vector<LayerSummary> summarize(torch::Tensor& images) = 0;
};

// Keras VGG16(include_top=False) conv base + global average pooling: 512 features.
std::shared_ptr<BackboneImpl> make_vgg16_backbone();

// Every catdog model: an optional frozen backbone, then the trainable part.
//  scratch:     (none) -> Conv16-Pool-Conv32-Pool-Conv64-Pool-Flatten-Dense512-Dense2
//  vgg16:       VGG16 base (frozen) -> Dense512-Dense2
//  mobilenetv2: MobileNetV2 base (frozen) -> Dense512-Dense2
// forward() returns logits; softmax of them is the Keras model's output.
class ClassifierImpl : public torch::nn::Module {
 public:
  // keras_init = false leaves the trainable layers with LibTorch's default
  // initialisation: for weights about to be overwritten from a checkpoint
  // (13 M of them in scratch: ~60 ms of a 0.7 s predict).
  explicit ClassifierImpl(ModelKind kind, bool keras_init = true);

  ModelKind kind() const { return kind_; }
  bool has_frozen_backbone() const { return backbone_ != nullptr; }

  // Frozen part: images -> features (for scratch the images themselves).
  torch::Tensor features(const torch::Tensor& images);
  // Trainable part: features -> logits N x 2.
  torch::Tensor classify(const torch::Tensor& features);
  torch::Tensor forward(const torch::Tensor& images) { return classify(features(images)); }
  // forward() with `tap` on the output of the layer called `layer` (a
  // backbone layer, or one of scratch's), without features()' no-grad mode:
  // what runs after the tap records gradients when the tap asks for them.
  torch::Tensor forward_tapped(const torch::Tensor& images, const std::string& layer, const LayerTap& tap);

  std::vector<torch::Tensor> trainable_parameters() const;
  // Reads a Keras weight file into the backbone (Error for scratch).
  void load_backbone_weights(const std::filesystem::path& keras_h5);
  void weights_changed();

  // Keeps the frozen backbone in inference mode whatever is asked.
  void train(bool on = true) override;

  std::vector<LayerSummary> summary();

 private:
  ModelKind kind_;
  std::shared_ptr<BackboneImpl> backbone_;
  LayerStack head_{nullptr};  // scratch: the whole network
};
TORCH_MODULE(Classifier);

// Keras-style table: layer, output shape, parameters; then total / trainable / frozen.
std::string format_summary(Classifier& model);

}  // namespace catdog
