#include "catdog/infer/inference_graph.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>

#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/models/backbone.h"
#include "catdog/models/mobilenet_v2.h"
#include "catdog/models/registry.h"

namespace catdog {

namespace {

namespace nn = torch::nn;

// How far a graph's outputs may stray from the model's, relative to the
// largest of them (at least 1: probabilities): float rounding of another
// summation order, far below what changes a verdict.
constexpr double kSelfCheckTolerance = 1e-4;

std::shared_ptr<nn::Module> child(nn::Module& parent, const std::string& name) {
  const auto children = parent.named_children();
  const auto* found = children.find(name);
  return found ? *found : nullptr;
}

template <typename Impl>
Impl& child_as(nn::Module& parent, const std::string& name) {
  const auto found = child(parent, name);
  Impl* typed = found ? found->as<Impl>() : nullptr;
  if (!typed) throw Error("inference graph: a layer has no '" + name + "' part of the expected type");
  return *typed;
}

template <typename Impl>
Impl& module_as(const LayerStackImpl::Layer& layer) {
  Impl* typed = layer.module.ptr()->as<Impl>();
  if (!typed) throw Error("inference graph: layer '" + layer.name + "' is not the " + layer.keras_type + " it says it is");
  return *typed;
}

class Lowering {
 public:
  explicit Lowering(int64_t input_size) : height_(input_size), width_(input_size) {
    graph_.input_size = input_size;
  }

  void stack(LayerStackImpl& layers) {
    for (const auto& layer : layers.layers()) this->layer(layer);
  }

  InferenceGraph finish(GraphOutput output) {
    if (output == GraphOutput::Probabilities) emit({GraphOpKind::Softmax, "softmax"});
    graph_.output = output;
    return std::move(graph_);
  }

 private:
  // Appends `op` (reading the current value unless it names its inputs); its output becomes current.
  void emit(GraphOp op) {
    if (op.inputs.empty()) op.inputs = {current_};
    graph_.ops.push_back(std::move(op));
    current_ = static_cast<int>(graph_.ops.size());
  }

  void layer(const LayerStackImpl::Layer& layer) {
    const std::string& type = layer.keras_type;
    if (type == "Conv2D") {
      conv(layer.name, module_as<nn::Conv2dImpl>(layer), nullptr);
    } else if (type == "MaxPooling2D") {
      const auto& options = module_as<nn::MaxPool2dImpl>(layer).options;
      if ((*options.kernel_size())[0] != 2 || (*options.kernel_size())[1] != 2 || (*options.stride())[0] != 2 ||
          (*options.stride())[1] != 2 || (*options.padding())[0] != 0 || (*options.padding())[1] != 0 ||
          options.ceil_mode())
        throw Error("inference graph: max pooling '" + layer.name + "' is not the 2x2, stride 2 kind it can write");
      emit({GraphOpKind::MaxPool2x2, layer.name});
      height_ /= 2;
      width_ /= 2;
    } else if (type == "Flatten") {
      emit({GraphOpKind::Flatten, layer.name});
    } else if (type == "GlobalAveragePooling2D") {
      emit({GraphOpKind::GlobalAveragePool, layer.name});
    } else if (type == "Dense") {
      const auto& linear = module_as<nn::LinearImpl>(layer);
      GraphOp dense{GraphOpKind::Dense, layer.name};
      dense.weight = linear.weight.detach().to(torch::kFloat32).contiguous();
      dense.bias = linear.bias.defined() ? linear.bias.detach().to(torch::kFloat32).contiguous()
                                         : torch::zeros({linear.weight.size(0)});
      graph_.classes = linear.weight.size(0);
      emit(std::move(dense));
    } else if (type == "Conv2D+BN+ReLU6") {
      conv_bn(layer.name, *layer.module.ptr(), true);
    } else if (type == "InvertedResidual") {
      inverted_residual(layer.name, *layer.module.ptr());
    } else {
      throw Error("inference graph: layer '" + layer.name + "' (" + type + ") has no ONNX or TorchScript form yet");
    }
    if (layer.activation == Activation::Relu) emit({GraphOpKind::Relu, layer.name + "_relu"});
  }

