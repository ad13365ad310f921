// The task types behind task_for(): sequence classification, regression, token classification.
#pragma once

#include "tinybert/task/task.h"

namespace tinybert::task {

// One class per input, from [CLS]: BertForSequenceClassification.
class SequenceClassification : public Task {
 public:
  data::TaskKind kind() const override { return data::TaskKind::Classification; }
  const char* name() const override { return "classification"; }
  model::Architecture architecture() const override {
    return model::Architecture::SequenceClassification;
  }
  at::Tensor logits(model::AutoBertImpl& m, const model::BertInputs& in) const override;
  at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const override;
  train::LossTerms distill_loss(const at::Tensor& student, const at::Tensor& teacher,
                                const at::Tensor& labels,
                                const distill::LossConfig& cfg) const override;
  std::vector<Prediction> decode(const at::Tensor& logits,
                                 const std::vector<int64_t>& lengths) const override;
  std::map<std::string, double> metrics(const std::vector<Prediction>& p, const data::Dataset& d,
                                        const data::TaskSpec& spec) const override;
  nlohmann::ordered_json render(const Prediction& p, const std::vector<std::string>& labels,
                                const text::Encoding& e, std::string_view text) const override;
};

// One value per input (one output, MSE): a BertForSequenceClassification with
// problem_type "regression".
class Regression : public SequenceClassification {
 public:
  data::TaskKind kind() const override { return data::TaskKind::Regression; }
  const char* name() const override { return "regression"; }
  at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const override;
  train::LossTerms distill_loss(const at::Tensor& student, const at::Tensor& teacher,
                                const at::Tensor& labels,
                                const distill::LossConfig& cfg) const override;
  std::vector<Prediction> decode(const at::Tensor& logits,
                                 const std::vector<int64_t>& lengths) const override;
  std::map<std::string, double> metrics(const std::vector<Prediction>& p, const data::Dataset& d,
                                        const data::TaskSpec& spec) const override;
  nlohmann::ordered_json render(const Prediction& p, const std::vector<std::string>& labels,
                                const text::Encoding& e, std::string_view text) const override;
};

// One class per token: BertForTokenClassification (tagging, named entities).
class TokenClassification : public Task {
 public:
  data::TaskKind kind() const override { return data::TaskKind::TokenClassification; }
  const char* name() const override { return "token_classification"; }
  model::Architecture architecture() const override {
    return model::Architecture::TokenClassification;
  }
  at::Tensor logits(model::AutoBertImpl& m, const model::BertInputs& in) const override;
  std::pair<at::Tensor, at::Tensor> rows(const at::Tensor& logits,
                                         const at::Tensor& labels) const override;
  int64_t rows_of(const data::Dataset& d, size_t i) const override;
  at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const override;
  train::LossTerms distill_loss(const at::Tensor& student, const at::Tensor& teacher,
                                const at::Tensor& labels,
                                const distill::LossConfig& cfg) const override;
  std::vector<Prediction> decode(const at::Tensor& logits,
                                 const std::vector<int64_t>& lengths) const override;
  std::map<std::string, double> metrics(const std::vector<Prediction>& p, const data::Dataset& d,
                                        const data::TaskSpec& spec) const override;
  nlohmann::ordered_json render(const Prediction& p, const std::vector<std::string>& labels,
                                const text::Encoding& e, std::string_view text) const override;
  bool needs_offsets() const override { return true; }
  bool takes_pairs() const override { return false; }
};

}  // namespace tinybert::task
