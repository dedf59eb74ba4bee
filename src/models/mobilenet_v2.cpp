#include "catdog/models/mobilenet_v2.h"

#include <torch/torch.h>

namespace catdog {

namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

constexpr double kBatchNormEpsilon = 1e-3;  // Keras' default; PyTorch's 1e-5 gives other numbers

// A bias-free convolution and its BatchNorm (two Keras layers), optionally
// followed by ReLU6. With `fold`, forward runs one convolution with the
// BatchNorm folded in; the folded tensors are derived, not registered, so
// the parameters keep Keras' unfolded form.
class ConvBnImpl : public nn::Module {
 public:
  ConvBnImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, bool depthwise, bool relu6, bool fold)
      : kernel_(kernel),
        stride_(stride),
        padding_(stride == 1 ? kernel / 2 : 0),  // stride 2 pads explicitly, see pad_like_keras
        groups_(depthwise ? in : 1),
        conv_(register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                                     .stride(stride)
                                                     .padding(padding_)
                                                     .groups(groups_)
                                                     .bias(false)))),
        // Keras' BatchNormalization momentum 0.999 is PyTorch's 0.001.
        bn_(register_module("bn", nn::BatchNorm2d(
                                      nn::BatchNorm2dOptions(out).eps(kBatchNormEpsilon).momentum(0.001)))),
        depthwise_(depthwise),
        relu6_(relu6),
        fold_(fold) {}

  torch::Tensor forward(const torch::Tensor& input) {
    const auto x = stride_ == 1 ? input : pad_like_keras(input, kernel_);
    torch::Tensor y;
    if (fold_ && trains()) {
      // Fine-tuning: fold afresh each pass, through autograd, so that the
      // gradients reach the convolution and BatchNorm's gamma and beta.
      const auto scale = bn_->weight / (bn_->running_var + kBatchNormEpsilon).sqrt();
      y = F::conv2d(x, conv_->weight * scale.view({-1, 1, 1, 1}),
                    F::Conv2dFuncOptions()
                        .bias(bn_->bias - bn_->running_mean * scale)
                        .stride(stride_)
                        .padding(padding_)
                        .groups(groups_));
    } else if (fold_) {
      if (!folded_weight_.defined() || folded_weight_.device() != conv_->weight.device()) refold();
      y = F::conv2d(x, folded_weight_,
                    F::Conv2dFuncOptions().bias(folded_bias_).stride(stride_).padding(padding_).groups(groups_));
    } else {
      y = bn_(conv_(x));
    }
    if (!relu6_) return y;
    // In place only outside autograd: clamp's backward needs its input.
    return y.requires_grad() ? y.clamp(0, 6) : y.clamp_(0, 6);
  }

  void weights_changed() {
    if (fold_) refold();
  }

  bool trains() const {
    return conv_->weight.requires_grad() || bn_->weight.requires_grad() || bn_->bias.requires_grad();
  }

  void add_keras_layers(std::vector<KerasLayerTarget>& layers, const std::string& conv_name,
                        const std::string& bn_name) {
    layers.push_back({conv_name,
                      {{conv_->weight, depthwise_ ? KerasLayout::DepthwiseKernel : KerasLayout::Conv2DKernel}}});
    layers.push_back({bn_name,
                      {{bn_->weight, KerasLayout::Vector},
                       {bn_->bias, KerasLayout::Vector},
                       {bn_->running_mean, KerasLayout::Vector},
                       {bn_->running_var, KerasLayout::Vector}}});
  }

 private:
  // BN(conv(x)) = conv(x) * scale + shift with scale = gamma / sqrt(var + eps).
  void refold() {
    torch::NoGradGuard no_grad;
    const auto scale = bn_->weight.to(torch::kFloat64) / (bn_->running_var.to(torch::kFloat64) + kBatchNormEpsilon).sqrt();
    folded_weight_ = (conv_->weight.to(torch::kFloat64) * scale.view({-1, 1, 1, 1})).to(torch::kFloat32);
    folded_bias_ = (bn_->bias.to(torch::kFloat64) - bn_->running_mean.to(torch::kFloat64) * scale).to(torch::kFloat32);
  }

  int64_t kernel_, stride_, padding_, groups_;
  nn::Conv2d conv_;
  nn::BatchNorm2d bn_;
  bool depthwise_, relu6_, fold_;
  torch::Tensor folded_weight_, folded_bias_;
};
TORCH_MODULE(ConvBn);

