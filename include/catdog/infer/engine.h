#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <torch/script.h>
#include <torch/types.h>

#include "catdog/base/runtime.h"
#include "catdog/infer/inference_graph.h"
#include "catdog/models/classifier.h"

namespace catdog {

// A Classifier's weights at one moment as a frozen, optimized TorchScript
// module: the model lowered into a graph of `output` for square inputs of
// `input_size` (inference_graph.h), scripted, frozen (torch::jit::freeze: the
// weights become constants) and optimized for inference
// (torch::jit::optimize_for_inference: oneDNN convolutions with prepacked
// weights, Conv+ReLU and Conv+Add fused). Checked against the model on a
// fixed input before use (require_same_outputs). float32 on the CPU only.
class FrozenGraph {
 public:
  FrozenGraph(Classifier& model, int64_t input_size, GraphOutput output);
  // images [N, 3, input_size, input_size], float32 -> the graph's output.
  torch::Tensor forward(const torch::Tensor& images);

 private:
  torch::jit::Module module_;
};

// What identifies a module's weights: every parameter's and buffer's tensor,
// storage and version counter. LibTorch bumps the counter on every in-place
// change (an optimizer step, a checkpoint or Keras load, BatchNorm's running
// statistics), so equal keys mean the same weights.
std::vector<int64_t> weights_key(torch::nn::Module& module);

// Below this many images a FrozenGraph costs more to build (lowering,
// scripting, freezing, optimizing, the check: ~0.1 s for MobileNetV2 and the
// scratch CNN, 1-2 s for VGG16, debug log) than it saves over the eager
// forward (issue 23's MobileNetV2 at batch 32: ~0.75 ms an image), so
// `predict` of one photo or a few stays eager. An estimate, not a
// measurement: BENCHMARKS.md's end-to-end runs should set it.
inline constexpr size_t kFrozenGraphMinImages = 128;
inline bool frozen_graph_pays_off(size_t images) { return images >= kFrozenGraphMinImages; }

// catdog's no-gradient forward of a Classifier (eval, predict, serve, the
// trainer's validation on images and the frozen backbone's feature pass):
// images -> `output` (probabilities, logits or backbone features), float32.
// Runs a FrozenGraph of the model's current weights when `use_frozen_graph`
// and the run allows it (fp32 on a CPU: under bf16 oneDNN's frozen passes
// only rewrite float32 graphs, so bf16 and CUDA run the model itself under
// autocast, forward_in). The graph is built on first use and again whenever
// the model's weights_key or the input size changed since: it never answers
// with stale weights. Training and Grad-CAM (gradients) use the model.
// Safe to call from several threads at once (serve's workers).
class InferenceEngine {
 public:
  InferenceEngine(Classifier model, GraphOutput output, const Runtime& runtime, bool use_frozen_graph = true);

  torch::Tensor operator()(const torch::Tensor& images);
  torch::Device device() const { return device_; }
  // Whether forwards run a FrozenGraph (else the model eagerly).
  bool runs_frozen_graph() const { return use_frozen_graph_; }
  // How many FrozenGraphs were built so far (tests: rebuilt after a weight change).
  int builds() const;

 private:
  std::shared_ptr<FrozenGraph> current_graph(int64_t input_size);
  torch::Tensor eager(const torch::Tensor& images);

  Classifier model_;
  GraphOutput output_;
  torch::Device device_;
  torch::ScalarType dtype_;
  bool use_frozen_graph_;
  mutable std::mutex mutex_;  // guards the three below
  std::shared_ptr<FrozenGraph> graph_;
  std::vector<int64_t> graph_key_;  // weights_key and input size the graph was built from
  int builds_ = 0;
};

}  // namespace catdog
