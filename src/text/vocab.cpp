// vocab.txt reading and piece lookup.
#include "tinybert/text/vocab.h"

#include <algorithm>

#include "tinybert/core/error.h"

namespace tinybert::text {

Vocab Vocab::load(const std::string& path) {
  std::string bytes = read_file(path);
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    std::string line = bytes.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(std::move(line));
    start = end + 1;
  }
  return from_tokens(std::move(tokens), path);
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens, const std::string& source) {
  Vocab v;
  v.tokens_ = std::move(tokens);
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    const std::string& t = v.tokens_[i];
    auto id = static_cast<int32_t>(i);
    // HF keeps the last id of a duplicated token; so do we, but empty lines are skipped.
    if (t.empty()) continue;
    v.all_[t] = id;
    if (t.size() > 2 && t.compare(0, 2, "##") == 0) {
      v.continuation_[t.substr(2)] = id;
      v.max_piece_bytes_ = std::max(v.max_piece_bytes_, t.size() - 2);
    } else {
      v.initial_[t] = id;
      v.max_piece_bytes_ = std::max(v.max_piece_bytes_, t.size());
    }
  }
  auto special = [&](const char* name) {
    int32_t id = v.find(name);
    if (id < 0)
      fail("vocabulary ", source, " has no ", name, " token (", v.tokens_.size(),
           " entries read); is this a BERT WordPiece vocab.txt?");
    return id;
  };
  v.unk_id = special("[UNK]");
  v.cls_id = special("[CLS]");
  v.sep_id = special("[SEP]");
  v.pad_id = special("[PAD]");
  v.mask_id = special("[MASK]");
  return v;
}

namespace {
int32_t lookup(const TokenMap& m, std::string_view s) {
  auto it = m.find(s);
  return it == m.end() ? -1 : it->second;
}
}  // namespace

int32_t Vocab::find(std::string_view token) const {
  return lookup(all_, token);
}
int32_t Vocab::find_initial(std::string_view piece) const {
  return lookup(initial_, piece);
}
int32_t Vocab::find_continuation(std::string_view piece) const {
  return lookup(continuation_, piece);
}

}  // namespace tinybert::text
