// TinyBERT losses, the layer map and the hidden-state projection.
#include "tinybert/distill/losses.h"

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>

#include "tinybert/core/error.h"
#include "tinybert/io/safetensors.h"
#include "tinybert/io/tensor_file.h"

namespace tinybert::distill {

// ---- losses

at::Tensor attention_loss(const at::Tensor& student, const at::Tensor& teacher) {
  auto s = torch::where(student <= -1e2, torch::zeros_like(student), student);
  auto t = torch::where(teacher <= -1e2, torch::zeros_like(teacher), teacher);
  return torch::mse_loss(s, t);
}

at::Tensor hidden_loss(const at::Tensor& student_projected, const at::Tensor& teacher) {
  return torch::mse_loss(student_projected, teacher);
}

at::Tensor soft_cross_entropy(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                              double temperature) {
  auto log_p = torch::log_softmax(student_logits / temperature, -1);  // (B, C)
  auto q = torch::softmax(teacher_logits / temperature, -1);          // (B, C)
  return (-q * log_p).mean();
}

// ---- layer map

LayerMap LayerMap::uniform(int64_t teacher_layers, int64_t student_layers) {
  if (student_layers <= 0 || teacher_layers % student_layers != 0)
    fail("the uniform layer map needs teacher layers (", teacher_layers,
         ") to be a multiple of student layers (", student_layers,
         "); give an explicit map with --layer-map, e.g. ", [&] {
           std::string s = "0";
           for (int64_t i = 1; i <= student_layers; ++i)
             s += "," + std::to_string(i * teacher_layers / std::max<int64_t>(1, student_layers));
           return s;
         }());
  const int64_t k = teacher_layers / student_layers;
  LayerMap m;
  for (int64_t i = 0; i <= student_layers; ++i) m.hidden.push_back(i * k);
  for (int64_t i = 0; i < student_layers; ++i) m.attention.push_back(i * k + k - 1);
  return m;
}

LayerMap LayerMap::parse(const std::string& list, int64_t teacher_layers, int64_t student_layers) {
  LayerMap m;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      size_t used = 0;
      m.hidden.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail("--layer-map \"", list, "\": \"", item, "\" is not a layer number");
    }
  }
  if (static_cast<int64_t>(m.hidden.size()) != student_layers + 1)
    fail("--layer-map \"", list, "\" has ", m.hidden.size(), " entries; a ", student_layers,
         "-layer student needs ", student_layers + 1, " (embeddings, then each layer)");
  for (size_t i = 0; i < m.hidden.size(); ++i) {
    if (m.hidden[i] < 0 || m.hidden[i] > teacher_layers)
      fail("--layer-map \"", list, "\": teacher hidden state ", m.hidden[i], " does not exist (0..",
           teacher_layers, ")");
    if (i > 0 && m.hidden[i] < 1)
      fail("--layer-map \"", list, "\": student layer ", i, " must map to a teacher layer >= 1");
    if (i > 0) m.attention.push_back(m.hidden[i] - 1);
  }
  return m;
}

int64_t LayerMap::teacher_layers_needed() const {
  int64_t n = 0;
  for (int64_t h : hidden) n = std::max(n, h);
  for (int64_t a : attention) n = std::max(n, a + 1);
  return n;
}

std::string LayerMap::describe() const {
  std::string s = "hidden";
  for (size_t i = 0; i < hidden.size(); ++i) s += cat(" ", i, "<-", hidden[i]);
  s += "; attention";
  for (size_t i = 0; i < attention.size(); ++i) s += cat(" ", i, "<-", attention[i]);
  return s;
}

// ---- projection

FitDenseImpl::FitDenseImpl(int64_t student_hidden, int64_t teacher_hidden, int64_t per_layer) {
  if (per_layer > 0) {
    fit_denses = register_module("fit_denses", torch::nn::ModuleList());
    for (int64_t i = 0; i < per_layer; ++i)
      fit_denses->push_back(torch::nn::Linear(student_hidden, teacher_hidden));
  } else {
    fit_dense = register_module("fit_dense", torch::nn::Linear(student_hidden, teacher_hidden));
  }
}

at::Tensor FitDenseImpl::forward(const at::Tensor& x, int64_t hidden_index) {
  if (fit_dense) return fit_dense(x);
  if (hidden_index >= static_cast<int64_t>(fit_denses->size()))
    fail("fit_denses has ", fit_denses->size(), " projections; hidden state ", hidden_index,
         " needs one");
  return fit_denses[hidden_index]->as<torch::nn::LinearImpl>()->forward(x);
}

