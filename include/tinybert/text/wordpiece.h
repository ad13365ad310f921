// WordPiece: greedy longest-match-first split of a word into vocabulary pieces ("##" marks a
// continuation); a word with an unknown part, or longer than 100 characters, is one [UNK].
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tinybert/text/vocab.h"

namespace tinybert::text {

class WordPiece {
 public:
  explicit WordPiece(const Vocab& vocab, size_t max_input_chars_per_word = 100)
      : vocab_(vocab), max_chars_(max_input_chars_per_word) {}
  // Appends the piece ids of `word` to `ids`, and when `ends` is given, the byte offset in `word`
  // where each piece ends (an [UNK] ends with the word).
  void tokenize(std::string_view word, std::vector<int32_t>& ids,
                std::vector<size_t>* ends = nullptr) const;

 private:
  const Vocab& vocab_;
  size_t max_chars_;
};

}  // namespace tinybert::text
