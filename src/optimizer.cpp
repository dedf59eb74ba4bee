#include "catdog/optimizer.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "catdog/error.h"

namespace catdog {

KerasRMSprop::KerasRMSprop(std::vector<torch::Tensor> parameters, double learning_rate, double rho,
                           double epsilon)
    : parameters_(std::move(parameters)), learning_rate_(learning_rate), rho_(rho), epsilon_(epsilon) {
  for (const auto& parameter : parameters_) {
    velocity_.push_back(torch::zeros_like(parameter));
    denominator_.push_back(torch::empty_like(parameter));
  }
}

void KerasRMSprop::zero_grad() {
  for (auto& parameter : parameters_) parameter.mutable_grad() = torch::Tensor();
}

void KerasRMSprop::step() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const auto& grad = parameters_[i].grad();
    if (!grad.defined()) continue;
    auto& velocity = velocity_[i];
    // v = rho v + (1 - rho) g^2
    velocity.mul_(rho_).addcmul_(grad, grad, 1.0 - rho_);
    // p -= lr g / sqrt(v + eps): Keras puts epsilon inside the square root.
    auto& denominator = denominator_[i];
    denominator.copy_(velocity).add_(epsilon_).sqrt_();
    parameters_[i].addcdiv_(grad, denominator, -learning_rate_);
  }
}

void KerasRMSprop::load_state(const std::vector<torch::Tensor>& velocity) {
  if (velocity.size() != velocity_.size())
    throw Error("optimizer state has " + std::to_string(velocity.size()) + " accumulators, the model needs " +
                std::to_string(velocity_.size()) + ": resume with a checkpoint of the same model");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < velocity.size(); ++i) {
    if (!velocity[i].sizes().equals(velocity_[i].sizes()))
      throw Error("optimizer accumulator " + std::to_string(i) + " has shape " + c10::str(velocity[i].sizes()) +
                  ", the model needs " + c10::str(velocity_[i].sizes()) +
                  ": resume with a checkpoint of the same model");
    velocity_[i].copy_(velocity[i]);
  }
}

double scheduled_learning_rate(Schedule schedule, double base, int64_t step, int64_t steps, int64_t warmup_steps) {
  if (schedule == Schedule::Constant) return base;
  if (step < warmup_steps) return base * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const int64_t decay_steps = std::max<int64_t>(1, steps - warmup_steps);
  const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps));
  return base * 0.5 * (1.0 + std::cos(M_PI * t));
}

}  // namespace catdog
