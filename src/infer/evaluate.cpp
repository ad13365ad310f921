// Dataset predictions and task metrics.
#include "tinybert/infer/evaluate.h"

#include <torch/torch.h>

#include <algorithm>

#include "tinybert/core/error.h"
#include "tinybert/core/stop.h"
#include "tinybert/data/metrics.h"
#include "tinybert/data/task_data.h"
#include "tinybert/model/infer.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::infer {

std::vector<Prediction> predict(model::AutoBertImpl& m, const data::Dataset& d, int64_t batch_size,
                                c10::Device device) {
  const bool was_training = m.is_training();
  m.eval();
  std::vector<Prediction> out;
  out.reserve(d.size());
  const bool regression = m.config.is_regression();
  for (size_t start = 0; start < d.size(); start += static_cast<size_t>(batch_size)) {
    if (stop_requested()) throw Interrupted();
    std::vector<int64_t> idx;
    for (size_t i = start; i < std::min(d.size(), start + batch_size); ++i)
      idx.push_back(static_cast<int64_t>(i));
    auto logits = model::infer(m, d.batch(idx, device).inputs);  // (B, C)
    for (auto& p : decode(logits, regression)) out.push_back(std::move(p));
  }
  m.train(was_training);
  return out;
}

std::map<std::string, double> evaluate(model::AutoBertImpl& m, const data::Dataset& d,
                                       const data::TaskSpec& spec, int64_t batch_size,
                                       c10::Device device) {
  if (!d.labeled()) fail("the evaluation split has unlabeled rows; metrics need labels");
  if (spec.regression != m.config.is_regression())
    fail("the task is ", spec.regression ? "a regression" : "a classification",
         " but the model is ", m.config.is_regression() ? "a regressor" : "a classifier");
  const auto p = predict(m, d, batch_size, device);
  if (spec.regression) {
    std::vector<double> values;
    for (const auto& x : p) values.push_back(x.scores[0]);
    return data::regression_metrics(spec.metrics, values, d.values());
  }
  std::vector<int64_t> ids;
  for (const auto& x : p) ids.push_back(x.label);
  return data::classification_metrics(spec.metrics, ids, d.label_ids(),
                                      static_cast<int64_t>(spec.labels.size()));
}

SplitEvaluation evaluate_split(const std::string& model_dir, const std::string& task,
                               const std::string& data_dir, const std::string& split,
                               int64_t batch_size, int64_t max_length, c10::Device device) {
  auto loaded = model::load_model(model_dir, {.device = device, .allow_int8 = true});
  auto& m = *loaded.model;
  if (m.config.architecture != model::Architecture::SequenceClassification)
    fail(model_dir, " is a ", model::architecture_name(m.config.architecture),
         "; eval needs a classifier");
  SplitEvaluation r;
  r.spec = data::task_spec(task);
  if (r.spec.name == "generic") {
    r.spec.labels = m.config.labels;
    r.spec.regression = m.config.is_regression();
  }
  data::check_labels(m.config.labels, r.spec, model_dir);
  auto tok = text::Tokenizer::from_dir(model_dir);
  data::ReadReport report;
  auto rows = data::read_split(r.spec, data_dir, split, &report);
  auto ds = data::Dataset::encode(rows, r.spec, tok, max_length, report.path);
  r.path = report.path;
  r.examples = rows.size();
  r.metrics = evaluate(m, ds, r.spec, batch_size, device);
  return r;
}

}  // namespace tinybert::infer
