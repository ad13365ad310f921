// AdamW / BertAdam and the learning-rate schedule.
#include "tinybert/train/optimizer.h"

#include <torch/torch.h>

#include <cmath>

#include "tinybert/core/error.h"
#include "tinybert/io/safetensors.h"
#include "tinybert/io/tensor_file.h"

namespace tinybert::train {

Optimizer::Optimizer(NamedParams params, OptimizerConfig cfg)
    : params_(std::move(params)), cfg_(cfg) {
  if (cfg_.kind != "adamw" && cfg_.kind != "bertadam")
    fail("unknown optimizer \"", cfg_.kind, "\" (use adamw or bertadam)");
  if (cfg_.eps == 0) cfg_.eps = cfg_.kind == "bertadam" ? 1e-6 : 1e-8;
  for (const auto& [name, p] : params_) {
    const bool no_decay =
        name.find("bias") != std::string::npos || name.find("LayerNorm") != std::string::npos;
    decay_.push_back(!no_decay);
    m_.push_back(torch::zeros_like(p));
    v_.push_back(torch::zeros_like(p));
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

double Optimizer::step(double lr) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (auto& [name, p] : params_)
    if (p.grad().defined()) grads.push_back(p.grad());
  double norm = 0;
  if (!grads.empty()) {
    std::vector<at::Tensor> norms;
    for (auto& g : grads) norms.push_back(g.norm(2).to(at::kFloat));
    norm = torch::stack(norms).norm(2).item<double>();
    if (!std::isfinite(norm)) throw NonFiniteGradient(norm);
    if (cfg_.max_grad_norm > 0 && norm > cfg_.max_grad_norm) {
      const double scale = cfg_.max_grad_norm / (norm + 1e-6);
      for (auto& g : grads) g.mul_(scale);
    }
  }
  ++steps_;
  const bool correct = cfg_.kind == "adamw";
  const double bc1 = correct ? 1 - std::pow(cfg_.beta1, double(steps_)) : 1.0;
  const double bc2 = correct ? 1 - std::pow(cfg_.beta2, double(steps_)) : 1.0;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    const auto& g = p.grad();
    m_[i].mul_(cfg_.beta1).add_(g, 1 - cfg_.beta1);
    v_[i].mul_(cfg_.beta2).addcmul_(g, g, 1 - cfg_.beta2);
    if (correct) {
      // PyTorch AdamW: p -= lr*wd*p, then p -= lr/bc1 * m / (sqrt(v/bc2) + eps)
      if (decay_[i] && cfg_.weight_decay > 0) p.mul_(1 - lr * cfg_.weight_decay);
      auto denom = (v_[i] / bc2).sqrt_().add_(cfg_.eps);
      p.addcdiv_(m_[i], denom, -lr / bc1);
    } else {
      // BertAdam: update = m / (sqrt(v) + eps) + wd * p; p -= lr * update
      auto update = m_[i] / (v_[i].sqrt() + cfg_.eps);
      if (decay_[i] && cfg_.weight_decay > 0) update.add_(p, cfg_.weight_decay);
      p.sub_(update * lr);
    }
  }
  return norm;
}

void Optimizer::save(const std::string& path) const {
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (size_t i = 0; i < params_.size(); ++i) {
    t.emplace_back("exp_avg." + params_[i].first, m_[i]);
    t.emplace_back("exp_avg_sq." + params_[i].first, v_[i]);
  }
  t.emplace_back("step", torch::tensor({steps_}, torch::kLong));
  io::save_tensors(path, t, {{"optimizer", cfg_.kind}});
}

void Optimizer::load(const std::string& path) {
  auto file = io::SafetensorsFile::load(path);
  auto get = [&](const std::string& name, const at::Tensor& like) {
    const io::TensorInfo* info = file.find(name);
    if (!info)
      fail(path, ": no optimizer state for ", name, " (saved by a different model or optimizer?)");
    auto t = io::to_tensor(file, *info);
    if (t.sizes() != like.sizes())
      fail(path, ": ", name, " has shape ", t.sizes(), ", expected ", like.sizes());
    return t.to(like.device(), like.scalar_type());
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i] = get("exp_avg." + params_[i].first, m_[i]);
    v_[i] = get("exp_avg_sq." + params_[i].first, v_[i]);
  }
  const io::TensorInfo* s = file.find("step");
  if (!s) fail(path, ": no step count");
  steps_ = io::to_tensor(file, *s).item<int64_t>();
}

double scheduled_lr(double base, int64_t step, int64_t total, double warmup,
                    const std::string& schedule) {
  if (schedule != "linear" && schedule != "constant")
    fail("unknown schedule \"", schedule, "\" (use linear or constant)");
  const double warm_steps = warmup * total;
  if (step < warm_steps) return base * (step + 1) / warm_steps;
  if (schedule == "constant") return base;
  const double rest = total - warm_steps;
  return rest <= 0 ? base : base * std::max(0.0, (total - step) / rest);
}

}  // namespace tinybert::train
