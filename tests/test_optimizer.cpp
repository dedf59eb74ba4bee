#include <cmath>

#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/train/optimizer.h"
#include "test_support.h"

namespace {

// Two steps of Keras' RMSprop by hand, for one parameter p with gradient 2 p
// (loss = sum p^2), lr 0.1, rho 0.9, eps 1e-7.
double keras_rmsprop_two_steps(double p) {
  const double lr = 0.1, rho = 0.9, eps = 1e-7;
  double v = 0;
  for (int step = 0; step < 2; ++step) {
    const double g = 2 * p;
    v = rho * v + (1 - rho) * g * g;
    p -= lr * g / std::sqrt(v + eps);
  }
  return p;
}

}  // namespace

TEST(KerasRMSprop, MatchesHandComputedTwoSteps) {
  auto parameter = torch::tensor({1.0f, -0.5f, 3.0f}, torch::requires_grad());
  catdog::KerasRMSprop optimizer({parameter}, 0.1);
  for (int step = 0; step < 2; ++step) {
    optimizer.zero_grad();
    parameter.pow(2).sum().backward();
    optimizer.step();
  }
  // Step 1 moves every weight by lr / sqrt(0.1) = 0.316 towards zero; step 2 by a computed amount.
  EXPECT_NEAR(parameter[0].item<double>(), keras_rmsprop_two_steps(1.0), 1e-6);
  EXPECT_NEAR(parameter[1].item<double>(), keras_rmsprop_two_steps(-0.5), 1e-6);
  EXPECT_NEAR(parameter[2].item<double>(), keras_rmsprop_two_steps(3.0), 1e-6);
  // The accumulator after two steps: v2 = 0.9 (0.1 g1^2) + 0.1 g2^2.
  const double g1 = 2.0, p1 = 1.0 - 0.1 * g1 / std::sqrt(0.1 * g1 * g1 + 1e-7), g2 = 2 * p1;
  EXPECT_NEAR(optimizer.state()[0][0].item<double>(), 0.9 * 0.1 * g1 * g1 + 0.1 * g2 * g2, 1e-6);
}

TEST(KerasRMSprop, EpsilonIsInsideTheSquareRoot) {
  // A gradient far below sqrt(eps): Keras' step is lr g / sqrt(0.1 g^2 + eps), about lr g / sqrt(eps).
  auto parameter = torch::tensor({0.0}, torch::dtype(torch::kFloat64).requires_grad(true));
  catdog::KerasRMSprop optimizer({parameter}, 1.0);
  (parameter * 1e-6).sum().backward();
  optimizer.step();
  const double g = 1e-6;
  EXPECT_NEAR(parameter.item<double>(), -g / std::sqrt(0.1 * g * g + 1e-7), 1e-12);
}

