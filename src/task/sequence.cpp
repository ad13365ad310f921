// Sequence classification and regression: a head on the pooled [CLS] state.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>

#include "tasks.h"
#include "tinybert/data/metrics.h"

namespace tinybert::task {

namespace {

// One class per input, from [CLS]: BertForSequenceClassification.
class SequenceClassification : public Task {
 public:
  data::TaskKind kind() const override { return data::TaskKind::Classification; }
  const char* name() const override { return "classification"; }
  model::Architecture architecture() const override {
    return model::Architecture::SequenceClassification;
  }

  at::Tensor logits(model::AutoBertImpl& m, const model::BertInputs& in) const override {
    return m.classify_at_cls(in).to(at::kFloat);  // (B, C)
  }

  at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const override {
    return torch::cross_entropy_loss(logits, labels);
  }

  std::vector<Prediction> decode(const at::Tensor& logits,
                                 const std::vector<int64_t>&) const override {
    const auto scores = at::softmax(logits.to(at::kCPU, at::kFloat), -1).contiguous();  // (B, C)
    const int64_t B = scores.size(0), C = scores.size(1);
    const float* ps = scores.data_ptr<float>();
    std::vector<Prediction> out(static_cast<size_t>(B));
    for (int64_t i = 0; i < B; ++i) {
      auto& p = out[static_cast<size_t>(i)];
      p.scores.assign(ps + i * C, ps + (i + 1) * C);
      p.label = std::max_element(p.scores.begin(), p.scores.end()) - p.scores.begin();
    }
    return out;
  }

  std::map<std::string, double> metrics(const std::vector<Prediction>& p, const data::Dataset& d,
                                        const data::TaskSpec& spec) const override {
    std::vector<int64_t> ids;
    for (const auto& x : p) ids.push_back(x.label);
    return data::classification_metrics(spec.metrics, ids, d.label_ids(),
                                        static_cast<int64_t>(spec.labels.size()));
  }

  nlohmann::ordered_json render(std::span<const Prediction> rows, std::span<const text::Encoding>,
                                const std::vector<std::string>& labels, const Input&,
                                const InputOptions&) const override {
    const Prediction& p = rows.front();
    nlohmann::ordered_json scores = nlohmann::ordered_json::object();
    for (size_t k = 0; k < p.scores.size(); ++k) scores[labels[k]] = p.scores[k];
    return {{"label", labels[p.label]}, {"score", p.scores[p.label]}, {"scores", scores}};
  }
};

// One value per input (one output, MSE): a BertForSequenceClassification with problem_type
// "regression".
class Regression : public SequenceClassification {
 public:
  data::TaskKind kind() const override { return data::TaskKind::Regression; }
  const char* name() const override { return "regression"; }

  at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const override {
    return torch::mse_loss(logits.view(-1), labels);
  }

  train::LossTerms distill_loss(const at::Tensor& student, const at::Tensor& teacher,
                                const at::Tensor& labels,
                                const distill::LossConfig& cfg) const override {
    return distill::regression_prediction_loss(student, teacher, labels, cfg);
  }

  std::vector<Prediction> decode(const at::Tensor& logits,
                                 const std::vector<int64_t>&) const override {
    const auto values = logits.to(at::kCPU, at::kFloat).contiguous();  // (B, 1)
    std::vector<Prediction> out(static_cast<size_t>(values.size(0)));
    for (size_t i = 0; i < out.size(); ++i)
      out[i].scores = {values.data_ptr<float>()[static_cast<int64_t>(i) * values.size(1)]};
    return out;
  }

  std::map<std::string, double> metrics(const std::vector<Prediction>& p, const data::Dataset& d,
                                        const data::TaskSpec& spec) const override {
    std::vector<double> values;
    for (const auto& x : p) values.push_back(x.scores[0]);
    return data::regression_metrics(spec.metrics, values, d.values());
  }

  nlohmann::ordered_json render(std::span<const Prediction> rows, std::span<const text::Encoding>,
                                const std::vector<std::string>&, const Input&,
                                const InputOptions&) const override {
    return {{"value", rows.front().scores[0]}};
  }
};

}  // namespace

const Task& sequence_classification() {
  static const SequenceClassification task;
  return task;
}

const Task& regression() {
  static const Regression task;
  return task;
}

}  // namespace tinybert::task