// MobileNetV2's inverted residual: 1x1 expand (skipped when t = 1), 3x3
// depthwise, linear 1x1 project, plus the input when the shapes allow.
class InvertedResidualImpl : public nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t expansion, int64_t out, int64_t stride, bool fold)
      : residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expansion;
    if (expansion != 1) expand_ = register_module("expand", ConvBn(in, hidden, 1, 1, false, true, fold));
    depthwise_ = register_module("depthwise", ConvBn(hidden, hidden, 3, stride, true, true, fold));
    project_ = register_module("project", ConvBn(hidden, out, 1, 1, false, false, fold));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto y = project_(depthwise_(expand_ ? expand_(x) : x));
    return residual_ ? y.add_(x) : y;
  }

  // Keras names: block 0 is "expanded_conv", the others "block_<i>".
  void add_keras_layers(std::vector<KerasLayerTarget>& layers, const std::string& prefix) {
    if (expand_) expand_->add_keras_layers(layers, prefix + "_expand", prefix + "_expand_BN");
    depthwise_->add_keras_layers(layers, prefix + "_depthwise", prefix + "_depthwise_BN");
    project_->add_keras_layers(layers, prefix + "_project", prefix + "_project_BN");
  }

 private:
  bool residual_;
  ConvBn expand_{nullptr}, depthwise_{nullptr}, project_{nullptr};
};
TORCH_MODULE(InvertedResidual);

class MobileNetV2BackboneImpl : public BackboneImpl {
 public:
  explicit MobileNetV2BackboneImpl(bool fold) {
    stem_ = layers_->add("Conv1", "Conv2D+BN+ReLU6", ConvBn(3, 32, 3, 2, false, true, fold));
    struct Stage {
      int64_t expansion, channels, repeats, stride;
    };
    const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2},  {6, 64, 4, 2},
                            {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t channels = 32;
    for (const auto& stage : stages)
      for (int64_t i = 0; i < stage.repeats; ++i) {
        const std::string name = blocks_.empty() ? "expanded_conv" : "block_" + std::to_string(blocks_.size());
        blocks_.push_back(layers_->add(
            name, "InvertedResidual",
            InvertedResidual(channels, stage.expansion, stage.channels, i == 0 ? stage.stride : 1, fold)));
        block_names_.push_back(name);
        channels = stage.channels;
      }
    head_ = layers_->add("Conv_1", "Conv2D+BN+ReLU6", ConvBn(channels, 1280, 1, 1, false, true, fold));
    layers_->add("global_average_pooling2d", "GlobalAveragePooling2D", global_average_pooling());
  }

  // Channels-last lets oneDNN run the depthwise and 1x1 convolutions without
  // reordering between layers (about 3x faster on CPU than NCHW here).
  torch::Tensor forward(const torch::Tensor& images) override {
    return layers_->forward(images.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  torch::Tensor forward_tapped(const torch::Tensor& images, const std::string& layer, const LayerTap& tap) override {
    return layers_->forward_tapped(images.contiguous(torch::MemoryFormat::ChannelsLast), layer, tap);
  }
  int64_t feature_size() const override { return 1280; }

  std::vector<KerasLayerTarget> keras_layers() override {
    std::vector<KerasLayerTarget> layers;
    stem_->add_keras_layers(layers, "Conv1", "bn_Conv1");
    for (size_t i = 0; i < blocks_.size(); ++i) blocks_[i]->add_keras_layers(layers, block_names_[i]);
    head_->add_keras_layers(layers, "Conv_1", "Conv_1_bn");
    return layers;
  }

  void weights_changed() override {
    for (auto& module : modules())
      if (auto* conv_bn = module->as<ConvBnImpl>()) conv_bn->weights_changed();
  }

  std::vector<LayerSummary> summarize(torch::Tensor& images) override { return layers_->summarize(images); }

 private:
  LayerStack layers_ = register_module("layers", LayerStack());
  ConvBn stem_{nullptr}, head_{nullptr};
  std::vector<InvertedResidual> blocks_;
  std::vector<std::string> block_names_;
};

}  // namespace

std::array<int64_t, 4> keras_pads(int64_t height, int64_t width, int64_t kernel) {
  const int64_t half = kernel / 2;
  return {half - (1 - height % 2), half - (1 - width % 2), half, half};
}

torch::Tensor pad_like_keras(const torch::Tensor& x, int64_t kernel) {
  const auto pads = keras_pads(x.size(2), x.size(3), kernel);
  return F::pad(x, F::PadFuncOptions({pads[1], pads[3], pads[0], pads[2]}));
}

std::shared_ptr<BackboneImpl> make_mobilenet_v2_backbone(bool fold_batchnorm) {
  return std::make_shared<MobileNetV2BackboneImpl>(fold_batchnorm);
}

}  // namespace catdog