bool load_fit_dense(FitDenseImpl& fit, const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kFitDenseFile).string();
  if (!std::filesystem::exists(path)) return false;
  auto file = io::SafetensorsFile::load(path);
  torch::NoGradGuard no_grad;
  auto params = fit.named_parameters();
  if (file.tensors().size() != params.size())
    fail(path, " holds ", file.tensors().size(), " tensors; this projection has ", params.size(),
         " (", fit.fit_dense ? "shared fit_dense" : "per-layer fit_denses", ")");
  for (auto& p : params) {
    const io::TensorInfo* info = file.find(p.key());
    if (!info) fail(path, ": missing ", p.key());
    if (at::IntArrayRef(info->shape) != p.value().sizes())
      fail(path, ": ", p.key(), " has shape ", at::IntArrayRef(info->shape), ", expected ",
           p.value().sizes(), " (student hidden -> teacher hidden)");
    p.value().copy_(io::to_tensor(file, *info));
  }
  return true;
}

void save_fit_dense(FitDenseImpl& fit, const std::string& dir) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : fit.named_parameters()) tensors.emplace_back(p.key(), p.value());
  io::save_tensors((std::filesystem::path(dir) / kFitDenseFile).string(), tensors);
}

FitDense make_fit_dense(int64_t student_hidden, int64_t teacher_hidden, const std::string& dir,
                        double init_std) {
  // Which layout does the saved file use?
  int64_t per_layer = 0;
  const std::string path = (std::filesystem::path(dir) / kFitDenseFile).string();
  if (!dir.empty() && std::filesystem::exists(path)) {
    auto file = io::SafetensorsFile::load(path);
    for (const auto& t : file.tensors())
      if (t.name.rfind("fit_denses.", 0) == 0)
        per_layer = std::max<int64_t>(per_layer, std::stoll(t.name.substr(11)) + 1);
  }
  FitDense fit(student_hidden, teacher_hidden, per_layer);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : fit->named_parameters()) {
      if (p.key().find("bias") != std::string::npos)
        p.value().zero_();
      else
        p.value().normal_(0, init_std);
    }
  }
  if (dir.empty() || !load_fit_dense(*fit, dir))
    std::cerr << "notice: no " << kFitDenseFile << (dir.empty() ? "" : " in " + dir)
              << "; starting a fresh student->teacher projection (" << student_hidden << " -> "
              << teacher_hidden << ")\n";
  return fit;
}

// ---- combined losses (student outputs cast to fp32: they are bf16/fp16 under autocast)

LossTerms intermediate_loss(const model::BertOutput& student, const model::BertOutput& teacher,
                            FitDenseImpl& fit, const LayerMap& map, const LossConfig& cfg) {
  LossTerms out;
  at::Tensor att, rep;
  for (size_t i = 0; i < map.attention.size(); ++i) {
    auto l = attention_loss(student.attention_scores.at(i).to(at::kFloat),
                            teacher.attention_scores.at(map.attention[i]).to(at::kFloat));
    att = att.defined() ? att + l : l;
  }
  at::Tensor emb;
  for (size_t i = 0; i < map.hidden.size(); ++i) {
    auto l = hidden_loss(
        fit.forward(student.hidden_states.at(i), static_cast<int64_t>(i)).to(at::kFloat),
        teacher.hidden_states.at(map.hidden[i]).to(at::kFloat));
    if (i == 0) emb = l;
    rep = rep.defined() ? rep + l : l;
  }
  out.total = cfg.attention_weight * att + cfg.hidden_weight * rep;
  out.terms["att_loss"] = att.item<double>();
  out.terms["rep_loss"] = rep.item<double>();
  out.terms["emb_loss"] = emb.item<double>();
  return out;
}

namespace {

// cfg.prediction_weight x `soft`, plus the hard-label term when it has a weight and labels.
LossTerms with_hard_term(const at::Tensor& soft, const at::Tensor& labels, const LossConfig& cfg,
                         const std::function<at::Tensor()>& hard_loss) {
  LossTerms out;
  out.total = cfg.prediction_weight * soft;
  out.terms["cls_loss"] = soft.item<double>();
  if (cfg.hard_label_weight > 0 && labels.defined()) {
    auto hard = hard_loss();
    out.total = out.total + cfg.hard_label_weight * hard;
    out.terms["hard_loss"] = hard.item<double>();
  }
  return out;
}

}  // namespace

LossTerms soft_prediction_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                               const at::Tensor& labels, const LossConfig& cfg) {
  const auto s = student_logits.to(at::kFloat);  // (N, C)
  auto soft = soft_cross_entropy(s, teacher_logits.to(at::kFloat), cfg.temperature);
  if (cfg.t2_scaling) soft = soft * (cfg.temperature * cfg.temperature);
  return with_hard_term(soft, labels, cfg, [&] { return torch::cross_entropy_loss(s, labels); });
}

LossTerms regression_prediction_loss(const at::Tensor& student_out, const at::Tensor& teacher_out,
                                     const at::Tensor& labels, const LossConfig& cfg) {
  const auto s = student_out.to(at::kFloat).view(-1);  // (N)
  auto target =
      cfg.regression_to_teacher || !labels.defined() ? teacher_out.view(-1) : labels.view(-1);
  auto mse = torch::mse_loss(s, target.to(at::kFloat));
  return with_hard_term(mse, labels, cfg,
                        [&] { return torch::mse_loss(s, labels.view(-1).to(at::kFloat)); });
}

}  // namespace tinybert::distill