  // A convolution, with `bn` folded in: BN(conv(x)) = conv(x) * scale + shift,
  // scale = gamma / sqrt(var + eps), in float64 as MobileNetV2's refold does.
  void conv(const std::string& name, const nn::Conv2dImpl& conv, const nn::BatchNorm2dImpl* bn) {
    const auto& options = conv.options;
    const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&options.padding());
    if (!padding || (*options.dilation())[0] != 1 || (*options.dilation())[1] != 1 ||
        (*options.stride())[0] != (*options.stride())[1] || !c10::get_if<torch::enumtype::kZeros>(&options.padding_mode()))
      throw Error("inference graph: convolution '" + name + "' has a padding, dilation or stride it cannot write");
    const int64_t kernel = (*options.kernel_size())[0];
    GraphOp op{GraphOpKind::Conv, name};
    op.stride = (*options.stride())[0];
    op.groups = options.groups();
    op.pads = {(**padding)[0], (**padding)[1], (**padding)[0], (**padding)[1]};
    if (op.stride != 1) {  // MobileNetV2 pads stride-2 convolutions as Keras does, before them
      const auto keras = keras_pads(height_, width_, kernel);
      for (size_t i = 0; i < op.pads.size(); ++i) op.pads[i] += keras[i];
    }
    torch::NoGradGuard no_grad;
    auto weight = conv.weight.detach().to(torch::kFloat64);
    auto bias = conv.bias.defined() ? conv.bias.detach().to(torch::kFloat64)
                                    : torch::zeros({weight.size(0)}, torch::kFloat64);
    if (bn) {
      const auto scale = bn->weight.detach().to(torch::kFloat64) /
                         (bn->running_var.to(torch::kFloat64) + bn->options.eps()).sqrt();
      weight = weight * scale.view({-1, 1, 1, 1});
      bias = (bias - bn->running_mean.to(torch::kFloat64)) * scale + bn->bias.detach().to(torch::kFloat64);
    }
    op.weight = weight.to(torch::kFloat32).contiguous();
    op.bias = bias.to(torch::kFloat32).contiguous();
    channels_ = weight.size(0);
    height_ = (height_ + op.pads[0] + op.pads[2] - kernel) / op.stride + 1;
    width_ = (width_ + op.pads[1] + op.pads[3] - kernel) / op.stride + 1;
    emit(std::move(op));
  }

  // MobileNetV2's convolution + BatchNorm (+ ReLU6) unit: children conv, bn.
  void conv_bn(const std::string& name, nn::Module& unit, bool relu6) {
    conv(name, child_as<nn::Conv2dImpl>(unit, "conv"), &child_as<nn::BatchNorm2dImpl>(unit, "bn"));
    if (relu6) emit({GraphOpKind::Relu6, name + "_relu6"});
  }

  // MobileNetV2's inverted residual: expand (absent when t = 1) and
  // depthwise with ReLU6, a linear projection, and the block's input added
  // back when stride and channels allow.
  void inverted_residual(const std::string& name, nn::Module& block) {
    const int input = current_;
    const int64_t input_channels = channels_;
    const auto depthwise = child(block, "depthwise"), project = child(block, "project");
    if (!depthwise || !project) throw Error("inference graph: block '" + name + "' is not an inverted residual");
    if (const auto expand = child(block, "expand")) conv_bn(name + "_expand", *expand, true);
    conv_bn(name + "_depthwise", *depthwise, true);
    conv_bn(name + "_project", *project, false);
    const int64_t stride = (*child_as<nn::Conv2dImpl>(*depthwise, "conv").options.stride())[0];
    if (stride == 1 && channels_ == input_channels) emit({GraphOpKind::Add, name + "_add", {current_, input}});
  }

