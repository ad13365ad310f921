// BertPreTokenizer: whitespace split plus punctuation isolation.
#include "tinybert/text/pre_tokenizer.h"

#include <utf8proc.h>

#include "tinybert/text/normalizer.h"

namespace tinybert::text {

namespace {

struct AsciiClass {
  bool space[128];
  bool punct[128];
  constexpr AsciiClass() : space(), punct() {
    for (int c = 0; c < 128; ++c) {
      space[c] = c == ' ' || (c >= '\t' && c <= '\r');
      punct[c] = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                 (c >= 123 && c <= 126);
    }
  }
};
constexpr AsciiClass kAscii;

}  // namespace

void pre_tokenize(std::string_view text, std::vector<std::string_view>& words) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const size_t n = text.size();
  size_t word_start = 0;
  bool in_word = false;
  size_t i = 0;
  while (i < n) {
    size_t len = 1;
    bool space, punct;
    if (p[i] < 0x80) {
      space = kAscii.space[p[i]];
      punct = kAscii.punct[p[i]];
    } else {
      utf8proc_int32_t cp;
      auto l = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
      if (l <= 0) {  // cannot happen after normalization; treat the byte as a word char
        cp = 0;
        l = 1;
      }
      len = static_cast<size_t>(l);
      space = is_bert_whitespace(cp);
      punct = !space && is_bert_punctuation(cp);
    }
    if (space || punct) {
      if (in_word) words.push_back(text.substr(word_start, i - word_start));
      in_word = false;
      if (punct) words.push_back(text.substr(i, len));
    } else if (!in_word) {
      in_word = true;
      word_start = i;
    }
    i += len;
  }
  if (in_word) words.push_back(text.substr(word_start, n - word_start));
}

}  // namespace tinybert::text
