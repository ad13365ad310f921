// Inference for people: a sequence-classification model ready to use: tokenizes texts, runs padded
// batches under inference mode, and turns logits into labelled probabilities (or a value, for
// regression).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tinybert/core/error.h"
#include "tinybert/model/heads.h"
#include "tinybert/runtime/workers.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::infer {

struct PredictorOptions {
  c10::Device device = c10::kCPU;
  c10::ScalarType dtype = c10::kFloat;
  size_t max_length = 128;  // capped at the model's max_position_embeddings
  int workers = 0;  // CPU: forwards side by side, one thread each (0: one per thread; 1: none)
  bool allow_untrained_head = false;  // load a checkpoint without classifier weights (random head)
};

struct Prediction {
  int64_t label = 0;          // argmax class; unused for regression
  std::vector<float> scores;  // softmax probabilities per class, or {value} for regression
};

// The one decoding of a classifier's logits (B, C), used by predict, eval, the trainer's
// evaluation and the server: softmax probabilities and their argmax, or the value (C = 1) for a
// regression.
std::vector<Prediction> decode(const at::Tensor& logits, bool regression);

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
  // Loads an HF-format BertForSequenceClassification directory; fails for any other head.
  Predictor(const std::string& dir, const PredictorOptions& options);

  // [CLS] text [SEP] (pair [SEP]); longer than max_length: truncated, or TooLong when !truncate.
  // InvalidInput for a pair when the model has one token type only.
  text::Encoding encode(std::string_view text, std::optional<std::string_view> pair,
                        bool truncate = true) const;
  // One forward pass per max_batch rows, each padded to its longest row (on the CPU its rows
  // split between the workers, each part padded to its own longest row).
  std::vector<Prediction> predict(const std::vector<const text::Encoding*>& inputs,
                                  size_t max_batch = 64);

  const model::BertConfig& config() const { return model_->config; }
  bool regression() const { return model_->config.is_regression(); }
  size_t max_length() const { return max_length_; }
  int64_t parameters() const;
  std::string load_summary;  // what the checkpoint loader reported

 private:
  model::AutoBert model_{nullptr};
  std::unique_ptr<runtime::Workers> workers_;
  text::Tokenizer tokenizer_;
  c10::Device device_;
  size_t max_length_;
};

}  // namespace tinybert::infer
