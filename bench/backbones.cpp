// Images per second of one catdog forward pass: the frozen backbones
// (features) and the scratch network (whole forward), eval mode, no grad;
// and of one fine-tuning step (mobilenetv2-finetune: forward and backward
// with the backbone trained from the registry's unfreeze point).
// mobilenetv2, vgg16 and scratch run the path the product runs: the inference
// engine (infer/engine.h: a frozen, optimized TorchScript graph in fp32, the
// model under autocast in bf16); with `eager` the modules themselves.
// Prints one number per run; bench/backbones_reference.py alternates it with
// the same networks in PyTorch and reports medians and ratios.
//   bench_backbones MODEL [BATCH] [ITERATIONS] [THREADS] [PRECISION] [eager]
//   MODEL: mobilenetv2 | mobilenetv2-unfolded | mobilenetv2-finetune | vgg16 | scratch; PRECISION: fp32 (default) | bf16 | auto
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "catdog/base/precision.h"
#include "catdog/base/runtime.h"
#include "catdog/infer/engine.h"
#include "catdog/models/classifier.h"
#include "catdog/models/mobilenet_v2.h"

namespace {

using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

// The engine's forward of a freshly made classifier (eval mode), as eval,
// predict and the feature pass run it; its graph is built by the warm-up pass.
Forward engine(catdog::ModelKind kind, catdog::GraphOutput output, const catdog::Runtime& runtime) {
  catdog::Classifier classifier(kind);
  classifier->eval();
  auto run = std::make_shared<catdog::InferenceEngine>(classifier, output, runtime);
  return [run](const torch::Tensor& x) { return (*run)(x); };
}

Forward eager_network(const std::string& model) {
  if (model == "mobilenetv2" || model == "mobilenetv2-unfolded") {
    auto backbone = catdog::make_mobilenet_v2_backbone(model == "mobilenetv2");
    backbone->weights_changed();
    backbone->eval();
    return [backbone](const torch::Tensor& x) { return backbone->forward(x); };
  }
  if (model == "mobilenetv2-finetune") {
    catdog::Classifier classifier(catdog::ModelKind::MobileNetV2);
    classifier->unfreeze_backbone_from(catdog::model_spec(catdog::ModelKind::MobileNetV2).unfreeze_from.keras_layer);
    classifier->weights_changed();
    classifier->train();
    return [classifier](const torch::Tensor& x) mutable {
      const auto loss = torch::nn::functional::cross_entropy(classifier->forward(x), torch::zeros({x.size(0)}, torch::kInt64));
      loss.backward();
      return loss;
    };
  }
  if (model == "vgg16") {  // through the classifier, as feature extraction runs it (channels-last)
    catdog::Classifier classifier(catdog::ModelKind::Vgg16);
    classifier->eval();
    return [classifier](const torch::Tensor& x) mutable { return classifier->features(x); };
  }
  if (model == "scratch") {
    catdog::Classifier classifier(catdog::ModelKind::Scratch);
    classifier->eval();
    return [classifier](const torch::Tensor& x) mutable { return classifier->forward(x); };
  }
  throw std::invalid_argument("unknown model " + model);
}

Forward network(const std::string& model, bool eager, const catdog::Runtime& runtime) {
  if (eager || model == "mobilenetv2-unfolded" || model == "mobilenetv2-finetune") return eager_network(model);
  if (model == "mobilenetv2") return engine(catdog::ModelKind::MobileNetV2, catdog::GraphOutput::Features, runtime);
  if (model == "vgg16") return engine(catdog::ModelKind::Vgg16, catdog::GraphOutput::Features, runtime);
  if (model == "scratch") return engine(catdog::ModelKind::Scratch, catdog::GraphOutput::Logits, runtime);
  throw std::invalid_argument("unknown model " + model);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_backbones mobilenetv2|mobilenetv2-unfolded|mobilenetv2-finetune|vgg16|scratch [BATCH] [ITERATIONS] [THREADS] "
                 "[fp32|bf16|auto] [eager]\n";
    return 2;
  }
  const std::string model = argv[1];
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 32;
  const int iterations = argc > 3 ? std::stoi(argv[3]) : 3;
  catdog::RuntimeOptions options;
  options.device = catdog::DeviceChoice::Cpu;
  options.threads = argc > 4 ? std::stoi(argv[4]) : 0;
  options.precision = catdog::parse_precision(argc > 5 ? argv[5] : "fp32");
  const bool eager = argc > 6 && std::string(argv[6]) == "eager";
  const catdog::Runtime runtime = catdog::configure_runtime(options);
  const auto dtype = catdog::inference_dtype(runtime.precision, runtime.device);

  auto forward = network(model, eager, runtime);
  std::optional<torch::NoGradGuard> no_grad;
  if (model != "mobilenetv2-finetune") no_grad.emplace();
  catdog::AutocastGuard autocast(torch::Device(torch::kCPU), dtype);
  const auto images = torch::rand({batch, 3, 160, 160}) * 2 - 1;
  forward(images);  // warm-up: oneDNN primitive creation, allocator
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) forward(images);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  std::cout << static_cast<double>(batch * iterations) / seconds.count() << "\n";
  return 0;
}