TEST(KerasRMSprop, SkipsParametersWithoutGradient) {
  auto used = torch::tensor({1.0f}, torch::requires_grad());
  auto unused = torch::tensor({5.0f}, torch::requires_grad());
  catdog::KerasRMSprop optimizer({used, unused}, 0.1);
  used.sum().backward();
  optimizer.step();
  EXPECT_FLOAT_EQ(unused.item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(optimizer.state()[1].item<float>(), 0.0f);
  EXPECT_LT(used.item<float>(), 1.0f);
  EXPECT_FALSE(used.grad().requires_grad());
}

TEST(KerasRMSprop, ZeroGradReleasesGradients) {
  auto parameter = torch::tensor({1.0f}, torch::requires_grad());
  catdog::KerasRMSprop optimizer({parameter}, 0.1);
  (parameter * 3).sum().backward();
  optimizer.zero_grad();
  EXPECT_FALSE(parameter.grad().defined());
  (parameter * 2).sum().backward();  // not 3 + 2: nothing accumulates across zero_grad
  EXPECT_FLOAT_EQ(parameter.grad().item<float>(), 2.0f);
}

TEST(KerasRMSprop, LoadStateRestoresAccumulators) {
  auto parameter = torch::zeros({2}, torch::requires_grad());
  catdog::KerasRMSprop optimizer({parameter}, 0.1);
  optimizer.load_state({torch::tensor({4.0f, 9.0f})});
  EXPECT_TRUE(torch::equal(optimizer.state()[0], torch::tensor({4.0f, 9.0f})));
  EXPECT_THROW(optimizer.load_state({torch::zeros({3})}), catdog::Error);
  EXPECT_THROW(optimizer.load_state({}), catdog::Error);
}

namespace {

// Three Keras RMSprop steps on `parameter` with the gradients `grads` (set by
// hand, in whatever layout they have), next to the same steps in double.
void expect_steps_match_double(torch::Tensor parameter, const std::vector<torch::Tensor>& grads) {
  auto p = parameter.detach().to(torch::kDouble);
  auto v = torch::zeros_like(p);
  const double lr = 1e-3, rho = 0.9, eps = 1e-7;
  catdog::KerasRMSprop optimizer({parameter}, lr, rho, eps);
  for (const auto& grad : grads) {
    parameter.mutable_grad() = grad;
    optimizer.step();
    const auto g = grad.to(torch::kDouble);
    v = rho * v + (1 - rho) * g * g;
    p = p - lr * g / torch::sqrt(v + eps);
  }
  EXPECT_LT((parameter.detach().to(torch::kDouble) - p).abs().max().item<double>(), 1e-6);
  EXPECT_LT((optimizer.state()[0].to(torch::kDouble) - v).abs().max().item<double>(), 1e-6);
}

}  // namespace

// CPU float parameters take one fused loop; other layouts the tensor ops. Both
// must be Keras' update: over several threads' chunks with a ragged tail, in
// channels-last, and with a gradient laid out unlike its parameter.
TEST(KerasRMSprop, FusedAndTensorFormsBothMatchTheUpdateInDouble) {
  torch::manual_seed(7);
  const int64_t n = (1 << 17) + 3;
  expect_steps_match_double(torch::randn({n}, torch::requires_grad()),
                            {torch::randn({n}), torch::randn({n}), torch::randn({n})});

  auto conv_weight = torch::randn({16, 8, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast).requires_grad_();
  std::vector<torch::Tensor> conv_grads;
  for (int i = 0; i < 3; ++i)
    conv_grads.push_back(torch::randn({16, 8, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast));
  expect_steps_match_double(conv_weight, conv_grads);

  std::vector<torch::Tensor> transposed;  // strides unlike the parameter's: the tensor-op form
  for (int i = 0; i < 3; ++i) transposed.push_back(torch::randn({300, 200}).t());
  expect_steps_match_double(torch::randn({200, 300}, torch::requires_grad()), transposed);
}

TEST(Schedule, ConstantKeepsTheRate) {
  for (int64_t step : {0, 5, 99}) EXPECT_EQ(catdog::scheduled_learning_rate(catdog::Schedule::Constant, 1e-4, step, 100, 10), 1e-4);
}

TEST(Schedule, CosineWarmsUpThenDecaysToZero) {
  using catdog::Schedule;
  const auto rate = [](int64_t step) { return catdog::scheduled_learning_rate(Schedule::Cosine, 2.0, step, 110, 10); };
  EXPECT_DOUBLE_EQ(rate(0), 0.2);   // 2 * 1/10
  EXPECT_DOUBLE_EQ(rate(4), 1.0);   // 2 * 5/10
  EXPECT_DOUBLE_EQ(rate(9), 2.0);   // warm-up done
  EXPECT_DOUBLE_EQ(rate(10), 2.0);  // cos(0)
  EXPECT_NEAR(rate(60), 1.0, 1e-12);  // half-way through the decay: (1 + cos(pi/2)) / 2
  EXPECT_NEAR(rate(110), 0.0, 1e-12);
  for (int64_t step = 10; step < 109; ++step) EXPECT_GT(rate(step), rate(step + 1)) << step;
  EXPECT_DOUBLE_EQ(catdog::scheduled_learning_rate(Schedule::Cosine, 2.0, 0, 10, 0), 2.0);  // no warm-up
}

TEST(KerasRMSprop, StepsWithTheRateItIsGiven) {
  auto parameter = torch::zeros({1}).requires_grad_(true);
  catdog::KerasRMSprop optimizer({parameter}, 1.0);
  optimizer.set_learning_rate(0.5);
  parameter.mutable_grad() = torch::ones({1});
  optimizer.step();
  // v = 0.1, p = -0.5 * 1 / sqrt(0.1 + 1e-7)
  EXPECT_NEAR(parameter.item<float>(), -0.5 / std::sqrt(0.1 + 1e-7), 1e-6);
}
