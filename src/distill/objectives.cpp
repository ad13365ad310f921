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
#include "tinybert/task/task.h"

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
  task_ = &task::task_of(student_->config);
  if (&task::task_of(teacher_->config) != task_)
    fail("the teacher does ", task::task_of(teacher_->config).name(), ", the student ",
         task_->name());
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  torch::NoGradGuard no_grad;
  // The cache holds each example's rows (Task::rows: the sequence, or its labelled tokens) at
  // offsets_[i]. Blocks of `step` examples in index order; rank r runs the teacher on blocks r,
  // r + W, ... into its copy and the ranks sum their copies (each row is written by one rank
  // only), so every value is the one a single process computes.
  const auto& g = runtime::group();
  const int64_t n = static_cast<int64_t>(train.size());
  offsets_.assign(1, 0);
  for (int64_t i = 0; i < n; ++i)
    offsets_.push_back(offsets_.back() + task_->rows_of(train, static_cast<size_t>(i)));
  const int64_t step = std::max<int64_t>(1, dev_.batch_size), blocks = (n + step - 1) / step;
  auto mine = torch::zeros({offsets_.back(), task_->row_width(teacher_->config, train)},
                           torch::dtype(torch::kFloat).device(device_));  // (R, C)
  for (int64_t k = g.rank(); k < blocks; k += g.size()) {
    std::vector<int64_t> idx;
    for (int64_t i = k * step; i < std::min(n, (k + 1) * step); ++i) idx.push_back(i);
    const auto batch = train.batch(idx, device_);
    auto logits = model::infer(*teacher_, batch.inputs);  // (b, C) or (b, T, C)
    auto rows = task_->rows(logits, batch.labels).first;  // (r, C)
    mine.narrow(0, offsets_[k * step], rows.size(0)).copy_(rows);
    ++teacher_forwards_;
  }
  g.arrive("teacher-logits");  // no time limit for uneven ranks before the bounded gather
  g.wait_arrivals("teacher-logits");
  cache_ = g.distributed() ? torch::stack(g.all_gather(mine)).sum(0) : mine;  // (R, C)
}

NamedParams PredictionObjective::trainable() {
  return train::named_params(*student_);
}

LossTerms PredictionObjective::loss(const data::TrainBatch& batch) {
  std::vector<int64_t> rows;
  for (int64_t i : batch.indices)
    for (int64_t r = offsets_[static_cast<size_t>(i)]; r < offsets_[static_cast<size_t>(i) + 1];
         ++r)
      rows.push_back(r);
  auto teacher = cache_.index_select(0, torch::tensor(rows, torch::kLong).to(device_));  // (N, C)
  auto [student, labels] = task_->rows(task_->logits(*student_, batch.inputs), batch.labels);
  return task_->distill_loss(student, teacher, labels, cfg_);
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