  InferenceGraph graph_;
  int current_ = 0;  // the value the next operation reads
  int64_t height_, width_, channels_ = 3;
};

// An attribute name for a Keras layer name ("block_3_depthwise" stays).
std::string identifier(const std::string& name) {
  std::string text = name;
  for (auto& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return std::isdigit(static_cast<unsigned char>(text.front())) ? "_" + text : text;
}

std::string int_list(std::initializer_list<int64_t> values) {
  std::string text = "[";
  for (const auto value : values) text += (text.size() > 1 ? ", " : "") + std::to_string(value);
  return text + "]";
}

// A fixed input with pixels spread over [-1, 1]: the same every export, and
// no draw from LibTorch's random generator.
torch::Tensor self_check_images(int64_t side) {
  return torch::sin(torch::arange(2 * 3 * side * side, torch::kFloat32) * 0.37f).view({2, 3, side, side});
}

}  // namespace

InferenceGraph lower_classifier(Classifier& model, int64_t input_size, GraphOutput output) {
  Lowering lowering(input_size);
  const auto backbone = child(*model, "backbone");
  if (backbone) lowering.stack(child_as<LayerStackImpl>(*backbone, "layers"));
  if (output == GraphOutput::Features) {
    if (!backbone) throw Error("inference graph: a " + model_name(model->kind()) + " model has no backbone features");
  } else {
    lowering.stack(child_as<LayerStackImpl>(*model, "head"));
  }
  return lowering.finish(output);
}

void require_same_outputs(Classifier& model, const InferenceGraph& graph,
                          const std::function<torch::Tensor(const torch::Tensor&)>& run, const std::string& what) {
  torch::NoGradGuard no_grad;
  const auto images = self_check_images(graph.input_size).to(model->parameters().front().device());
  torch::Tensor expected;
  switch (graph.output) {
    case GraphOutput::Probabilities: expected = torch::softmax(model->forward(images), 1); break;
    case GraphOutput::Logits: expected = model->forward(images); break;
    case GraphOutput::Features: expected = model->features(images); break;
  }
  expected = expected.to(torch::kCPU, torch::kFloat32);
  const auto actual = run(images).to(torch::kCPU, torch::kFloat32);
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  const double difference = actual.sizes() == expected.sizes() ? (actual - expected).abs().max().item<double>() / scale
                                                               : std::numeric_limits<double>::infinity();
  if (!(difference <= kSelfCheckTolerance))
    throw Error(what + ": the " + model_name(model->kind()) + " network differs from catdog's by " +
                std::to_string(difference) + " (relative) in an output (a catdog bug: please report it)");
}

torch::Tensor run_inference_graph(const InferenceGraph& graph, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> values = {images};
  for (const auto& op : graph.ops) {
    const auto& x = values[static_cast<size_t>(op.inputs.front())];
    torch::Tensor y;
    switch (op.kind) {
      case GraphOpKind::Conv: {
        const auto padded = torch::constant_pad_nd(x, {op.pads[1], op.pads[3], op.pads[0], op.pads[2]}, 0);
        y = nn::functional::conv2d(
            padded, op.weight, nn::functional::Conv2dFuncOptions().bias(op.bias).stride(op.stride).groups(op.groups));
        break;
      }
      case GraphOpKind::Relu: y = torch::relu(x); break;
      case GraphOpKind::Relu6: y = torch::clamp(x, 0, 6); break;
      case GraphOpKind::MaxPool2x2: y = torch::max_pool2d(x, 2); break;
      case GraphOpKind::GlobalAveragePool: y = x.mean({2, 3}); break;
      case GraphOpKind::Flatten: y = x.flatten(1); break;
      case GraphOpKind::Dense: y = torch::addmm(op.bias, x, op.weight.t()); break;
      case GraphOpKind::Add: y = x + values[static_cast<size_t>(op.inputs[1])]; break;
      case GraphOpKind::Softmax: y = torch::softmax(x, 1); break;
    }
    values.push_back(y);
  }
  return values.back();
}

torch::jit::Module script_module(const InferenceGraph& graph) {
  torch::jit::Module module("CatdogClassifier");
  std::ostringstream forward;
  forward << "def forward(self, images):\n";
  std::vector<std::string> values = {"images"};
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const auto& op = graph.ops[i];
    const auto input = [&](size_t k) { return values[static_cast<size_t>(op.inputs[k])]; };
    const auto parameter = [&](const std::string& part, const torch::Tensor& tensor) {
      const std::string name = identifier(op.name) + "_" + part;
      module.register_parameter(name, tensor, /*requires_grad=*/false);
      return "self." + name;
    };
    const std::string value = "v" + std::to_string(i + 1);
    forward << "    " << value << " = ";
    switch (op.kind) {
      case GraphOpKind::Conv: {
        const bool symmetric = op.pads[0] == op.pads[2] && op.pads[1] == op.pads[3];
        const std::string padded =
            symmetric ? input(0)
                      : "torch.constant_pad_nd(" + input(0) + ", " +
                            int_list({op.pads[1], op.pads[3], op.pads[0], op.pads[2]}) + ", 0.0)";
        forward << "torch.conv2d(" << padded << ", " << parameter("weight", op.weight) << ", "
                << parameter("bias", op.bias) << ", " << int_list({op.stride, op.stride}) << ", "
                << (symmetric ? int_list({op.pads[0], op.pads[1]}) : int_list({0, 0})) << ", [1, 1], " << op.groups
                << ")";
        break;
      }
      case GraphOpKind::Relu: forward << "torch.relu(" << input(0) << ")"; break;
      case GraphOpKind::Relu6: forward << "torch.clamp(" << input(0) << ", 0.0, 6.0)"; break;
      case GraphOpKind::MaxPool2x2:
        forward << "torch.max_pool2d(" << input(0) << ", [2, 2], [2, 2], [0, 0], [1, 1], False)";
        break;
      case GraphOpKind::GlobalAveragePool: forward << "torch.mean(" << input(0) << ", [2, 3])"; break;
      case GraphOpKind::Flatten: forward << "torch.flatten(" << input(0) << ", 1)"; break;
      case GraphOpKind::Dense:
        forward << "torch.addmm(" << parameter("bias", op.bias) << ", " << input(0) << ", "
                << parameter("weight", op.weight) << ".t())";
        break;
      case GraphOpKind::Add: forward << input(0) << " + " << input(1); break;
      case GraphOpKind::Softmax: forward << "torch.softmax(" << input(0) << ", 1)"; break;
    }
    forward << "\n";
    values.push_back(value);
  }
  forward << "    return " << values.back() << "\n";
  try {
    module.define(forward.str());
  } catch (const c10::Error& e) {
    throw Error("inference graph: the TorchScript forward does not compile (a catdog bug: please report it): " +
                std::string(e.what_without_backtrace()));
  }
  module.eval();
  return module;
}

}  // namespace catdog
