// The distillation objectives: intermediate layers, then the prediction layer.
#include "tinybert/distill/objectives.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <filesystem>

#include "tinybert/core/error.h"
#include "tinybert/model/infer.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/runtime/distributed.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::distill {

namespace fs = std::filesystem;

// ---- intermediate layers

IntermediateObjective::IntermediateObjective(model::AutoBert teacher, model::AutoBert student,
                                             FitDense fit, LayerMap map, LossConfig cfg,
                                             const text::Tokenizer& tok)
    : teacher_(std::move(teacher)),
      student_(std::move(student)),
      fit_(std::move(fit)),
      map_(std::move(map)),
      cfg_(cfg),
      tok_(tok) {
  const auto& t = teacher_->config;
  const auto& s = student_->config;
  if (t.num_attention_heads != s.num_attention_heads)
    fail("the attention loss pairs heads one to one: the teacher has ", t.num_attention_heads,
         " heads, the student ", s.num_attention_heads,
         " (give the student the teacher's head count)");
  if (static_cast<int64_t>(map_.hidden.size()) != s.num_hidden_layers + 1)
    fail("the layer map covers ", map_.hidden.size() - 1, " student layers, the student has ",
         s.num_hidden_layers);
  if (map_.teacher_layers_needed() > t.num_hidden_layers)
    fail("the layer map needs teacher layer ", map_.teacher_layers_needed(), ", the teacher has ",
         t.num_hidden_layers);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

NamedParams IntermediateObjective::trainable() {
  auto p = train::named_params(*student_);
  auto f = train::named_params(*fit_, "fit_dense_module.");
  p.insert(p.end(), f.begin(), f.end());
  return p;
}

LossTerms IntermediateObjective::loss(const data::TrainBatch& batch) {
  model::ModelOutput t;
  {
    torch::NoGradGuard
        no_grad;  // (not InferenceMode: its tensors could not meet the student's graph)
    runtime::Autocast teacher_precision(batch.inputs.input_ids.device(), torch::kFloat);
    t = teacher_->forward(batch.inputs, {.hidden_states = true,
                                         .attention_scores = true,
                                         .max_layers = map_.teacher_layers_needed(),
                                         .heads = false});
  }
  auto s = student_->forward(batch.inputs,
                             {.hidden_states = true, .attention_scores = true, .heads = false});
  return intermediate_loss(s.bert, t.bert, *fit_, map_, cfg_);
}

void IntermediateObjective::save(const std::string& dir) {
  model::write_model_files(*student_, tok_, dir);
  save_fit_dense(*fit_, dir);
}

void IntermediateObjective::load_trainable(const std::string& dir) {
  train::reload_weights(*student_, dir);
  if (!load_fit_dense(*fit_, dir)) fail(dir, ": no ", kFitDenseFile, "; cannot resume");
}

// ---- prediction layer

PredictionObjective::PredictionObjective(model::AutoBert teacher, model::AutoBert student,
                                         LossConfig cfg, const data::Dataset& train,
                                         const text::Tokenizer& tok, infer::DevSet dev,
                                         c10::Device device, std::string fit_dense_from)
    : teacher_(std::move(teacher)),
      student_(std::move(student)),
      cfg_(cfg),
      tok_(tok),
      dev_(std::move(dev)),
      device_(device),
      fit_dense_from_(std::move(fit_dense_from)) {
  if (teacher_->config.labels != student_->config.labels)
    fail("teacher and student label orders differ; they must be the same list in the same order");
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  torch::NoGradGuard no_grad;
  // Blocks of `step` examples in index order; rank r runs the teacher on blocks r, r + W, ...
  // and the ranks gather the logits, so every value is the one a single process computes.
  const auto& g = runtime::group();
  const int64_t n = static_cast<int64_t>(train.size());
  const int64_t step = std::max<int64_t>(1, dev_.batch_size);
  const int64_t blocks = (n + step - 1) / step, per_rank = (blocks + g.size() - 1) / g.size();
  const int64_t classes = teacher_->config.num_labels();
  auto mine = torch::zeros({per_rank * step, classes}, torch::dtype(torch::kFloat).device(device_));
  for (int64_t k = g.rank(), slot = 0; k < blocks; k += g.size(), ++slot) {
    std::vector<int64_t> idx;
    for (int64_t i = k * step; i < std::min(n, (k + 1) * step); ++i) idx.push_back(i);
    auto logits = model::infer(*teacher_, train.batch(idx, device_).inputs);  // (b, C)
    mine.narrow(0, slot * step, static_cast<int64_t>(idx.size())).copy_(logits);
    ++teacher_forwards_;
  }
  g.arrive("teacher-logits");  // no time limit for uneven ranks before the bounded gather
  g.wait_arrivals("teacher-logits");
  const auto all = g.all_gather(mine);  // per rank: (per_rank * step, C)
  std::vector<at::Tensor> ordered;
  for (int64_t k = 0; k < blocks; ++k)
    ordered.push_back(
        all[static_cast<size_t>(k % g.size())].narrow(0, (k / g.size()) * step, step));
  cache_ = ordered.empty() ? mine : torch::cat(ordered).narrow(0, 0, n);  // (N, C)
}

NamedParams PredictionObjective::trainable() {
  return train::named_params(*student_);
}

LossTerms PredictionObjective::loss(const data::TrainBatch& batch) {
  auto rows = torch::tensor(batch.indices, torch::kLong).to(device_);
  auto teacher_logits = cache_.index_select(0, rows);  // (B, C)
  auto s = student_->classify_at_cls(batch.inputs);    // (B, C)
  return prediction_loss(s, teacher_logits, batch.labels, student_->config.is_regression(), cfg_);
}

std::map<std::string, double> PredictionObjective::evaluate() {
  if (!dev_.data) return {};
  return infer::evaluate(*student_, *dev_.data, dev_.spec, dev_.batch_size, device_);
}

void PredictionObjective::save(const std::string& dir) {
  model::write_model_files(*student_, tok_, dir);
  const fs::path fit = fs::path(fit_dense_from_) / kFitDenseFile;
  if (!fit_dense_from_.empty() && fs::exists(fit))
    fs::copy_file(fit, fs::path(dir) / kFitDenseFile);
}

void PredictionObjective::load_trainable(const std::string& dir) {
  train::reload_weights(*student_, dir);
}

}  // namespace tinybert::distill
