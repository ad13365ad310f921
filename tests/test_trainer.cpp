// Optimizer and schedule against hand-computed values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "tinybert/core/error.h"
#include "tinybert/train/optimizer.h"

using namespace tinybert;
using namespace tinybert::train;

namespace {

// One step on p = [1] with grad 0.5, returning the new value.
double one_step(const std::string& kind, const std::string& name, double lr, double wd) {
  auto p = torch::ones({1}, torch::requires_grad());
  Optimizer opt({{name, p}}, {.kind = kind, .weight_decay = wd, .max_grad_norm = 0});
  (p * 0.5).sum().backward();
  opt.step(lr);
  return p.item<double>();
}

}  // namespace

TEST(Optimizer, AdamWFirstStep) {
  // m = 0.05, v = 0.00025; bias-corrected 0.5 / sqrt(0.25) = 1; decoupled decay lr*wd*p first.
  const double lr = 0.1, wd = 0.01;
  EXPECT_NEAR(one_step("adamw", "w.weight", lr, wd), 1 - lr * wd - lr * 0.5 / (0.5 + 1e-8), 1e-7);
  EXPECT_NEAR(one_step("adamw", "w.bias", lr, wd), 1 - lr * 0.5 / (0.5 + 1e-8),
              1e-7);  // no decay on bias
  EXPECT_NEAR(one_step("adamw", "LayerNorm.weight", lr, wd), 1 - lr, 1e-7);
}

TEST(Optimizer, BertAdamHasNoBiasCorrection) {
  const double lr = 0.01, wd = 0.01;
  const double update = 0.05 / (std::sqrt(0.00025) + 1e-6) + wd * 1.0;
  EXPECT_NEAR(one_step("bertadam", "w.weight", lr, wd), 1 - lr * update, 1e-6);
}

TEST(Optimizer, ClipsToMaxNorm) {
  auto p = torch::zeros({2}, torch::requires_grad());
  Optimizer opt({{"w", p}}, {.max_grad_norm = 1.0});
  (p * torch::tensor({3.0f, 4.0f})).sum().backward();
  EXPECT_NEAR(opt.step(0.0), 5.0, 1e-5);                   // norm before clipping
  EXPECT_NEAR(p.grad().norm().item<double>(), 1.0, 1e-5);  // clipped in place
  EXPECT_THROW(Optimizer({{"w", p}}, {.kind = "sgd"}), Error);
}

TEST(Schedule, WarmupThenLinearDecayOrConstant) {
  EXPECT_NEAR(scheduled_lr(1.0, 0, 100, 0.1, "linear"), 0.1, 1e-12);
  EXPECT_NEAR(scheduled_lr(1.0, 9, 100, 0.1, "linear"), 1.0, 1e-12);
  EXPECT_NEAR(scheduled_lr(1.0, 10, 100, 0.1, "linear"), 1.0, 1e-12);
  EXPECT_NEAR(scheduled_lr(1.0, 55, 100, 0.1, "linear"), 0.5, 1e-12);
  EXPECT_NEAR(scheduled_lr(1.0, 99, 100, 0.1, "linear"), 1.0 / 90, 1e-12);
  EXPECT_NEAR(scheduled_lr(1.0, 99, 100, 0.0, "constant"), 1.0, 1e-12);
  EXPECT_THROW(scheduled_lr(1.0, 0, 10, 0, "cosine"), Error);
}
