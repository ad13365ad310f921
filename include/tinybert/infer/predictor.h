// Inference for people: a trained model (sequence or token classifier, question answering) ready to
// use: reads inputs into rows, runs padded batches under inference mode, and decodes and answers
// through the model's task (task/task.h).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tinybert/core/error.h"
#include "tinybert/model/heads.h"
#include "tinybert/runtime/workers.h"
#include "tinybert/task/task.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::infer {

struct PredictorOptions {
  c10::Device device = c10::kCPU;
  c10::ScalarType dtype = c10::kFloat;
  size_t max_length = 128;  // capped at the model's max_position_embeddings
  int workers = 0;  // CPU: forwards side by side, one thread each (0: one per thread; 1: none)
  bool allow_untrained_head = false;  // load a checkpoint without classifier weights (random head)
  data::QaSettings qa;                // question answering: windows and the answer search
};

using task::InvalidInput;
using task::Prediction;
using task::TooLong;

// The lengths (tokens) of encodings, for Task::decode.
std::vector<int64_t> lengths_of(std::span<const text::Encoding* const> rows);

// The rows of several inputs, in order (an input may be several rows: a question's windows).
struct InputRows {
  std::vector<text::Encoding> rows;
  std::vector<size_t> first{0};                      // input i: rows [first[i], first[i + 1])
  void add(std::vector<text::Encoding> input_rows);  // the next input's rows
  size_t inputs() const { return first.size() - 1; }
  void clear();
};

class Predictor {
 public:
  // Loads an HF-format BertForSequenceClassification, BertForTokenClassification or
  // BertForQuestionAnswering directory; fails for any other head.
  Predictor(const std::string& dir, const PredictorOptions& options);

  // The rows of one input (Task::encode): [CLS] text [SEP] (pair [SEP]), with offsets when the
  // task renders them, longer than max_length truncated or TooLong when !truncate; a question's
  // context windows. InvalidInput for a pair when the model has one token type only, or for what
  // its task cannot take.
  std::vector<text::Encoding> encode(const task::Input& in, bool truncate = true) const;
  // One forward pass per max_batch rows, each padded to its longest row (on the CPU its rows
  // split between the workers, each part padded to its own longest row).
  std::vector<Prediction> predict(const std::vector<const text::Encoding*>& inputs,
                                  size_t max_batch = 64);

  const model::BertConfig& config() const { return model_->config; }
  const task::Task& task() const { return *task_; }
  // The answer to input i of `rows` from the predictions of all its rows (Task::render with the
  // model's labels); `tokens`: a token classifier's answer lists each word's tag too.
  nlohmann::ordered_json render(const InputRows& rows, std::span<const Prediction> predictions,
                                size_t i, const task::Input& in, bool tokens = false) const;
  size_t max_length() const { return max_length_; }
  int64_t parameters() const;
  std::string load_summary;  // what the checkpoint loader reported

 private:
  model::AutoBert model_{nullptr};
  const task::Task* task_ = nullptr;
  std::unique_ptr<runtime::Workers> workers_;
  text::Tokenizer tokenizer_;
  c10::Device device_;
  size_t max_length_;
  data::QaSettings qa_;
};

}  // namespace tinybert::infer
