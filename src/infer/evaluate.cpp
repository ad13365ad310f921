// Dataset predictions and task metrics.
#include "tinybert/infer/evaluate.h"

#include <torch/torch.h>

#include <algorithm>

#include "tinybert/core/error.h"
#include "tinybert/core/stop.h"
#include "tinybert/data/task_data.h"
#include "tinybert/model/infer.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/task/task.h"

namespace tinybert::infer {

std::vector<Prediction> predict(model::AutoBertImpl& m, const data::Dataset& d, int64_t batch_size,
                                c10::Device device) {
  const bool was_training = m.is_training();
  m.eval();
  const auto& task = task::task_of(m.config);
  std::vector<Prediction> out;
  out.reserve(d.size());
  for (size_t start = 0; start < d.size(); start += static_cast<size_t>(batch_size)) {
    if (stop_requested()) throw Interrupted();
    std::vector<int64_t> idx, lengths;
    for (size_t i = start; i < std::min(d.size(), start + batch_size); ++i) {
      idx.push_back(static_cast<int64_t>(i));
      lengths.push_back(static_cast<int64_t>(d.encoding(i).ids.size()));
    }
    auto logits = model::infer(m, d.batch(idx, device).inputs);  // (B, C) or (B, T, C)
    for (auto& p : task.decode(logits, lengths)) out.push_back(std::move(p));
  }
  m.train(was_training);
  return out;
}

std::map<std::string, double> evaluate(model::AutoBertImpl& m, const data::Dataset& d,
                                       const data::TaskSpec& spec, int64_t batch_size,
                                       c10::Device device) {
  if (!d.labeled()) fail("the evaluation split has unlabeled rows; metrics need labels");
  const auto& task = task::task_of(m.config);
  task::check_task(task, spec, "the model");
  return task.metrics(predict(m, d, batch_size, device), d, spec);
}

SplitEvaluation evaluate_split(const std::string& model_dir, const std::string& task,
                               const std::string& data_dir, const std::string& split,
                               int64_t batch_size, int64_t max_length, c10::Device device,
                               const data::QaSettings& qa) {
  auto loaded = model::load_model(model_dir, {.device = device, .allow_int8 = true});
  auto& m = *loaded.model;
  model::prepare_inference(*m.bert);
  const task::Task* head = nullptr;
  try {
    head = &task::task_of(m.config);
  } catch (const Error& e) {
    fail(model_dir, ": ", e.what());
  }
  SplitEvaluation r;
  r.spec = data::task_spec(task);
  data::set_qa_settings(r.spec, qa);
  const bool sequence =
      head->kind() == data::TaskKind::Classification || head->kind() == data::TaskKind::Regression;
  if (r.spec.name == "generic" && sequence) r.spec.kind = head->kind();  // the model's
  task::check_task(*head, r.spec, model_dir);
  if (r.spec.name == "generic" || head->kind() == data::TaskKind::TokenClassification)
    r.spec.labels = m.config.labels;
  data::check_labels(m.config.labels, r.spec, model_dir);
  auto tok = text::Tokenizer::from_dir(model_dir);
  auto split_data = data::load_split(r.spec, data_dir, split, tok, max_length);
  r.path = split_data.path;
  r.examples = split_data.examples;
  r.cut_words = split_data.data.cut_words();
  r.metrics = evaluate(m, split_data.data, r.spec, batch_size, device);
  return r;
}

}  // namespace tinybert::infer
