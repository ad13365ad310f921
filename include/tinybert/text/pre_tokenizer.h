// BERT pre-tokenizer: split on whitespace, and isolate every punctuation character.
#pragma once

#include <string_view>
#include <vector>

namespace tinybert::text {

// Appends the words of normalized (valid UTF-8) text to `words`, as views into `text`.
void pre_tokenize(std::string_view text, std::vector<std::string_view>& words);

}  // namespace tinybert::text
