#pragma once
#include <vector>

#include <torch/types.h>

namespace catdog {

// RMSprop exactly as Keras defines it: v = rho v + (1 - rho) g^2,
// p -= lr g / sqrt(v + epsilon), with Keras' defaults rho 0.9, epsilon 1e-7.
// (torch::optim::RMSprop uses alpha 0.99, eps 1e-8, outside the sqrt.)
class KerasRMSprop {
 public:
  KerasRMSprop(std::vector<torch::Tensor> parameters, double learning_rate,
               double rho = 0.9, double epsilon = 1e-7);
  // Releases the gradients (undefined, as PyTorch's set_to_none): the next
  // backward writes them afresh instead of adding to zeroed memory.
  void zero_grad();
  void step();
  // The accumulators v, one per parameter, for checkpoints.
  const std::vector<torch::Tensor>& state() const { return velocity_; }
  void load_state(const std::vector<torch::Tensor>& velocity);

 private:
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> velocity_;
  std::vector<torch::Tensor> denominator_;  // sqrt(v + eps), reused: no allocation per step
  double learning_rate_, rho_, epsilon_;
};

}  // namespace catdog
