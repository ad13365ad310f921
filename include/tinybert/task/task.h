// Task types: what a model predicts. Sequence classification, regression, token classification
// and question answering each own, in one place, their head (the HF architecture), the rows their
// losses compare, the fine-tuning and prediction-distillation losses, decoding, metrics and the
// JSON answer; the commands, the trainer, inference and the server ask the task instead of
// branching.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinybert/core/error.h"
#include "tinybert/data/dataset.h"
#include "tinybert/distill/losses.h"
#include "tinybert/model/heads.h"

namespace tinybert::task {

// One input's decoded output.
struct Prediction {
  int64_t label = 0;          // sequence heads: the argmax class
  std::vector<float> scores;  // sequence heads: softmax per class, or {value} for a regression
  std::vector<int64_t> token_labels;  // token heads: argmax class of each token of the input
  std::vector<float> token_scores;    // token heads: its probability
  std::vector<float> start_logits, end_logits;  // question answering: per token of the window
};

// One input of predict or serve: a text, or a text pair (question answering: the question and
// the context).
struct Input {
  std::string_view text;
  std::optional<std::string_view> pair;
};

// How inputs are read and answers searched.
struct InputOptions {
  size_t max_length = 128;  // tokens per row
  bool truncate = true;     // cut a longer input (else TooLong)
  data::QaSettings qa;      // question answering: windows and the answer search
  bool tokens = false;      // token classification: each word's tag too, not only the entities
};

// Thrown by Task::encode for an input the model cannot take.
struct InvalidInput : Error {
  using Error::Error;
};
// Thrown by Task::encode for an input longer than max_length when truncation is off.
struct TooLong : Error {
  TooLong(size_t tokens, size_t max_length);
  size_t tokens, max_length;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual data::TaskKind kind() const = 0;
  virtual const char* name() const = 0;  // "classification", "regression", "token_classification"
  virtual model::Architecture architecture() const = 0;

  // The head's logits for training: (B, C) from [CLS] (the last layer run at [CLS] only), or
  // (B, T, C) per token.
  virtual at::Tensor logits(model::AutoBertImpl& m, const model::BertInputs& in) const = 0;
  // The rows the losses compare, (N, C), with their labels (N): a sequence head's B rows; a
  // token head's labelled tokens, in batch order (labels undefined: all rows, undefined labels).
  virtual std::pair<at::Tensor, at::Tensor> rows(const at::Tensor& logits,
                                                 const at::Tensor& labels) const;
  // Rows of an example of a dataset among rows(): what the teacher-logit cache keeps for it.
  virtual int64_t rows_of(const data::Dataset&, size_t) const { return 1; }
  // Width C of those rows for a model of config `c` on dataset `d`: its labels (question
  // answering: the dataset's padded length, one logit per position).
  virtual int64_t row_width(const model::BertConfig& c, const data::Dataset&) const {
    return c.num_labels();
  }
  // Fine-tuning loss on gold labels (a batch's labels: (B) or (B, T)).
  virtual at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const = 0;
  // Prediction-layer distillation on rows (N, C): student against cached teacher rows; soft
  // cross-entropy at the temperature over each row's classes (or positions) unless overridden.
  virtual train::LossTerms distill_loss(const at::Tensor& student, const at::Tensor& teacher,
                                        const at::Tensor& labels,
                                        const distill::LossConfig& cfg) const;

  // One Prediction per row of inference logits ((B, C) or (B, T, C)); lengths[i]: tokens of row i.
  virtual std::vector<Prediction> decode(const at::Tensor& logits,
                                         const std::vector<int64_t>& lengths) const = 0;
  // The task's metrics (spec.metrics) of one prediction per example of a labelled dataset.
  virtual std::map<std::string, double> metrics(const std::vector<Prediction>& p,
                                                const data::Dataset& d,
                                                const data::TaskSpec& spec) const = 0;
  // The rows the model reads for one input: its encoding (with offsets when needs_offsets()),
  // cut to max_length or TooLong; question answering: a window per part of the context.
  // InvalidInput for a pair when !takes_pairs().
  virtual std::vector<text::Encoding> encode(const text::Tokenizer& tok, const Input& in,
                                             const InputOptions& o) const;
  // The answer to one input, as predict and serve give it, from its rows and their predictions.
  virtual nlohmann::ordered_json render(std::span<const Prediction> p,
                                        std::span<const text::Encoding> rows,
                                        const std::vector<std::string>& labels, const Input& in,
                                        const InputOptions& o) const = 0;
  // Whether render() reads offsets (encode with Tokenizer::encode_aligned).
  virtual bool needs_offsets() const { return false; }
  // Whether an input may be a text pair.
  virtual bool takes_pairs() const { return true; }
};

// The task of a kind.
const Task& task_for(data::TaskKind kind);
// Fails, naming `who` (the model), unless a model doing `model_task` does the task of `spec`.
void check_task(const Task& model_task, const data::TaskSpec& spec, const std::string& who);
// The task a model's head does; fails, naming the architecture, for heads without labels.
const Task& task_of(const model::BertConfig& c);

}  // namespace tinybert::task
