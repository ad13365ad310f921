// Encoded task examples and the batch sources a trainer draws from: an in-memory shuffled
// dataset, and a streamed plain-text corpus (packed per document) for general distillation.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tinybert/data/qa.h"
#include "tinybert/data/tagging.h"
#include "tinybert/data/task.h"
#include "tinybert/model/bert.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::data {

struct TrainBatch {
  model::BertInputs inputs;      // (B, T) each, on the device
  at::Tensor labels;             // (B) int64 ids, (B) float values for regression, or (B, T) int64
                                 // ids per token (kIgnore where none); undefined if unlabeled
  std::vector<int64_t> indices;  // example indices (for per-example caches); empty for a corpus
  int64_t size() const { return inputs.input_ids.size(0); }
};

// Pads encodings into device tensors.
model::BertInputs to_inputs(const text::Batch& batch, c10::Device device);
model::BertInputs to_inputs(const std::vector<text::Encoding>& encodings, int32_t pad_id,
                            c10::Device device);

// A task split, tokenized once.
class Dataset {
 public:
  static Dataset encode(const std::vector<Example>& examples, const TaskSpec& spec,
                        const text::Tokenizer& tok, size_t max_length, const std::string& source);
  // Tagged sentences (token classification): words encoded as split (word ids kept), each word's
  // tag on its first piece, or on all of them with all_pieces (align_labels).
  static Dataset encode_tagged(const std::vector<TaggedSentence>& sentences, const TaskSpec& spec,
                               const text::Tokenizer& tok, size_t max_length, bool all_pieces,
                               const std::string& source);
  size_t size() const { return encodings_.size(); }
  bool labeled() const { return labeled_; }
  // Question answering: one row per window of each question (qa_windows with spec.qa), labels
  // the answer's first and last token; rows are padded to max_length, so a row's logits keep one
  // width from batch to batch (the teacher-logit cache relies on it).
  static Dataset encode_qa(std::vector<QaExample> questions, const TaskSpec& spec,
                           const text::Tokenizer& tok, size_t max_length);
  TrainBatch batch(const std::vector<int64_t>& indices, c10::Device device) const;
  const std::vector<int64_t>& label_ids() const { return label_ids_; }
  const std::vector<double>& values() const { return values_; }
  const text::Encoding& encoding(size_t i) const { return encodings_.at(i); }
  // Token classification: label id of each piece of example i (kIgnore where none).
  const std::vector<int64_t>& token_labels(size_t i) const { return token_labels_.at(i); }
  // Token classification: gold tag ids per word, and how many words --max-length cut off.
  const std::vector<std::vector<int64_t>>& word_tags() const { return word_tags_; }
  size_t cut_words() const { return cut_words_; }
  // Question answering: the questions, and the question row i is a window of.
  const std::vector<QaExample>& questions() const { return questions_; }
  size_t question_of(size_t i) const { return windows_.at(i).example; }
  // Tokens every batch is padded to (0: each batch to its longest row).
  int64_t padded_length() const { return pad_to_; }

 private:
  TaskKind kind_ = TaskKind::Classification;
  std::vector<text::Encoding> encodings_;
  std::vector<int64_t> label_ids_;
  std::vector<double> values_;
  std::vector<std::vector<int64_t>> token_labels_, word_tags_;  // per sentence: piece / word
  size_t cut_words_ = 0;
  std::vector<QaExample> questions_;
  std::vector<QaWindow> windows_;  // encodings moved out into encodings_
  bool labeled_ = true;
  int32_t pad_id_ = 0;
  int64_t pad_to_ = 0;  // pad every batch to this many tokens (0: to its longest row)
};

// What a trainer iterates over; the order is a function of (seed, epoch) so resuming can skip.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t batches_per_epoch() const = 0;
  virtual int64_t examples() const = 0;  // rows (sequences) per epoch
  virtual void start_epoch(int64_t epoch) = 0;
  virtual std::optional<TrainBatch> next() = 0;  // nullopt at the end of the epoch
  virtual void skip(int64_t batches) = 0;        // fast-forward within the epoch (resume)
};

