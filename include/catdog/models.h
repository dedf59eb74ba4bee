#pragma once
#include <cstdint>
#include <filesystem>
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

// A frozen ImageNet feature extractor: images N x 3 x 160 x 160 in [-1, 1]
// -> globally average-pooled features N x feature_size().
class BackboneImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
  virtual int64_t feature_size() const = 0;
  // The weighted layers in Keras' model order, for assign_keras_weights.
  virtual std::vector<KerasLayerTarget> keras_layers() = 0;
  // Called after weights change (load, checkpoint restore): lets a backbone
  // precompute an inference form (e.g. BatchNorm folded into convolutions).
  virtual void weights_changed() {}
};

// Keras VGG16(include_top=False) conv base + global average pooling: 512 features.
std::shared_ptr<BackboneImpl> make_vgg16_backbone();

// One row of `catdog summary`.
struct LayerSummary {
  std::string name;
  std::string output_shape;  // Keras style, e.g. "(None, 80, 80, 16)"
  int64_t parameters = 0;
  bool trainable = true;
};

// Every catdog model: an optional frozen backbone, then the trainable part.
//  scratch:     (none) -> Conv16-Pool-Conv32-Pool-Conv64-Pool-Flatten-Dense512-Dense2
//  vgg16:       VGG16 base (frozen) -> Dense512-Dense2
//  mobilenetv2: MobileNetV2 base (frozen) -> Dense512-Dense2
// forward() returns logits; softmax of them is the Keras model's output.
class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(ModelKind kind);

  ModelKind kind() const { return kind_; }
  bool has_frozen_backbone() const { return backbone_ != nullptr; }

  // Frozen part: images -> features (for scratch the images themselves).
  torch::Tensor features(const torch::Tensor& images);
  // Trainable part: features -> logits N x 2.
  torch::Tensor classify(const torch::Tensor& features);
  torch::Tensor forward(const torch::Tensor& images) { return classify(features(images)); }

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
  torch::nn::Sequential head_{nullptr};
};
TORCH_MODULE(Classifier);

// Keras-style table: layer, output shape, parameters; then total / trainable / frozen.
std::string format_summary(Classifier& model);

}  // namespace catdog
