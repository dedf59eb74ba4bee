#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "catdog/models/classifier.h"

namespace catdog {

// A Classifier as formats outside LibTorch (ONNX, TorchScript) describe it:
// operations on float32 NCHW tensors in order, each reading earlier values and
// writing one new value. Value 0 is the input, images [N, 3, side, side] with
// pixels scaled to [-1, 1] as preprocess.h does; the last operation writes the
// output [N, classes], the class probabilities (softmax of the logits).
enum class GraphOpKind {
  Conv,               // weight [out, in / groups, k, k], bias; stride; pads; groups
  Relu,
  Relu6,              // clamp to [0, 6] (MobileNetV2)
  MaxPool2x2,         // kernel 2, stride 2, no padding
  GlobalAveragePool,  // N x C x H x W -> N x C
  Flatten,            // N x C x H x W -> N x (C * H * W), in C, H, W order
  Dense,              // weight [out, in], bias: x W^T + b
  Add,                // inputs[0] + inputs[1] (MobileNetV2's residuals)
  Softmax,            // over axis 1
};

struct GraphOp {
  GraphOp(GraphOpKind kind, std::string name, std::vector<int> inputs = {})
      : kind(kind), name(std::move(name)), inputs(std::move(inputs)) {}

  GraphOpKind kind;
  std::string name;         // the Keras layer it comes from, e.g. "block_3_depthwise"
  std::vector<int> inputs;  // value indices
  torch::Tensor weight, bias;  // Conv and Dense: float32, contiguous, on the CPU
  int64_t stride = 1;
  std::array<int64_t, 4> pads{};  // Conv: zeros added at top, left, bottom, right (ONNX's order)
  int64_t groups = 1;
};

struct InferenceGraph {
  int64_t input_size = 0;  // side of the square input
  int64_t classes = 0;
  std::vector<GraphOp> ops;  // ops[i] writes value i + 1
};

// Walks the model's layers (LayerStack, the backbones' blocks) into a graph.
// BatchNorm is folded into the convolution before it the way catdog runs
// MobileNetV2 (in float64, rounded to float32), so the graph computes
// catdog's own numbers. Before returning, the graph is run against the model
// on a fixed input; an Error if they differ (a layer the walk misreads).
InferenceGraph lower_classifier(Classifier& model, int64_t input_size);

// The graph run with LibTorch's operators: probabilities [N, classes].
torch::Tensor run_inference_graph(const InferenceGraph& graph, const torch::Tensor& images);

}  // namespace catdog
