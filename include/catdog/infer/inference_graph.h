#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/script.h>
#include <torch/types.h>

#include "catdog/models/classifier.h"

namespace catdog {

// A Classifier as a graph of operations, the one form that the inference
// engine (engine.h) and the exports (ONNX, TorchScript) start from:
// operations on float32 NCHW tensors in order, each reading earlier values and
// writing one new value. Value 0 is the input, images [N, 3, side, side] with
// pixels scaled to [-1, 1] as preprocess.h does; the last operation writes the
// output (GraphOutput).
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

// What a graph computes from the images.
enum class GraphOutput {
  Probabilities,  // [N, classes]: softmax of the logits (the exports)
  Logits,         // [N, classes]: the model's forward()
  Features,       // [N, feature size]: the frozen backbone's features() (models with a backbone)
};

struct InferenceGraph {
  int64_t input_size = 0;  // side of the square input
  int64_t classes = 0;     // 0 for GraphOutput::Features
  GraphOutput output = GraphOutput::Probabilities;
  std::vector<GraphOp> ops;  // ops[i] writes value i + 1
};

// Walks the model's layers (LayerStack, the backbones' blocks) into a graph
// of `output`. BatchNorm is folded into the convolution before it the way
// catdog runs MobileNetV2 (in float64, rounded to float32), so the graph
// computes catdog's own numbers. Checks nothing: see require_same_outputs.
InferenceGraph lower_classifier(Classifier& model, int64_t input_size,
                                GraphOutput output = GraphOutput::Probabilities);

// Runs the model (eagerly, in float32) and `run` on a fixed input of the
// graph's size and compares what they compute for graph.output; an Error
// naming `what` when they differ by more than float rounding (a layer the walk
// misreads, a pass that changes the numbers: a catdog bug).
void require_same_outputs(Classifier& model, const InferenceGraph& graph,
                          const std::function<torch::Tensor(const torch::Tensor&)>& run, const std::string& what);

// The graph run with LibTorch's operators, one at a time.
torch::Tensor run_inference_graph(const InferenceGraph& graph, const torch::Tensor& images);

// The graph as a TorchScript module of the graph's weights (parameters
// without gradients, named after the layers) whose forward is TorchScript
// source compiled here: images -> the graph's output. What the engine
// freezes and `catdog export --format torchscript` saves.
torch::jit::Module script_module(const InferenceGraph& graph);

}  // namespace catdog
