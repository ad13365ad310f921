// BERT normalizer, as HF tokenizers' BertNormalizer: clean text, CJK spacing, accent stripping,
// lowercasing. Input must be valid UTF-8; invalid bytes fail with their offset.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tinybert::text {

struct NormalizerOptions {
  bool clean_text = true;             // drop control chars, map whitespace to ' '
  bool handle_chinese_chars = true;   // put spaces around CJK ideographs
  std::optional<bool> strip_accents;  // NFD + drop Mn; unset = follow `lowercase`
  bool lowercase = true;              // false for cased models
};

class Normalizer {
 public:
  explicit Normalizer(NormalizerOptions options = {});
  // Appends the normalized form of `in` to `out` (cleared first).
  void normalize(std::string_view in, std::string& out) const;
  // The same, and origin[k] = index (in code points) of the character of `in` that output byte k
  // came from, for offsets into the original text.
  void normalize(std::string_view in, std::string& out, std::vector<int32_t>& origin) const;
  const NormalizerOptions& options() const { return options_; }

 private:
  template <bool kTrack>
  void normalize_impl(std::string_view in, std::string& out, std::vector<int32_t>* origin) const;
  void normalize_codepoint(int32_t cp, std::string& out) const;
  NormalizerOptions options_;
  bool strip_accents_;
  std::array<char, 128> ascii_;  // ASCII byte -> output byte, 0 = dropped
};

// Unicode classes as HF tokenizers defines them.
bool is_bert_whitespace(int32_t cp);
bool is_bert_control(int32_t cp);      // Cc, Cf, Cn, Co, Cs except \t \n \r
bool is_bert_punctuation(int32_t cp);  // ASCII punctuation or Unicode P*
bool is_chinese_char(int32_t cp);

// Offset of the first byte that is not valid UTF-8, or nullopt when all of `s` is.
std::optional<size_t> invalid_utf8_at(std::string_view s);

}  // namespace tinybert::text
