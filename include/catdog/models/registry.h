#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn.h>

#include "catdog/models/backbone.h"

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
  // The input side (preprocess.h) the backbone's ImageNet weights were trained
  // at, for help and summaries; none for scratch. Runs default to the seed's
  // 160 whatever the model.
  std::optional<int> native_image_size;
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

// What the input pixels of a model taking side x side images are, for
// checkpoints and docs: "RGB, bilinear resize to 160x160, x / 127.5 - 1".
std::string preprocessing_text(int image_size);

// Shorthands over the registry.
ModelKind parse_model_kind(const std::string& name);
std::string model_name(ModelKind kind);

}  // namespace catdog
