// Tokenized datasets and batch sources.
#include "tinybert/data/dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "tinybert/core/error.h"

namespace tinybert::data {

model::BertInputs to_inputs(const std::vector<text::Encoding>& encodings, int32_t pad_id,
                            c10::Device device) {
  return to_inputs(text::pad_batch(encodings, pad_id), device);
}

model::BertInputs to_inputs(const text::Batch& b, c10::Device device) {
  auto tensor = [&](const std::vector<int64_t>& v) {  // (B, T), copied off the batch
    return torch::from_blob(const_cast<int64_t*>(v.data()), {b.batch, b.length}, torch::kLong)
        .clone()
        .to(device);
  };
  return {tensor(b.ids), tensor(b.type_ids), tensor(b.attention_mask)};
}

Dataset Dataset::encode(const std::vector<Example>& examples, const TaskSpec& spec,
                        const text::Tokenizer& tok, size_t max_length, const std::string& source) {
  Dataset d;
  d.regression_ = spec.regression;
  d.pad_id_ = tok.vocab().pad_id;
  d.encodings_.reserve(examples.size());
  for (const auto& e : examples) {
    try {
      d.encodings_.push_back(
          tok.encode(e.text_a, e.text_b ? std::optional<std::string_view>(*e.text_b) : std::nullopt,
                     max_length));
    } catch (const Error& err) {
      fail(source, " line ", e.line, ": ", err.what());
    }
    if (e.label.empty()) {
      d.labeled_ = false;
      d.label_ids_.push_back(-1);
      d.values_.push_back(0);
    } else if (spec.regression) {
      d.label_ids_.push_back(-1);
      d.values_.push_back(std::stod(e.label));
    } else {
      d.label_ids_.push_back(label_id(spec, e, source));
      d.values_.push_back(0);
    }
  }
  return d;
}

TrainBatch Dataset::batch(const std::vector<int64_t>& indices, c10::Device device) const {
  std::vector<text::Encoding> enc;
  enc.reserve(indices.size());
  for (int64_t i : indices) enc.push_back(encodings_.at(i));
  TrainBatch b{to_inputs(enc, pad_id_, device), {}, indices};
  if (labeled_) {
    if (regression_) {
      std::vector<float> v;
      for (int64_t i : indices) v.push_back(static_cast<float>(values_[i]));
      b.labels = torch::tensor(v).to(device);
    } else {
      std::vector<int64_t> v;
      for (int64_t i : indices) v.push_back(label_ids_[i]);
      b.labels = torch::tensor(v, torch::kLong).to(device);
    }
  }
  return b;
}

// ---- in-memory source

DatasetSource::DatasetSource(const Dataset& data, int64_t batch_size, uint64_t seed,
                             c10::Device device, bool shuffle)
    : data_(data), batch_size_(batch_size), seed_(seed), device_(device), shuffle_(shuffle) {
  if (batch_size <= 0) fail("batch size must be positive, found ", batch_size);
}

int64_t DatasetSource::batches_per_epoch() const {
  return (static_cast<int64_t>(data_.size()) + batch_size_ - 1) / batch_size_;
}

void DatasetSource::start_epoch(int64_t epoch) {
  order_.resize(data_.size());
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    std::mt19937_64 rng(seed_ * 1000003ull + static_cast<uint64_t>(epoch));
    std::shuffle(order_.begin(), order_.end(), rng);
  }
  pos_ = 0;
}

std::optional<TrainBatch> DatasetSource::next() {
  if (pos_ >= order_.size()) return std::nullopt;
  size_t end = std::min(order_.size(), pos_ + static_cast<size_t>(batch_size_));
  std::vector<int64_t> idx(order_.begin() + pos_, order_.begin() + end);
  pos_ = end;
  return data_.batch(idx, device_);
}

void DatasetSource::skip(int64_t batches) {
  pos_ = std::min(order_.size(), pos_ + static_cast<size_t>(batches * batch_size_));
}

// ---- streamed corpus

CorpusSource::CorpusSource(std::string path, const text::Tokenizer& tok, size_t max_length,
                           int64_t batch_size, uint64_t seed, c10::Device device,
                           size_t chunk_sequences)
    : path_(std::move(path)),
      tok_(tok),
      max_length_(max_length),
      batch_size_(batch_size),
      seed_(seed),
      device_(device),
      chunk_sequences_(chunk_sequences) {
  if (max_length_ < 8) fail("--max-length ", max_length_, " is too short for corpus sequences");
  // One streaming pass to count sequences, so the schedule and progress know the epoch length.
  start_epoch(0);
  text::Encoding e;
  while (read_sequence(e)) ++sequences_;
  if (sequences_ == 0)
    fail(path_, ": no text (expected one sentence a line, blank line between documents)");
  batches_ = (sequences_ + batch_size_ - 1) / batch_size_;
}

void CorpusSource::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  in_ = std::ifstream(path_);
  if (!in_) fail("cannot open corpus ", path_);
  line_no_ = 0;
  pending_.clear();
  chunk_.clear();
  chunk_pos_ = 0;
  chunk_index_ = 0;
}

bool CorpusSource::read_sequence(text::Encoding& out) {
  const size_t budget = max_length_ - 2;
  std::vector<int32_t> ids = std::move(pending_);
  pending_.clear();
  if (ids.size() > budget) ids.resize(budget);
  std::string line;
  while (std::getline(in_, line)) {
    ++line_no_;
    if (line.empty() || line == "\r") {  // document boundary: never pack across it
      if (!ids.empty()) break;
      continue;
    }
    std::vector<int32_t> sentence;
    try {
      tok_.tokenize(line, sentence);
    } catch (const Error& e) {
      fail(path_, " line ", line_no_, ": ", e.what());
    }
    if (sentence.empty()) continue;
    if (!ids.empty() && ids.size() + sentence.size() > budget) {
      pending_ = std::move(sentence);
      break;
    }
    ids.insert(ids.end(), sentence.begin(), sentence.end());
    if (ids.size() >= budget) {
      ids.resize(budget);
      break;
    }
  }
  if (ids.empty()) return false;
  out.ids.clear();
  out.ids.push_back(tok_.vocab().cls_id);
  out.ids.insert(out.ids.end(), ids.begin(), ids.end());
  out.ids.push_back(tok_.vocab().sep_id);
  out.type_ids.assign(out.ids.size(), 0);
  return true;
}

bool CorpusSource::fill_chunk() {
  chunk_.clear();
  chunk_pos_ = 0;
  text::Encoding e;
  while (chunk_.size() < chunk_sequences_ && read_sequence(e)) chunk_.push_back(e);
  std::mt19937_64 rng(seed_ * 1000003ull + static_cast<uint64_t>(epoch_) * 7919ull +
                      chunk_index_++);
  std::shuffle(chunk_.begin(), chunk_.end(), rng);
  return !chunk_.empty();
}

std::optional<TrainBatch> CorpusSource::next() {
  std::vector<text::Encoding> batch;
  while (static_cast<int64_t>(batch.size()) < batch_size_) {
    if (chunk_pos_ >= chunk_.size() && !fill_chunk()) break;
    batch.push_back(std::move(chunk_[chunk_pos_++]));
  }
  if (batch.empty()) return std::nullopt;
  return TrainBatch{to_inputs(batch, tok_.vocab().pad_id, device_), {}, {}};
}

void CorpusSource::skip(int64_t batches) {
  for (int64_t n = batches * batch_size_; n > 0; --n) {
    if (chunk_pos_ >= chunk_.size() && !fill_chunk()) return;
    ++chunk_pos_;
  }
}

}  // namespace tinybert::data
