// Images per second of one catdog forward pass: the frozen backbones
// (features) and the scratch network (whole forward), eval mode, no grad;
// and of one fine-tuning step (mobilenetv2-finetune: forward and backward
// with the backbone trained from the registry's unfreeze point).
// Prints one number per run; bench/backbones_reference.py alternates it with
// the same networks in PyTorch and reports medians and ratios.
//   bench_backbones MODEL [BATCH] [ITERATIONS] [THREADS] [PRECISION]
//   MODEL: mobilenetv2 | mobilenetv2-unfolded | mobilenetv2-finetune | vgg16 | scratch; PRECISION: fp32 (default) | bf16 | auto
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "catdog/base/precision.h"
#include "catdog/base/runtime.h"
#include "catdog/models/classifier.h"
#include "catdog/models/mobilenet_v2.h"

namespace {

std::function<torch::Tensor(const torch::Tensor&)> network(const std::string& model) {
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_backbones mobilenetv2|mobilenetv2-unfolded|mobilenetv2-finetune|vgg16|scratch [BATCH] [ITERATIONS] [THREADS] "
                 "[fp32|bf16|auto]\n";
    return 2;
  }
  const std::string model = argv[1];
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 32;
  const int iterations = argc > 3 ? std::stoi(argv[3]) : 3;
  catdog::RuntimeOptions runtime;
  runtime.device = catdog::DeviceChoice::Cpu;
  runtime.threads = argc > 4 ? std::stoi(argv[4]) : 0;
  catdog::configure_runtime(runtime);
  const auto dtype = catdog::inference_dtype(catdog::parse_precision(argc > 5 ? argv[5] : "fp32"),
                                             torch::Device(torch::kCPU));

  auto forward = network(model);
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
