#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "catdog/base/names.h"

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
  void set_learning_rate(double learning_rate) { learning_rate_ = learning_rate; }
  // The accumulators v, one per parameter, for checkpoints.
  const std::vector<torch::Tensor>& state() const { return velocity_; }
  void load_state(const std::vector<torch::Tensor>& velocity);

 private:
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> velocity_;
  // sqrt(v + eps) for the tensor-op form (GPU, mixed layouts), reused: no
  // allocation per step. CPU float parameters take a fused loop instead.
  std::vector<torch::Tensor> denominator_;
  double learning_rate_, rho_, epsilon_;
};

enum class Schedule {
  Constant,  // the tutorial's recipe
  Cosine,    // linear warm-up, then cosine decay to 0 at the end of the stage
};
inline constexpr Named<Schedule> kScheduleNames[] = {{Schedule::Constant, "constant"}, {Schedule::Cosine, "cosine"}};
inline Schedule parse_schedule(const std::string& name) { return parse_named(kScheduleNames, name, "schedule"); }
inline const char* to_string(Schedule schedule) { return name_of(kScheduleNames, schedule); }

// The learning rate of step `step` (0-based) of a training stage of `steps`
// steps at rate `base`. Cosine warms up linearly over the first
// `warmup_steps` (base * (step + 1) / warmup_steps), then decays as
// base * (1 + cos(pi * t)) / 2, t going from 0 to 1 over the remaining steps.
// A function of the step alone, so a resumed run continues the same curve.
double scheduled_learning_rate(Schedule schedule, double base, int64_t step, int64_t steps, int64_t warmup_steps);

}  // namespace catdog
