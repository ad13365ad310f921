// Inference for people: a classifier (sequence or token) ready to use: tokenizes texts, runs padded
// batches under inference mode, and decodes the logits through the model's task (task/task.h).
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
};

using task::Prediction;

// The lengths (tokens) of encodings, for Task::decode.
std::vector<int64_t> lengths_of(std::span<const text::Encoding* const> rows);

// Thrown by encode() for an input the model cannot take.
struct InvalidInput : Error {
  using Error::Error;
};
// Thrown by encode() for an input longer than max_length when truncation is off.
struct TooLong : Error {
  TooLong(size_t tokens, size_t max_length);
  size_t tokens, max_length;
};

class Predictor {
 public:
  // Loads an HF-format BertForSequenceClassification or BertForTokenClassification directory;
  // fails for any other head.
  Predictor(const std::string& dir, const PredictorOptions& options);

  // [CLS] text [SEP] (pair [SEP]), with offsets when the task renders them; longer than
  // max_length: truncated, or TooLong when !truncate. InvalidInput for a pair when the model has
  // one token type only, or its task takes single texts.
  text::Encoding encode(std::string_view text, std::optional<std::string_view> pair,
                        bool truncate = true) const;
  // One forward pass per max_batch rows, each padded to its longest row (on the CPU its rows
  // split between the workers, each part padded to its own longest row).
  std::vector<Prediction> predict(const std::vector<const text::Encoding*>& inputs,
                                  size_t max_batch = 64);

  const model::BertConfig& config() const { return model_->config; }
  const task::Task& task() const { return *task_; }
  // A prediction as the API answers it (Task::render with the model's labels).
  nlohmann::ordered_json render(const Prediction& p, const text::Encoding& e,
                                std::string_view text) const;
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
};

}  // namespace tinybert::infer
