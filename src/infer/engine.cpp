#include "catdog/infer/engine.h"

#include <chrono>
#include <string>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/base/precision.h"
#include "catdog/models/registry.h"

namespace catdog {

namespace {

const char* output_name(GraphOutput output) {
  switch (output) {
    case GraphOutput::Probabilities: return "probabilities";
    case GraphOutput::Logits: return "logits";
    case GraphOutput::Features: return "backbone features";
  }
  return "";
}

// "N oneDNN-prepacked convolutions, M layout conversions" of an optimized
// graph: how much of it optimize_for_inference moved to oneDNN (debug log).
std::string onednn_summary(torch::jit::Module& module) {
  int convolutions = 0, conversions = 0;
  for (const auto* node : module.get_method("forward").graph()->nodes()) {
    const std::string kind = node->kind().toQualString();
    convolutions += kind == "prim::mkldnn_convolution" || kind == "mkldnn_prepacked::conv2d_run";
    conversions += kind == "aten::to_mkldnn" || kind == "aten::to_dense";
  }
  return std::to_string(convolutions) + " oneDNN-prepacked convolutions, " + std::to_string(conversions) +
         " layout conversions";
}

}  // namespace

FrozenGraph::FrozenGraph(Classifier& model, int64_t input_size, GraphOutput output) {
  const auto start = std::chrono::steady_clock::now();
  const InferenceGraph graph = lower_classifier(model, input_size, output);
  torch::jit::Module scripted = script_module(graph);
  module_ = torch::jit::freeze(scripted);
  module_ = torch::jit::optimize_for_inference(module_);
  // The check's run is also the graph's first, which the executor profiles.
  require_same_outputs(
      model, graph, [this](const torch::Tensor& images) { return forward(images.to(torch::kCPU)); },
      "inference engine");
  spdlog::debug("inference engine: frozen {} graph of {} ops ({} px; {}) built and checked in {:.0f} ms",
                output_name(output), graph.ops.size(), input_size, onednn_summary(module_),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
}

torch::Tensor FrozenGraph::forward(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  return module_.forward({images.to(torch::kFloat32).contiguous()}).toTensor();
}

std::vector<int64_t> weights_key(torch::nn::Module& module) {
  std::vector<int64_t> key;
  const auto add = [&](const torch::Tensor& tensor) {
    key.push_back(reinterpret_cast<int64_t>(tensor.unsafeGetTensorImpl()));
    key.push_back(tensor.defined() && tensor.has_storage() ? reinterpret_cast<int64_t>(tensor.data_ptr()) : 0);
    key.push_back(tensor.defined() ? tensor._version() : 0);
  };
  for (const auto& parameter : module.parameters()) add(parameter);
  for (const auto& buffer : module.buffers()) add(buffer);
  return key;
}

InferenceEngine::InferenceEngine(Classifier model, GraphOutput output, const Runtime& runtime, bool use_frozen_graph)
    : model_(std::move(model)),
      output_(output),
      device_(runtime.device),
      dtype_(inference_dtype(runtime.precision, runtime.device)),
      use_frozen_graph_(use_frozen_graph && device_.is_cpu() && dtype_ == torch::kFloat) {}

torch::Tensor InferenceEngine::operator()(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const bool square = images.dim() == 4 && images.size(2) == images.size(3);
  if (!use_frozen_graph_ || !square || images.size(0) == 0) return eager(images);
  return current_graph(images.size(2))->forward(images);
}

int InferenceEngine::builds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return builds_;
}

std::shared_ptr<FrozenGraph> InferenceEngine::current_graph(int64_t input_size) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = weights_key(*model_);
  key.push_back(input_size);
  if (!graph_ || key != graph_key_) {
    graph_.reset();  // the stale graph's memory back before the new one takes its own
    graph_ = std::make_shared<FrozenGraph>(model_, input_size, output_);
    graph_key_ = std::move(key);
    ++builds_;
  }
  return graph_;
}

torch::Tensor InferenceEngine::eager(const torch::Tensor& images) {
  return forward_in(dtype_, device_, [&] {
    switch (output_) {
      case GraphOutput::Probabilities: return torch::softmax(model_->forward(images), 1);
      case GraphOutput::Logits: return model_->forward(images);
      case GraphOutput::Features: return model_->features(images);
    }
    return torch::Tensor();
  });
}

}  // namespace catdog
