#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn.h>

#include "catdog/data/preprocess.h"
#include "catdog/models/backbone.h"
#include "catdog/models/registry.h"

namespace catdog {

// Every catdog model: an optional frozen backbone (its top may be unfrozen
// for fine-tuning), then the trainable part.
//  scratch:     (none) -> Conv16-Pool-Conv32-Pool-Conv64-Pool-Flatten-Dense512-DenseN
//  vgg16:       VGG16 base (frozen) -> Dense512-DenseN
//  mobilenetv2: MobileNetV2 base (frozen) -> Dense512-DenseN
// with N outputs, one per class (2 for cat/dog). forward() returns logits;
// softmax of them is the Keras model's output.
class ClassifierImpl : public torch::nn::Module {
 public:
  // keras_init = false leaves the trainable layers with LibTorch's default
  // initialisation: for weights about to be overwritten from a checkpoint
  // (13 M of them in scratch: ~60 ms of a 0.7 s predict).
  // num_classes: the outputs (2: cat and dog). image_size: the side of the
  // square images it takes (preprocess.h; Error outside its rule): scratch's
  // Dense layer has (image_size / 8)^2 x 64 inputs, so its parameter count
  // depends on it; the backbones' pooled features do not.
  explicit ClassifierImpl(ModelKind kind, int64_t num_classes = 2, int image_size = kDefaultImageSize,
                          bool keras_init = true);

  ModelKind kind() const { return kind_; }
  int64_t num_classes() const { return num_classes_; }
  int image_size() const { return image_size_; }
  bool has_frozen_backbone() const { return backbone_ != nullptr; }

  // Frozen part: images -> features (for scratch the images themselves).
  torch::Tensor features(const torch::Tensor& images);
  // Trainable part: features -> logits batch x num_classes().
  torch::Tensor classify(const torch::Tensor& features);
  torch::Tensor forward(const torch::Tensor& images) { return classify(features(images)); }
  // forward() with `tap` on the output of the layer called `layer` (a
  // backbone layer, or one of scratch's), without features()' no-grad mode:
  // what runs after the tap records gradients when the tap asks for them.
  torch::Tensor forward_tapped(const torch::Tensor& images, const std::string& layer, const LayerTap& tap);

  // Fine-tuning: the backbone's weighted Keras layers from `keras_layer` on
  // train with the head (convolutions, and BatchNorm's gamma and beta; its
  // running statistics stay frozen and the backbone in inference mode, as
  // Keras fine-tunes). Error naming the layers for an unknown one.
  void unfreeze_backbone_from(const std::string& keras_layer);
  // The same Error as unfreeze_backbone_from for a layer it would refuse,
  // without unfreezing: a recipe checks its stage 2 before stage 1 runs.
  void require_backbone_layer(const std::string& keras_layer);
  bool backbone_trains() const { return backbone_trains_; }

  // The unfrozen backbone weights (model order), then the head's.
  std::vector<torch::Tensor> trainable_parameters() const;
  // Reads a Keras weight file into the backbone (Error for scratch).
  void load_backbone_weights(const std::filesystem::path& keras_h5);
  void weights_changed();

  // Keeps the frozen backbone in inference mode whatever is asked.
  void train(bool on = true) override;

  std::vector<LayerSummary> summary();

 private:
  ModelKind kind_;
  int64_t num_classes_;
  int image_size_;
  std::shared_ptr<BackboneImpl> backbone_;
  bool backbone_trains_ = false;
  LayerStack head_{nullptr};  // scratch: the whole network
};
TORCH_MODULE(Classifier);


}  // namespace catdog
