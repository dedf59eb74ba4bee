#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
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

// From how many images a batch job (eval, predict, validation, the feature
// pass) gains by building a FrozenGraph: its build time over what it saves per
// image at batch 32, measured (BENCHMARKS.md, "Inference engine": built and
// checked in 236 ms for scratch, 477 ms for VGG16; saving 0.36 and 4.4 ms an
// image). MobileNetV2 never: at batches of 8 and more its frozen graph is
// slower than the eager channels-last modules (oneDNN's layout conversions
// around Keras' asymmetric pads), faster only at 1 to 4 images a batch, which
// is serve's case (it builds one whatever this says).
inline size_t frozen_graph_min_images(ModelKind kind) {
  switch (kind) {
    case ModelKind::Scratch: return 700;
    case ModelKind::Vgg16: return 128;
    case ModelKind::MobileNetV2: break;
  }
  return std::numeric_limits<size_t>::max();
}
inline bool frozen_graph_pays_off(ModelKind kind, size_t images) { return images >= frozen_graph_min_images(kind); }

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
