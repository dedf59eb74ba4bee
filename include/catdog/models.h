#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn.h>

#include "catdog/backbone.h"

namespace catdog {

enum class ModelKind { Scratch, Vgg16, MobileNetV2 };

// Where fine-tuning starts by default: the recipe's index in the Keras
// model's `layers` (layers[keras_index:] train) and the first of those with
// weights, which is what ClassifierImpl::unfreeze_backbone_from takes.
struct UnfreezePoint {
  std::string keras_layer;  // "" = nothing to unfreeze (no backbone)
  int keras_index = -1;
};

// Everything catdog knows about one model: the one table (model_registry)
// that the CLI's choices, the trainer's defaults, the weight-file lookup,
// checkpoints and `catdog summary` all read. Adding a backbone is one entry
// plus its module.
struct ModelSpec {
  ModelKind kind;
  std::string name;          // as typed on the command line and stored in checkpoints
  int default_epochs;        // the original recipe
  // With --augment (and --fine-tune's first stage): augmented images take longer
  // to fit. Scratch: 10 epochs left it underfitting (train accuracy 0.71, val 0.75);
  // 30 reached val 0.81 (BENCHMARKS.md). Transfer: the TF tutorial's 10.
  int augmented_epochs;
  int input_size;            // square input side (preprocess.h's kImageSize)
  std::string preprocessing; // what the input pixels are, for checkpoints and docs
  // Keras' official ImageNet no-top weight file: where catdog downloads it from, and the
  // size and MD5 a download or a cached copy must have (app/weights.h).
  std::string keras_weights_file;  // "" for scratch
  std::string weights_url;
  std::string weights_md5;         // "" when Keras pins none
  int64_t weights_bytes;
  UnfreezePoint unfreeze_from;
  // The last convolutional layer: where Grad-CAM (gradcam.h) reads the activations.
  std::string gradcam_layer;
  // The frozen feature extractor; null for scratch.
  std::shared_ptr<BackboneImpl> (*make_backbone)();
};

// Every model, in the order the CLI lists them.
const std::vector<ModelSpec>& model_registry();
const ModelSpec& model_spec(ModelKind kind);
// By name (an Error listing the choices otherwise).
const ModelSpec& model_spec(const std::string& name);
std::vector<std::string> model_names();

// Shorthands over the registry.
ModelKind parse_model_kind(const std::string& name);
std::string model_name(ModelKind kind);

// Every catdog model: an optional frozen backbone (its top may be unfrozen
// for fine-tuning), then the trainable part.
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
  std::shared_ptr<BackboneImpl> backbone_;
  bool backbone_trains_ = false;
  LayerStack head_{nullptr};  // scratch: the whole network
};
TORCH_MODULE(Classifier);

// Keras-style table: layer, output shape, parameters; then total / trainable / frozen.
std::string format_summary(Classifier& model);

}  // namespace catdog
