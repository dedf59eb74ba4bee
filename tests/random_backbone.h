// VGG16's ImageNet file is not available offline, and LibTorch's default
// initialisation fades to nothing over its 13 layers: tests that need a VGG16
// whose outputs vary from photo to photo give its backbone He-initialised
// convolutions and small biases (test_engine, test_export).
#pragma once
#include <string>

#include <torch/torch.h>

#include "catdog/models/classifier.h"

namespace catdog::testing {

inline void he_initialise_backbone(Classifier& model) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : model->named_parameters())
    if (parameter.key().rfind("backbone.", 0) == 0) {
      if (parameter.value().dim() == 4)
        torch::nn::init::kaiming_normal_(parameter.value(), 0, torch::kFanIn, torch::kReLU);
      else
        parameter.value().uniform_(-0.1, 0.1);
    }
  model->weights_changed();
}

}  // namespace catdog::testing
