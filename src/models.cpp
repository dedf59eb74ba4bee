#include "catdog/models.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include <torch/torch.h>

#include "catdog/error.h"
#include "catdog/mobilenet_v2.h"
#include "catdog/preprocess.h"
#include "catdog/vgg16.h"

namespace catdog {

namespace {

namespace nn = torch::nn;

const std::string kWeightsBase = "https://storage.googleapis.com/tensorflow/keras-applications/";

std::string preprocessing_text() {
  const std::string side = std::to_string(kImageSize);
  return "RGB, bilinear resize to " + side + "x" + side + ", x / 127.5 - 1";
}

std::string with_thousands_separators(int64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

// The recipe's small CNN; layer names as Keras' Sequential gives them.
LayerStack scratch_network(int64_t input_size) {
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
  network->add("dense_1", "Dense", nn::Linear(512, 2));
  return network;
}

LayerStack transfer_head(int64_t features) {
  LayerStack head;
  head->add("dense", "Dense", nn::Linear(features, 512), Activation::Relu);
  head->add("dense_1", "Dense", nn::Linear(512, 2));
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

const std::vector<ModelSpec>& model_registry() {
  // Weight files, URLs, sizes and hashes as Keras publishes them (keras.applications).
  // Unfreeze points: the TensorFlow transfer-learning tutorial fine-tunes
  // MobileNetV2 from layer 100 on (block_11_expand_relu, a ReLU: the first
  // weights after it are block_11_depthwise's); VGG16's usual choice is its
  // last block.
  static const std::vector<ModelSpec> registry = {
      {ModelKind::Scratch, "scratch", 10, 30, kImageSize, preprocessing_text(), "", "", "", 0, {}, "conv2d_2", nullptr},
      {ModelKind::Vgg16, "vgg16", 5, 10, kImageSize, preprocessing_text(),
       "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
       kWeightsBase + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
       "6d6bbae143d832006294945121d1f1fc", 58889256, {"block5_conv1", 15}, "block5_conv3",
       &make_vgg16_backbone},
      {ModelKind::MobileNetV2, "mobilenetv2", 5, 10, kImageSize, preprocessing_text(),
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

ClassifierImpl::ClassifierImpl(ModelKind kind, bool keras_init) : kind_(kind) {
  if (const auto make_backbone = model_spec(kind).make_backbone) backbone_ = make_backbone();
  if (backbone_) {
    register_module("backbone", backbone_);
    for (auto& parameter : backbone_->parameters()) parameter.set_requires_grad(false);
    backbone_->eval();
  }
  head_ = register_module("head", backbone_ ? transfer_head(backbone_->feature_size())
                                            : scratch_network(model_spec(kind).input_size));
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
  if (!std::filesystem::exists(keras_h5))
    throw Error("no " + model_name(kind_) + " ImageNet weights at " + keras_h5.string() + ": give Keras' " +
                model_spec(kind_).keras_weights_file + " or another Keras no-top .h5 file");
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
  const int64_t side = model_spec(kind_).input_size;
  auto x = torch::zeros({1, 3, side, side}, torch::TensorOptions().device(device));
  std::vector<LayerSummary> rows;
  if (backbone_) rows = backbone_->summarize(x);
  for (auto& row : head_->summarize(x)) rows.push_back(std::move(row));
  return rows;
}

std::string format_summary(Classifier& model) {
  const auto rows = model->summary();
  int64_t total = 0, trainable = 0;
  size_t name_width = 28;
  for (const auto& row : rows) {
    total += row.parameters;
    trainable += row.trainable_parameters;
    name_width = std::max(name_width, row.name.size() + 2);
  }
  const std::string rule(name_width + 38, '_'), double_rule(name_width + 38, '=');
  std::ostringstream text;
  const auto line = [&](const std::string& name, const std::string& shape, const std::string& parameters) {
    text << ' ' << std::left << std::setw(static_cast<int>(name_width)) << name << std::setw(26) << shape
         << parameters << "\n";
  };
  text << "Model: \"" << model_name(model->kind()) << "\"\n" << rule << "\n";
  line("Layer (type)", "Output Shape", "Param #");
  text << double_rule << "\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    line(rows[i].name, rows[i].output_shape, std::to_string(rows[i].parameters));
    text << (i + 1 < rows.size() ? "\n" : "");
  }
  text << double_rule << "\n"
       << "Total params: " << with_thousands_separators(total) << "\n"
       << "Trainable params: " << with_thousands_separators(trainable) << "\n"
       << "Non-trainable params: " << with_thousands_separators(total - trainable) << "\n"
       << rule << "\n";
  return text.str();
}

}  // namespace catdog
