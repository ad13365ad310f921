// Predictor: checkpoint + tokenizer -> labelled probabilities, in padded batches.
#include "tinybert/infer/predictor.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "tinybert/data/dataset.h"
#include "tinybert/model/infer.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::infer {

std::vector<int64_t> lengths_of(std::span<const text::Encoding* const> rows) {
  std::vector<int64_t> n;
  n.reserve(rows.size());
  for (const auto* e : rows) n.push_back(static_cast<int64_t>(e->ids.size()));
  return n;
}

Predictor::Predictor(const std::string& dir, const PredictorOptions& options)
    : tokenizer_(text::Tokenizer::from_dir(dir)), device_(options.device), qa_(options.qa) {
  auto loaded = model::load_model(
      dir, {.device = options.device, .dtype = options.dtype, .allow_int8 = true});
  model_ = loaded.model;
  model::prepare_inference(*model_->bert);
  try {
    task_ = &task::task_of(model_->config);
  } catch (const Error& e) {
    fail(dir, ": ", e.what());
  }
  if (!loaded.report.initialized.empty() && !options.allow_untrained_head)
    fail(dir, "/model.safetensors has no weights for ", loaded.report.initialized.front(),
         ": its predictions would come from a randomly initialised head. Fine-tune or distill it "
         "first (or pass --allow-untrained-head to use it anyway)");
  load_summary = loaded.report.summary();
  max_length_ = std::min<size_t>(options.max_length, model_->config.max_position_embeddings);
  if (max_length_ < options.max_length)
    load_summary += cat("notice: the model has ", max_length_, " positions: inputs are cut at ",
                        max_length_, " tokens, not ", options.max_length, "\n");
  if (device_.is_cpu() && options.workers != 1)
    workers_ = std::make_unique<runtime::Workers>(options.workers);
}

int64_t Predictor::parameters() const {
  int64_t n = 0;
  for (const auto& p : model_->parameters()) n += p.numel();
  return n;
}

std::vector<text::Encoding> Predictor::encode(const task::Input& in, bool truncate) const {
  if (in.pair && model_->config.type_vocab_size < 2)
    throw InvalidInput("this model takes single texts, not pairs (its type_vocab_size is 1)");
  return task_->encode(tokenizer_, in, {max_length_, truncate, qa_});
}

void InputRows::add(std::vector<text::Encoding> input_rows) {
  for (auto& e : input_rows) rows.push_back(std::move(e));
  first.push_back(rows.size());
}

void InputRows::clear() {
  rows.clear();
  first.assign(1, 0);
}

nlohmann::ordered_json Predictor::render(const InputRows& rows,
                                         std::span<const Prediction> predictions, size_t i,
                                         const task::Input& in, bool tokens) const {
  const size_t start = rows.first.at(i), n = rows.first.at(i + 1) - start;
  return task_->render(predictions.subspan(start, n),
                       std::span<const text::Encoding>(rows.rows).subspan(start, n),
                       model_->config.labels, in, {max_length_, true, qa_, tokens});
}

std::vector<Prediction> Predictor::predict(const std::vector<const text::Encoding*>& inputs,
                                           size_t max_batch) {
  c10::InferenceMode guard;
  std::vector<Prediction> out;
  out.reserve(inputs.size());
  const int32_t pad = tokenizer_.vocab().pad_id;
  for (size_t start = 0; start < inputs.size(); start += max_batch) {
    const size_t n = std::min(max_batch, inputs.size() - start);
    const std::span<const text::Encoding* const> rows(inputs.data() + start, n);
    const auto batch = text::pad_batch(rows, pad);
    auto logits = model::infer(*model_, data::to_inputs(batch, device_), workers_.get());
    for (auto& p : task_->decode(logits, lengths_of(rows))) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace tinybert::infer
