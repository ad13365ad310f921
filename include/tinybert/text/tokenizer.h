// The BERT tokenizer: normalizer -> pre-tokenizer -> WordPiece -> post-processor
// ([CLS] a [SEP] b [SEP], type ids, longest_first truncation), plus batch padding.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tinybert/text/normalizer.h"
#include "tinybert/text/vocab.h"
#include "tinybert/text/wordpiece.h"

namespace tinybert::text {

using Span = std::array<int32_t, 2>;  // [start, end) in characters (Unicode code points)

struct Encoding {
  std::vector<int32_t> ids;       // [CLS] a [SEP] (b [SEP])
  std::vector<int32_t> type_ids;  // 0 for [CLS] a [SEP], 1 for b [SEP]
  // Filled by encode_aligned() only, one entry per token, as HF tokenizers' Encoding has them:
  std::vector<Span> offsets;         // into its own sequence's text; {0, 0} for [CLS]/[SEP]
  std::vector<int32_t> word_ids;     // word (of its sequence) it came from; -1 for [CLS]/[SEP]
  std::vector<int8_t> sequence_ids;  // 0 (text) or 1 (pair); -1 for [CLS]/[SEP]
};

// Word pieces of one text, each with its character span and word index.
struct Pieces {
  std::vector<int32_t> ids;
  std::vector<Span> offsets;
  std::vector<int32_t> word_ids;
  int32_t words = 0;  // words seen so far: the next word's index
  void truncate(size_t n);
  Pieces slice(size_t begin, size_t end) const;  // pieces [begin, end)
};

// Characters [span[0], span[1]) of UTF-8 `text` (offsets are in characters), as bytes.
std::string_view slice_chars(std::string_view text, Span span);

// A padded batch, row-major (B, T).
struct Batch {
  int64_t batch = 0, length = 0;
  std::vector<int64_t> ids, type_ids, attention_mask;
};

class Tokenizer {
 public:
  // vocab.txt with the given casing.
  static Tokenizer from_vocab(const std::string& vocab_path, NormalizerOptions options = {});
  // A model directory: vocab.txt, and tokenizer_config.json when present (do_lower_case,
  // strip_accents, tokenize_chinese_chars).
  static Tokenizer from_dir(const std::string& dir);

  // Word-piece ids of one text; no [CLS]/[SEP] added, but special tokens written in the text
  // ("[MASK]") are kept as such.
  void tokenize(std::string_view text, std::vector<int32_t>& ids) const;
  // The same, with each piece's span in `text` (shifted by `char_base`) and word index (counted
  // on from pieces.words), appended to `pieces`.
  void tokenize(std::string_view text, Pieces& pieces, int32_t char_base = 0) const;
  // Full encoding; max_length > 0 truncates longest_first so the result (specials included)
  // fits; max_length 0 means no truncation.
  Encoding encode(std::string_view text, std::optional<std::string_view> pair = std::nullopt,
                  size_t max_length = 0) const;
  // encode() with offsets, word ids and sequence ids (as HF tokenizers' encode); slower.
  Encoding encode_aligned(std::string_view text,
                          std::optional<std::string_view> pair = std::nullopt,
                          size_t max_length = 0) const;
  // Words already split (CoNLL files; HF's is_split_into_words): each word tokenized on its own,
  // word ids = the index in `words`, offsets within each word; aligned like encode_aligned().
  Encoding encode_words(std::span<const std::string> words, size_t max_length = 0) const;
  // [CLS] a [SEP], or [CLS] a [SEP] b [SEP] with token type 1 on the second segment (HF's
  // build_inputs_with_special_tokens); no truncation.
  Encoding with_special_tokens(std::span<const int32_t> a,
                               std::optional<std::span<const int32_t>> b = std::nullopt) const;

  // Writes vocab.txt and tokenizer_config.json (HF BertTokenizer's keys, as from_dir reads them)
  // into the existing directory `dir`, each file atomically.
  void save(const std::string& dir, int64_t model_max_length) const;
  // [CLS] a [SEP] (b [SEP]) with the alignment of both (an aligned Encoding).
  Encoding with_special_tokens(const Pieces& a, const Pieces* b) const;

  const Vocab& vocab() const { return *vocab_; }
  const Normalizer& normalizer() const { return normalizer_; }

 private:
  void tokenize_plain(std::string_view text, std::vector<int32_t>& ids) const;
  void tokenize_plain(std::string_view text, Pieces& pieces, int32_t char_base) const;
  std::shared_ptr<const Vocab> vocab_;
  Normalizer normalizer_;
  std::shared_ptr<const WordPiece> wordpiece_;
};

// Pads encodings to the longest (or to `length` when larger) with `pad_id`; mask 1 on tokens.
Batch pad_batch(std::span<const Encoding* const> encodings, int32_t pad_id, int64_t length = 0);
Batch pad_batch(const std::vector<Encoding>& encodings, int32_t pad_id, int64_t length = 0);

// Budgets of `longest_first` truncation for a pair of lengths n1, n2 and a total budget,
// exactly as HF tokenizers computes them.
std::pair<size_t, size_t> longest_first_budget(size_t n1, size_t n2, size_t budget);

}  // namespace tinybert::text
