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
  d.kind_ = spec.kind;
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
    } else if (spec.kind == TaskKind::Regression) {
      d.label_ids_.push_back(-1);
      d.values_.push_back(label_value(e, source));
    } else {
      d.label_ids_.push_back(label_id(spec, e, source));
      d.values_.push_back(0);
    }
  }
  return d;
}

Dataset Dataset::encode_tagged(const std::vector<TaggedSentence>& sentences, const TaskSpec& spec,
                               const text::Tokenizer& tok, size_t max_length, bool all_pieces,
                               const std::string& source) {
  Dataset d;
  d.kind_ = spec.kind;
  d.pad_id_ = tok.vocab().pad_id;
  d.encodings_.reserve(sentences.size());
  for (const auto& s : sentences) {
    std::vector<int64_t> tags;
    for (const auto& t : s.tags) {
      auto it = std::find(spec.labels.begin(), spec.labels.end(), t);
      if (it == spec.labels.end())
        fail(source, " line ", s.line, ": tag \"", t, "\" is not one of the task's labels (",
             spec.labels.size(), " known, from the training data or the model)");
      tags.push_back(it - spec.labels.begin());
    }
    try {
      d.encodings_.push_back(tok.encode_words(s.words, max_length));
    } catch (const Error& err) {
      fail(source, " line ", s.line, ": ", err.what());
    }
    const auto& e = d.encodings_.back();
    d.cut_words_ += data::cut_words(e.word_ids, s.words.size());
    if (tags.empty()) {
      d.labeled_ = false;
      d.token_labels_.emplace_back(e.ids.size(), kIgnore);
    } else {
      d.token_labels_.push_back(align_labels(e.word_ids, tags, spec.labels, all_pieces));
    }
    d.word_tags_.push_back(std::move(tags));
  }
  return d;
}

Dataset Dataset::encode_qa(std::vector<QaExample> questions, const TaskSpec& spec,
                           const text::Tokenizer& tok, size_t max_length) {
  Dataset d;
  d.kind_ = spec.kind;
  d.pad_id_ = tok.vocab().pad_id;
  d.pad_to_ = static_cast<int64_t>(max_length);
  const QaWindowOptions o{max_length, spec.qa.doc_stride, spec.qa.max_query_length};
  for (size_t q = 0; q < questions.size(); ++q)
    for (auto& w : qa_windows(questions[q], q, tok, o)) {
      d.encodings_.push_back(std::move(w.encoding));
      d.windows_.push_back(std::move(w));
    }
  d.questions_ = std::move(questions);
  return d;
}

