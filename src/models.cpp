#include "catdog/models.h"

#include <iomanip>
#include <sstream>

#include <torch/torch.h>

#include "catdog/error.h"
#include "catdog/mobilenet_v2.h"

namespace catdog {

namespace {

namespace nn = torch::nn;

constexpr int64_t kImageSize = 160;

// Weights and floating-point buffers (BatchNorm statistics), as Keras counts
// them; BatchNorm's integer step counter is not a weight.
int64_t weight_count(const nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  for (const auto& buffer : module.buffers())
    if (buffer.is_floating_point()) count += buffer.numel();
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

std::string with_thousands_separators(int64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

nn::Conv2d same_conv3x3(int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); }

class Vgg16BackboneImpl : public BackboneImpl {
 public:
  Vgg16BackboneImpl() {
    const std::vector<std::vector<int64_t>> blocks = {
        {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
    int64_t channels = 3;
    for (size_t block = 0; block < blocks.size(); ++block) {
      const std::string prefix = "block" + std::to_string(block + 1);
      for (size_t conv = 0; conv < blocks[block].size(); ++conv) {
        const std::string name = prefix + "_conv" + std::to_string(conv + 1);
        convs_.push_back(
            layers_->add(name, "Conv2D", same_conv3x3(channels, blocks[block][conv]), Activation::Relu));
        names_.push_back(name);
        channels = blocks[block][conv];
      }
      layers_->add(prefix + "_pool", "MaxPooling2D", nn::MaxPool2d(2));
    }
    layers_->add("global_average_pooling2d", "GlobalAveragePooling2D", global_average_pooling());
  }

  torch::Tensor forward(const torch::Tensor& images) override { return layers_->forward(images); }
  torch::Tensor forward_tapped(const torch::Tensor& images, const std::string& layer, const LayerTap& tap) override {
    return layers_->forward_tapped(images, layer, tap);
  }
  int64_t feature_size() const override { return 512; }

  std::vector<KerasLayerTarget> keras_layers() override {
    std::vector<KerasLayerTarget> targets;
    for (size_t i = 0; i < convs_.size(); ++i)
      targets.push_back({names_[i],
                         {{convs_[i]->weight, KerasLayout::Conv2DKernel}, {convs_[i]->bias, KerasLayout::Vector}}});
    return targets;
  }

  std::vector<LayerSummary> summarize(torch::Tensor& images) override { return layers_->summarize(images, false); }

 private:
  LayerStack layers_ = register_module("layers", LayerStack());
  std::vector<nn::Conv2d> convs_;
  std::vector<std::string> names_;
};

// The recipe's small CNN; layer names as Keras' Sequential gives them.
LayerStack scratch_network() {
  LayerStack network;
  network->add("conv2d", "Conv2D", same_conv3x3(3, 16), Activation::Relu);
  network->add("max_pooling2d", "MaxPooling2D", nn::MaxPool2d(2));
  network->add("conv2d_1", "Conv2D", same_conv3x3(16, 32), Activation::Relu);
  network->add("max_pooling2d_1", "MaxPooling2D", nn::MaxPool2d(2));
  network->add("conv2d_2", "Conv2D", same_conv3x3(32, 64), Activation::Relu);
  network->add("max_pooling2d_2", "MaxPooling2D", nn::MaxPool2d(2));
  network->add("flatten", "Flatten", nn::Flatten());
  const int64_t flattened = 64 * (kImageSize / 8) * (kImageSize / 8);
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

std::vector<LayerSummary> LayerStackImpl::summarize(torch::Tensor& x, bool trainable) {
  std::vector<LayerSummary> rows;
  for (auto& layer : layers_) {
    x = run(layer, x);
    rows.push_back({layer.name + " (" + layer.keras_type + ")", keras_output_shape(x),
                    weight_count(*layer.module.ptr()), trainable});
  }
  return rows;
}

nn::Functional global_average_pooling() {
  return nn::Functional([](const torch::Tensor& x) { return x.mean({2, 3}); });
}

ModelKind parse_model_kind(const std::string& name) {
  if (name == "scratch") return ModelKind::Scratch;
  if (name == "vgg16") return ModelKind::Vgg16;
  if (name == "mobilenetv2") return ModelKind::MobileNetV2;
  throw Error("unknown model '" + name + "': choose scratch, vgg16 or mobilenetv2");
}

std::string model_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::Vgg16:
      return "vgg16";
    case ModelKind::MobileNetV2:
      return "mobilenetv2";
    case ModelKind::Scratch:
      break;
  }
  return "scratch";
}

int default_epochs(ModelKind kind) { return kind == ModelKind::Scratch ? 10 : 5; }

std::string keras_weights_file_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::Vgg16:
      return "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
    case ModelKind::MobileNetV2:
      return "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5";
    case ModelKind::Scratch:
      break;
  }
  return "";
}

std::shared_ptr<BackboneImpl> make_vgg16_backbone() { return std::make_shared<Vgg16BackboneImpl>(); }

ClassifierImpl::ClassifierImpl(ModelKind kind, bool keras_init) : kind_(kind) {
  if (kind == ModelKind::Vgg16) backbone_ = make_vgg16_backbone();
  if (kind == ModelKind::MobileNetV2) backbone_ = make_mobilenet_v2_backbone();
  if (backbone_) {
    register_module("backbone", backbone_);
    for (auto& parameter : backbone_->parameters()) parameter.set_requires_grad(false);
    backbone_->eval();
  }
  head_ = register_module("head", backbone_ ? transfer_head(backbone_->feature_size()) : scratch_network());
  if (keras_init) keras_initialise(*head_);
}

// On the CPU, oneDNN's convolutions and pooling run fastest on channels-last
// (NHWC) tensors: about 1.4x for the scratch model's training step. Results
// differ from NCHW only by float rounding (another summation order).
torch::Tensor ClassifierImpl::features(const torch::Tensor& images) {
  const auto input = images.is_cpu() ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
  if (!backbone_) return input;
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

std::vector<torch::Tensor> ClassifierImpl::trainable_parameters() const { return head_->parameters(); }

void ClassifierImpl::load_backbone_weights(const std::filesystem::path& keras_h5) {
  if (!backbone_)
    throw Error("the scratch model has no pretrained backbone: weights apply to vgg16 and mobilenetv2 only");
  if (!std::filesystem::exists(keras_h5))
    throw Error("no " + model_name(kind_) + " ImageNet weights at " + keras_h5.string() +
                ": run scripts/download_weights.sh " + model_name(kind_) + " (it saves data/weights/" +
                keras_weights_file_name(kind_) + ") or give a Keras no-top .h5 with --weights FILE");
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
  auto x = torch::zeros({1, 3, kImageSize, kImageSize}, torch::TensorOptions().device(device));
  std::vector<LayerSummary> rows;
  if (backbone_) rows = backbone_->summarize(x);
  for (auto& row : head_->summarize(x, true)) rows.push_back(std::move(row));
  return rows;
}

std::string format_summary(Classifier& model) {
  const auto rows = model->summary();
  int64_t total = 0, trainable = 0;
  size_t name_width = 28;
  for (const auto& row : rows) {
    total += row.parameters;
    if (row.trainable) trainable += row.parameters;
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
