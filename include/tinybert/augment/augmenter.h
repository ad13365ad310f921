// TinyBERT data augmentation (Jiao et al. 2020): candidate words of a sentence are replaced by
// MLM predictions (single-piece words) or nearest neighbours in a word-vector space (multi-piece
// words); N_a tries replace each with probability p_t. MLM predictions are batched across words
// and sentences; neighbours come from one matrix product and are cached per word.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tinybert/model/heads.h"
#include "tinybert/runtime/workers.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::augment {

struct AugmentConfig {
  int64_t n_aug = 20;            // N_a: tries per text (duplicates dropped)
  double p = 0.4;                // p_t: replacement probability per candidate word
  int64_t k = 15;                // K: candidates per word
  int64_t mlm_batch_size = 128;  // masked inputs per MLM forward (1: the reference's one at a time)
  bool cache_neighbours = true;
  // CPU: run MLM batches side by side, one single-threaded worker per thread (off: one batch at
  // a time on all threads, as the reference runs its forwards)
  bool parallel_batches = true;
  int64_t max_length = 256;  // masked input "[CLS] masked [SEP] original [SEP]" is cut to this
};

bool is_stop_word(std::string_view lower_word);

// Unit-normalised word vectors and their words; nearest neighbours by cosine similarity.
class NeighbourIndex {
 public:
  NeighbourIndex(std::vector<std::string> words, at::Tensor vectors);  // (N, D)
  // Top-k words by cosine for each query vector (M, D), excluding `exclude[i]` itself.
  std::vector<std::vector<std::string>> nearest(const at::Tensor& queries,
                                                const std::vector<std::string>& exclude,
                                                int64_t k) const;
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;
  at::Tensor unit_;  // (N, D)
};

// A GloVe-format text file ("word v1 ... vD" per line; an optional word2vec "N D" first line).
// Every line must have the same dimension; errors name the line.
struct WordVectors {
  std::vector<std::string> words;
  at::Tensor vectors;  // (N, D)
  std::unordered_map<std::string, int64_t> index;
  static WordVectors load(const std::string& path, int64_t max_words = 0);
};

// A word of a text, as a byte span of the original text.
struct Word {
  size_t begin = 0, end = 0;
  bool candidate = false;
};

class Augmenter {
 public:
  Augmenter(model::AutoBert mlm, const text::Tokenizer& tok, AugmentConfig cfg,
            std::optional<WordVectors> glove = std::nullopt);

  // Candidate replacements for each word of each text (empty for non-candidates).
  std::vector<std::vector<std::vector<std::string>>> candidates(
      const std::vector<std::string>& texts);
  // n_aug tries of `text`: each candidate word replaced with probability p by a uniformly drawn
  // candidate (tries may repeat each other or the original; callers drop duplicates).
  std::vector<std::string> tries(const std::string& text,
                                 const std::vector<std::vector<std::string>>& cands,
                                 std::mt19937_64& rng) const;
  // The words of a text (whitespace/punctuation split of the original bytes) and which are
  // candidates.
  std::vector<Word> words(const std::string& text) const;

  int64_t mlm_forwards() const { return mlm_forwards_; }

  // Top-k MLM predictions at mask_positions[i] of inputs[i] ("[CLS] a [SEP] b [SEP]" ids; type 1
  // after the first [SEP]), without "##" pieces; batched by mlm_batch_size.
  std::vector<std::vector<std::string>> mlm_candidates(
      const std::vector<std::vector<int32_t>>& inputs, const std::vector<size_t>& mask_positions);
  // The k nearest whole words of each (lower-case) word in the word-vector space.
  std::vector<std::vector<std::string>> neighbour_candidates(
      const std::vector<std::string>& lower_words);

 private:
  model::AutoBert mlm_;
  const text::Tokenizer& tok_;
  AugmentConfig cfg_;
  std::optional<WordVectors> glove_;
  std::unique_ptr<NeighbourIndex> index_;  // GloVe words, or the MLM's whole-word vocabulary
  std::unordered_map<std::string, std::vector<std::string>> cache_;
  std::unique_ptr<runtime::Workers> workers_;  // CPU MLM batches side by side (parallel_batches)
  int64_t mlm_forwards_ = 0;
};

// "Word" -> "Candidate" when `original` starts with an upper-case letter.
std::string match_case(const std::string& original, const std::string& candidate);

}  // namespace tinybert::augment