TrainBatch Dataset::batch(const std::vector<int64_t>& indices, c10::Device device) const {
  std::vector<const text::Encoding*> enc;
  enc.reserve(indices.size());
  for (int64_t i : indices) enc.push_back(&encodings_.at(i));
  TrainBatch b{to_inputs(text::pad_batch(enc, pad_id_, pad_to_), device), {}, indices};
  if (kind_ == TaskKind::QuestionAnswering) {
    std::vector<int64_t> v;  // (B, 2): start, end
    for (int64_t i : indices) v.insert(v.end(), {windows_[i].start, windows_[i].end});
    b.labels = torch::tensor(v, torch::kLong).view({-1, 2}).to(device);
  } else if (labeled_ && kind_ == TaskKind::TokenClassification) {
    const int64_t B = b.size(), T = b.inputs.input_ids.size(1);
    auto labels = torch::full({B, T}, kIgnore, torch::kLong);  // (B, T)
    for (int64_t r = 0; r < B; ++r) {
      const auto& l = token_labels_[static_cast<size_t>(indices[r])];
      labels[r].narrow(0, 0, static_cast<int64_t>(l.size())).copy_(torch::tensor(l, torch::kLong));
    }
    b.labels = labels.to(device);
  } else if (labeled_) {
    if (kind_ == TaskKind::Regression) {
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
                           bool next_sentence, size_t chunk_sequences)
    : path_(std::move(path)),
      tok_(tok),
      max_length_(max_length),
      batch_size_(batch_size),
      seed_(seed),
      device_(device),
      next_sentence_(next_sentence),
      chunk_sequences_(chunk_sequences) {
  if (max_length_ < 8) fail("--max-length ", max_length_, " is too short for corpus sequences");
  // One streaming pass to count sequences, so the schedule and progress know the epoch length.
  start_epoch(0);
  Packed p;
  while (read_sequence(p)) ++sequences_;
  if (sequences_ == 0)
    fail(path_, ": no text (expected one sentence a line, blank line between documents)");
  batches_ = (sequences_ + batch_size_ - 1) / batch_size_;
}

void CorpusSource::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  in_ = std::ifstream(path_);
  if (!in_) fail("cannot open corpus ", path_);
  line_no_ = 0;
  document_ = 0;
  pending_.clear();
  chunk_.clear();
  chunk_labels_.clear();
  chunk_pos_ = 0;
  chunk_index_ = 0;
}

bool CorpusSource::read_sequence(Packed& out) {
  // room for [CLS] ... [SEP], and one more [SEP] between the halves of a sentence pair
  const size_t budget = max_length_ - (next_sentence_ ? 3 : 2);
  out.ids = std::move(pending_);
  pending_.clear();
  out.starts.assign(out.ids.empty() ? 0 : 1, 0);
  out.document = document_;
  if (out.ids.size() > budget) out.ids.resize(budget);
  std::string line;
  while (std::getline(in_, line)) {
    ++line_no_;
    if (line.empty() || line == "\r") {  // document boundary: never pack across it
      ++document_;
      if (!out.ids.empty()) break;
      out.document = document_;
      continue;
    }
    std::vector<int32_t> sentence;
    try {
      tok_.tokenize(line, sentence);
    } catch (const Error& e) {
      fail(path_, " line ", line_no_, ": ", e.what());
    }
    if (sentence.empty()) continue;
    if (!out.ids.empty() && out.ids.size() + sentence.size() > budget) {
      pending_ = std::move(sentence);
      break;
    }
    out.starts.push_back(out.ids.size());
    out.ids.insert(out.ids.end(), sentence.begin(), sentence.end());
    if (out.ids.size() >= budget) {
      out.ids.resize(budget);
      break;
    }
  }
  return !out.ids.empty();
}

std::pair<text::Encoding, int64_t> CorpusSource::sentence_pair(const std::vector<Packed>& packed,
                                                               size_t i,
                                                               std::mt19937_64& rng) const {
  const Packed& p = packed[i];
  const size_t budget = max_length_ - 3;
  // A ends at a sentence boundary; a sequence of one (long) sentence is cut in its middle.
  const size_t cut = p.starts.size() >= 2 ? p.starts[1 + rng() % (p.starts.size() - 1)]
                                          : std::max<size_t>(1, p.ids.size() / 2);
  std::vector<int32_t> a(p.ids.begin(), p.ids.begin() + cut), b;
  int64_t label = rng() % 2;
  const Packed* other = nullptr;
  for (int tries = 0; label == 1 && !other && tries < 16; ++tries) {
    const Packed& q = packed[rng() % packed.size()];
    if (q.document != p.document) other = &q;
  }
  if (!other) label = 0;  // a chunk of one document: nothing to draw a random B from
  if (label == 0) {
    b.assign(p.ids.begin() + cut, p.ids.end());
  } else {
    // Whole sentences of the other document, as long as the true continuation would have been.
    const size_t target = std::max<size_t>(1, p.ids.size() - cut), room = budget - a.size();
    size_t s = rng() % other->starts.size();
    for (; s < other->starts.size(); ++s) {
      const size_t from = other->starts[s];
      const size_t to = s + 1 < other->starts.size() ? other->starts[s + 1] : other->ids.size();
      if (!b.empty() && b.size() + (to - from) > target) break;
      b.insert(b.end(), other->ids.begin() + from,
               other->ids.begin() + std::min(to, from + room - b.size()));
      if (b.size() >= target) break;
    }
  }
  return {tok_.with_special_tokens(a, b), label};
}

bool CorpusSource::fill_chunk() {
  chunk_.clear();
  chunk_labels_.clear();
  chunk_pos_ = 0;
  std::vector<Packed> packed;
  Packed p;
  while (packed.size() < chunk_sequences_ && read_sequence(p)) packed.push_back(std::move(p));
  std::mt19937_64 rng(seed_ * 1000003ull + static_cast<uint64_t>(epoch_) * 7919ull +
                      chunk_index_++);
  std::vector<size_t> order(packed.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i : order) {
    if (next_sentence_) {
      auto [e, label] = sentence_pair(packed, i, rng);
      chunk_.push_back(std::move(e));
      chunk_labels_.push_back(label);
    } else {
      chunk_.push_back(tok_.with_special_tokens(packed[i].ids));
    }
  }
  return !chunk_.empty();
}

std::optional<TrainBatch> CorpusSource::next() {
  std::vector<text::Encoding> batch;
  std::vector<int64_t> labels;
  while (static_cast<int64_t>(batch.size()) < batch_size_) {
    if (chunk_pos_ >= chunk_.size() && !fill_chunk()) break;
    if (next_sentence_) labels.push_back(chunk_labels_[chunk_pos_]);
    batch.push_back(std::move(chunk_[chunk_pos_++]));
  }
  if (batch.empty()) return std::nullopt;
  TrainBatch b{to_inputs(batch, tok_.vocab().pad_id, device_), {}, {}};
  if (next_sentence_) b.labels = torch::tensor(labels, torch::kLong).to(device_);
  return b;
}

void CorpusSource::skip(int64_t batches) {
  for (int64_t n = batches * batch_size_; n > 0; --n) {
    if (chunk_pos_ >= chunk_.size() && !fill_chunk()) return;
    ++chunk_pos_;
  }
}

// ---- one rank's share

ShardedSource::ShardedSource(BatchSource& global, int64_t batch_size, int rank, int world)
    : global_(global),
      batch_size_(batch_size),
      rank_(rank),
      batches_(global.examples() / (batch_size * world)) {
  if (batches_ == 0)
    fail("the training data has ", global.examples(), " examples, fewer than one global batch (",
         batch_size, " per rank x ", world, " ranks)");
}

void ShardedSource::start_epoch(int64_t epoch) {
  global_.start_epoch(epoch);
  served_ = 0;
}

std::optional<TrainBatch> ShardedSource::next() {
  if (served_ >= batches_) return std::nullopt;
  auto g = global_.next();
  if (!g) fail("the training data ended ", batches_ - served_, " global batches early");
  ++served_;
  const int64_t start = rank_ * batch_size_;
  if (g->size() < start + batch_size_)
    fail("a global batch has ", g->size(), " rows, rank ", rank_, " needs rows ", start, "-",
         start + batch_size_ - 1);
  auto rows = [&](const at::Tensor& t) {
    return t.defined() ? t.narrow(0, start, batch_size_) : t;
  };
  TrainBatch b{
      {rows(g->inputs.input_ids), rows(g->inputs.token_type_ids), rows(g->inputs.attention_mask)},
      rows(g->labels),
      {}};
  if (!g->indices.empty())
    b.indices.assign(g->indices.begin() + start, g->indices.begin() + start + batch_size_);
  return b;
}

void ShardedSource::skip(int64_t batches) {
  global_.skip(batches);
  served_ = std::min(batches_, served_ + batches);
}

}  // namespace tinybert::data
