// AdamW with decoupled weight decay (none on biases and LayerNorm), or the reference code's
// BertAdam (no bias correction, eps 1e-6); its state saves to and loads from safetensors by
// parameter name, for exact resumption.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "tinybert/core/error.h"

namespace tinybert::train {

struct OptimizerConfig {
  std::string kind = "adamw";  // adamw | bertadam
  double weight_decay = 0.01;  // not applied to biases and LayerNorm weights
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 0;              // 0: 1e-8 for adamw, 1e-6 for bertadam
  double max_grad_norm = 1.0;  // 0: no clipping
};

using NamedParams = std::vector<std::pair<std::string, at::Tensor>>;

// Optimizer::step found a NaN or infinite gradient norm; the weights were left untouched.
struct NonFiniteGradient : Error {
  explicit NonFiniteGradient(double norm)
      : Error(cat("non-finite gradient norm ", norm)), norm(norm) {}
  double norm;
};

class Optimizer {
 public:
  Optimizer(NamedParams params, OptimizerConfig cfg);
  // Clips the gradients to max_grad_norm (returns the norm before clipping) and updates;
  // NonFiniteGradient, before any change, when the norm is NaN or infinite.
  double step(double lr);
  void zero_grad();
  int64_t steps() const { return steps_; }
  void save(const std::string& path) const;  // exp_avg.NAME, exp_avg_sq.NAME, step
  void load(const std::string& path);

 private:
  NamedParams params_;
  std::vector<bool> decay_;
  std::vector<at::Tensor> m_, v_;
  OptimizerConfig cfg_;
  int64_t steps_ = 0;
};

// Learning rate at optimizer step `step` (0-based) of `total`: linear warmup over `warmup`
// (a fraction of total) then linear decay to 0 ("linear"), or constant after warmup ("constant").
double scheduled_lr(double base, int64_t step, int64_t total, double warmup,
                    const std::string& schedule);

}  // namespace tinybert::train
