#include "catdog/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "catdog/base/error.h"

namespace catdog {
namespace {

// Whether the update can run as one loop over raw memory: CPU float tensors
// laid out alike (contiguous or channels-last, as long as all three agree).
bool fusable(const torch::Tensor& parameter, const torch::Tensor& grad, const torch::Tensor& velocity) {
  return parameter.device().is_cpu() && parameter.scalar_type() == torch::kFloat &&
         grad.scalar_type() == torch::kFloat && parameter.is_non_overlapping_and_dense() &&
         grad.strides() == parameter.strides() && velocity.strides() == parameter.strides();
}

// One pass that reads p, g, v and writes p, v once. The tensor-op form makes six
// passes; on the scratch CNN's 52 MB dense weight that was most of the optimizer's
// time, which is memory-bound. The arithmetic is the tensor ops', in float.
void fused_update(torch::Tensor& parameter, const torch::Tensor& grad, torch::Tensor& velocity, float rho,
                  float epsilon, float learning_rate) {
  float* p = parameter.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* v = velocity.data_ptr<float>();
  const float one_minus_rho = 1.0f - rho, step = -learning_rate;
  at::parallel_for(0, parameter.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i];
      const float vi = v[i] * rho + one_minus_rho * gi * gi;
      v[i] = vi;
      p[i] += step * gi / std::sqrt(vi + epsilon);
    }
  });
}

}  // namespace

KerasRMSprop::KerasRMSprop(std::vector<torch::Tensor> parameters, double learning_rate, double rho,
                           double epsilon)
    : parameters_(std::move(parameters)), learning_rate_(learning_rate), rho_(rho), epsilon_(epsilon) {
  for (const auto& parameter : parameters_) {
    velocity_.push_back(torch::zeros_like(parameter));
    denominator_.emplace_back();  // allocated by the first step that needs it
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
    if (fusable(parameters_[i], grad, velocity)) {
      fused_update(parameters_[i], grad, velocity, static_cast<float>(rho_), static_cast<float>(epsilon_),
                   static_cast<float>(learning_rate_));
      continue;
    }
    // v = rho v + (1 - rho) g^2
    velocity.mul_(rho_).addcmul_(grad, grad, 1.0 - rho_);
    // p -= lr g / sqrt(v + eps): Keras puts epsilon inside the square root.
    auto& denominator = denominator_[i];
    if (!denominator.defined()) denominator = torch::empty_like(velocity);
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
