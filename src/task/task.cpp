// The task registry: a task per kind, and the task of a model's head.
#include "tinybert/task/task.h"

#include "tasks.h"
#include "tinybert/core/error.h"

namespace tinybert::task {

TooLong::TooLong(size_t tokens, size_t max_length)
    : Error(cat("input is ", tokens, " tokens long, over the limit of ", max_length,
                " (send \"truncate\": true to cut it)")),
      tokens(tokens),
      max_length(max_length) {}

std::vector<text::Encoding> Task::encode(const text::Tokenizer& tok, const Input& in,
                                         const InputOptions& o) const {
  if (in.pair && !takes_pairs())
    throw InvalidInput(cat("a ", name(), " model takes single texts, not pairs"));
  auto encode = [&](size_t max_length) {
    return needs_offsets() ? tok.encode_aligned(in.text, in.pair, max_length)
                           : tok.encode(in.text, in.pair, max_length);
  };
  auto e = encode(0);
  if (e.ids.size() > o.max_length) {
    if (!o.truncate) throw TooLong(e.ids.size(), o.max_length);
    e = encode(o.max_length);
  }
  return {std::move(e)};
}

train::LossTerms Task::distill_loss(const at::Tensor& student, const at::Tensor& teacher,
                                    const at::Tensor& labels,
                                    const distill::LossConfig& cfg) const {
  return distill::soft_prediction_loss(student, teacher, labels, cfg);
}

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
    case data::TaskKind::QuestionAnswering:
      return question_answering();
    case data::TaskKind::Classification:
      break;
  }
  return sequence_classification();
}

void check_task(const Task& model_task, const data::TaskSpec& spec, const std::string& who) {
  const auto k = model_task.kind();
  if (k == spec.kind) return;
  const char* hint = k == data::TaskKind::TokenClassification ? " (use --task conll)"
                     : k == data::TaskKind::QuestionAnswering ? " (use --task squad or squad_v2)"
                                                              : "";
  fail(who, " does ", model_task.name(), ", but the task ", spec.name, " is ",
       task_for(spec.kind).name(), hint);
}

const Task& task_of(const model::BertConfig& c) {
  switch (c.architecture) {
    case model::Architecture::TokenClassification:
      return task_for(data::TaskKind::TokenClassification);
    case model::Architecture::QuestionAnswering:
      return task_for(data::TaskKind::QuestionAnswering);
    case model::Architecture::SequenceClassification:
      return task_for(c.is_regression() ? data::TaskKind::Regression
                                        : data::TaskKind::Classification);
    default:
      fail("the model is a ", model::architecture_name(c.architecture),
           ", which predicts no labels: fine-tune or distill a BertForSequenceClassification, "
           "BertForTokenClassification or BertForQuestionAnswering first");
  }
}

}  // namespace tinybert::task
