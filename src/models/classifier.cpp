#include "catdog/models/classifier.h"

#include <iomanip>
#include <sstream>

#include <torch/torch.h>

#include "catdog/base/error.h"

namespace catdog {

namespace {

namespace nn = torch::nn;

// The recipe's small CNN; layer names as Keras' Sequential gives them.
LayerStack scratch_network(int64_t input_size, int64_t classes) {
  LayerStack network;
  network->add("conv2d", "Conv2D", same_conv3x3(3, 16), Activation::Relu);
  network->add("max_pooling2d", "MaxPooling2D", nn::MaxPool2d(2));
  network->add("conv2d_1", "Conv2D", same_conv3x3(16, 32), Activation::Relu);
  network->add("max_pooling2d_1", "MaxPooling2D", nn::MaxPool2d(2));
  network->add("conv2d_2", "Conv2D", same_conv3x3(32, 64), Activation::Relu);
  network->add("max_pooling2d_2", "MaxPooling2D", nn::MaxPool2d(2));
  network->add("flatten", "Flatten", nn::Flatten());
  const int64_t flattened = 64 * (input_size / 8) * (input_size / 8);
  network->add("dense", "Dense", nn::Linear(flattened, 512), Activation::Relu);
  network->add("dense_1", "Dense", nn::Linear(512, classes));
  return network;
}

LayerStack transfer_head(int64_t features, int64_t classes) {
  LayerStack head;
  head->add("dense", "Dense", nn::Linear(features, 512), Activation::Relu);
  head->add("dense_1", "Dense", nn::Linear(512, classes));
  return head;
}

// Keras' defaults for Conv2D and Dense: glorot_uniform kernels, zero biases.
void keras_initialise(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : module.named_parameters()) {
    if (parameter.value().dim() > 1)
      nn::init::xavier_uniform_(parameter.value());
    else
      nn::init::zeros_(parameter.value());
  }
}

}  // namespace

ClassifierImpl::ClassifierImpl(ModelKind kind, int64_t num_classes, int image_size, bool keras_init)
    : kind_(kind), num_classes_(num_classes), image_size_(image_size) {
  if (num_classes < 2) throw Error("a classifier needs two or more classes, not " + std::to_string(num_classes));
  check_image_size(image_size);
  if (const auto make_backbone = model_spec(kind).make_backbone) backbone_ = make_backbone();
  if (backbone_) {
    register_module("backbone", backbone_);
    for (auto& parameter : backbone_->parameters()) parameter.set_requires_grad(false);
    backbone_->eval();
  }
  head_ = register_module("head", backbone_ ? transfer_head(backbone_->feature_size(), num_classes)
                                            : scratch_network(image_size, num_classes));
  if (keras_init) keras_initialise(*head_);
}

// On the CPU, oneDNN's convolutions and pooling run fastest on channels-last
// (NHWC) tensors: about 1.4x for the scratch model's training step. Results
// differ from NCHW only by float rounding (another summation order).
torch::Tensor ClassifierImpl::features(const torch::Tensor& images) {
  const auto input = images.is_cpu() ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
  if (!backbone_) return input;
  if (backbone_trains_) return backbone_->forward(input);
  torch::NoGradGuard no_grad;
  return backbone_->forward(input);
}

torch::Tensor ClassifierImpl::forward_tapped(const torch::Tensor& images, const std::string& layer,
                                             const LayerTap& tap) {
  const auto input = images.is_cpu() ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
  if (!backbone_) return head_->forward_tapped(input, layer, tap);
  return classify(backbone_->forward_tapped(input, layer, tap));
}

torch::Tensor ClassifierImpl::classify(const torch::Tensor& features) { return head_->forward(features); }

std::vector<torch::Tensor> ClassifierImpl::trainable_parameters() const {
  std::vector<torch::Tensor> parameters;
  if (backbone_)
    for (const auto& parameter : backbone_->parameters())
      if (parameter.requires_grad()) parameters.push_back(parameter);
  for (const auto& parameter : head_->parameters()) parameters.push_back(parameter);
  return parameters;
}

void ClassifierImpl::require_backbone_layer(const std::string& keras_layer) {
  if (!backbone_) throw Error("the scratch model has no backbone to fine-tune: it trains whole already");
  const auto layers = backbone_->keras_layers();
  if (std::any_of(layers.begin(), layers.end(), [&](const auto& layer) { return layer.name == keras_layer; })) return;
  std::string names;
  for (const auto& layer : layers) names += (names.empty() ? "" : ", ") + layer.name;
  throw Error("the " + model_name(kind_) + " backbone has no weighted layer '" + keras_layer +
              "': unfreeze from one of " + names);
}

void ClassifierImpl::unfreeze_backbone_from(const std::string& keras_layer) {
  require_backbone_layer(keras_layer);
  const auto layers = backbone_->keras_layers();
  const auto first = std::find_if(layers.begin(), layers.end(), [&](const auto& layer) { return layer.name == keras_layer; });
  // Keras layers list BatchNorm's running statistics with its weights: they are buffers here and stay frozen.
  std::vector<torch::Tensor> parameters = backbone_->parameters();
  for (auto layer = first; layer != layers.end(); ++layer)
    for (const auto& target : layer->weights)
      for (auto& parameter : parameters)
        if (parameter.is_same(target.tensor)) parameter.set_requires_grad(true);
  backbone_trains_ = true;
}

void ClassifierImpl::load_backbone_weights(const std::filesystem::path& keras_h5) {
  if (!backbone_)
    throw Error("the scratch model has no pretrained backbone: weights apply to vgg16 and mobilenetv2 only");
  assign_keras_weights(read_keras_weights(keras_h5), backbone_->keras_layers(), keras_h5.string());
  weights_changed();
}

void ClassifierImpl::weights_changed() {
  if (backbone_) backbone_->weights_changed();
}

void ClassifierImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (backbone_) backbone_->eval();
}

std::vector<LayerSummary> ClassifierImpl::summary() {
  torch::NoGradGuard no_grad;
  const auto device = parameters().front().device();
  auto x = torch::zeros({1, 3, image_size_, image_size_}, torch::TensorOptions().device(device));
  std::vector<LayerSummary> rows;
  if (backbone_) rows = backbone_->summarize(x);
  for (auto& row : head_->summarize(x)) rows.push_back(std::move(row));
  return rows;
}

}  // namespace catdog
