// The task registry: a task per kind, and the task of a model's head.
#include "tinybert/task/task.h"

#include "tasks.h"
#include "tinybert/core/error.h"

namespace tinybert::task {

std::pair<at::Tensor, at::Tensor> Task::rows(const at::Tensor& logits,
                                             const at::Tensor& labels) const {
  return {logits, labels};
}

const Task& task_for(data::TaskKind kind) {
  switch (kind) {
    case data::TaskKind::Regression:
      return regression();
    case data::TaskKind::TokenClassification:
      return token_classification();
    case data::TaskKind::Classification:
      break;
  }
  return sequence_classification();
}

const Task& task_of(const model::BertConfig& c) {
  switch (c.architecture) {
    case model::Architecture::TokenClassification:
      return task_for(data::TaskKind::TokenClassification);
    case model::Architecture::SequenceClassification:
      return task_for(c.is_regression() ? data::TaskKind::Regression
                                        : data::TaskKind::Classification);
    default:
      fail("the model is a ", model::architecture_name(c.architecture),
           ", which predicts no labels: fine-tune or distill a BertForSequenceClassification or "
           "BertForTokenClassification first");
  }
}

}  // namespace tinybert::task
