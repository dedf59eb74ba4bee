#include "catdog/models/registry.h"

#include <algorithm>

#include "catdog/base/error.h"
#include "catdog/models/mobilenet_v2.h"
#include "catdog/models/vgg16.h"

namespace catdog {

namespace {

const std::string kWeightsBase = "https://storage.googleapis.com/tensorflow/keras-applications/";

}  // namespace

std::string preprocessing_text(int image_size) {
  const std::string side = std::to_string(image_size);
  return "RGB, bilinear resize to " + side + "x" + side + ", x / 127.5 - 1";
}

const std::vector<ModelSpec>& model_registry() {
  // Keras' official weight files, their sizes and hashes.
  // Unfreeze points: the TensorFlow transfer-learning tutorial fine-tunes
  // MobileNetV2 from layer 100 on (block_11_expand_relu, a ReLU: the first
  // weights after it are block_11_depthwise's); VGG16's usual choice is its
  // last block.
  static const std::vector<ModelSpec> registry = {
      {ModelKind::Scratch, "scratch", 10, 30, std::nullopt, "", "", "", 0, {}, "conv2d_2", nullptr},
      {ModelKind::Vgg16, "vgg16", 5, 10, 224,
       "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
       kWeightsBase + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
       "6d6bbae143d832006294945121d1f1fc", 58889256, {"block5_conv1", 15}, "block5_conv3",
       &make_vgg16_backbone},
      {ModelKind::MobileNetV2, "mobilenetv2", 5, 10, 224,
       "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
       kWeightsBase + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", "",
       9406464, {"block_11_depthwise", 100}, "Conv_1",
       [] { return make_mobilenet_v2_backbone(); }},
  };
  return registry;
}

const ModelSpec& model_spec(ModelKind kind) {
  for (const auto& spec : model_registry())
    if (spec.kind == kind) return spec;
  throw Error("model kind " + std::to_string(static_cast<int>(kind)) + " is not in the registry");
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& spec : model_registry()) names.push_back(spec.name);
  return names;
}

const ModelSpec& model_spec(const std::string& name) {
  for (const auto& spec : model_registry())
    if (spec.name == name) return spec;
  const auto names = model_names();
  std::string choices = names.front();
  for (size_t i = 1; i < names.size(); ++i) choices += (i + 1 < names.size() ? ", " : " or ") + names[i];
  throw Error("unknown model '" + name + "': choose " + choices);
}

ModelKind parse_model_kind(const std::string& name) { return model_spec(name).kind; }

std::string model_name(ModelKind kind) { return model_spec(kind).name; }

}  // namespace catdog