// Shuffled batches of a Dataset; the last incomplete batch is kept.
class DatasetSource : public BatchSource {
 public:
  DatasetSource(const Dataset& data, int64_t batch_size, uint64_t seed, c10::Device device,
                bool shuffle = true);
  int64_t batches_per_epoch() const override;
  int64_t examples() const override { return static_cast<int64_t>(data_.size()); }
  void start_epoch(int64_t epoch) override;
  std::optional<TrainBatch> next() override;
  void skip(int64_t batches) override;

 private:
  const Dataset& data_;
  int64_t batch_size_;
  uint64_t seed_;
  c10::Device device_;
  bool shuffle_;
  std::vector<int64_t> order_;
  size_t pos_ = 0;
};

// A plain-text corpus (one sentence a line, blank line between documents), streamed: sentences of
// a document are packed into sequences of up to max_length tokens, read in chunks that are
// shuffled within themselves, so a corpus larger than memory works.
//
// With next_sentence (BERT's NSP objective), each packed sequence is cut at a sentence boundary
// into A and B, and half of the time B is replaced by text of the same length from another
// document of the chunk: [CLS] A [SEP] B [SEP], labels 0 (B follows A) or 1 (B is random), as
// HF's next_sentence_label. The pairing is drawn anew each epoch.
class CorpusSource : public BatchSource {
 public:
  CorpusSource(std::string path, const text::Tokenizer& tok, size_t max_length, int64_t batch_size,
               uint64_t seed, c10::Device device, bool next_sentence = false,
               size_t chunk_sequences = 8192);
  int64_t batches_per_epoch() const override { return batches_; }
  int64_t examples() const override { return sequences_; }
  int64_t sequences() const { return sequences_; }
  void start_epoch(int64_t epoch) override;
  std::optional<TrainBatch> next() override;
  void skip(int64_t batches) override;

 private:
  struct Packed {                // sentences of one document, without special tokens
    std::vector<int32_t> ids;    // (L)
    std::vector<size_t> starts;  // offset of each sentence in ids, starts[0] == 0
    int64_t document = 0;
  };
  bool read_sequence(Packed& out);  // next packed sequence; false at end of file
  bool fill_chunk();
  std::pair<text::Encoding, int64_t> sentence_pair(const std::vector<Packed>& packed, size_t i,
                                                   std::mt19937_64& rng) const;
  std::string path_;
  const text::Tokenizer& tok_;
  size_t max_length_;
  int64_t batch_size_;
  uint64_t seed_;
  c10::Device device_;
  bool next_sentence_;
  size_t chunk_sequences_;
  int64_t sequences_ = 0, batches_ = 0, epoch_ = 0, chunk_index_ = 0, document_ = 0;
  std::ifstream in_;
  size_t line_no_ = 0;
  std::vector<int32_t> pending_;  // tokens of a sentence that did not fit the previous sequence
  std::vector<text::Encoding> chunk_;
  std::vector<int64_t> chunk_labels_;  // NSP labels, parallel to chunk_
  size_t chunk_pos_ = 0;
};

// One rank's share of a data-parallel epoch: `global` yields batches of batch_size x world rows
// (the same order on every rank), and rank r trains on rows [r x batch_size, (r + 1) x batch_size)
// of each. Only full global batches are used, so every rank runs the same number of steps; the
// last examples() mod (batch_size x world) rows of an epoch's order are left out of that epoch.
class ShardedSource : public BatchSource {
 public:
  ShardedSource(BatchSource& global, int64_t batch_size, int rank, int world);
  int64_t batches_per_epoch() const override { return batches_; }
  int64_t examples() const override { return batches_ * batch_size_; }
  void start_epoch(int64_t epoch) override;
  std::optional<TrainBatch> next() override;
  void skip(int64_t batches) override;

 private:
  BatchSource& global_;
  int64_t batch_size_, rank_, batches_, served_ = 0;
};

}  // namespace tinybert::data
