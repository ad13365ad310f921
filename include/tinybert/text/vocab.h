// A WordPiece vocabulary (vocab.txt: one token a line, the line number is the id).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tinybert::text {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class Vocab {
 public:
  // Reads vocab.txt; fails on a missing file, a duplicate token, or a missing special token.
  static Vocab load(const std::string& path);
  // Builds from tokens in id order; `source` names them in errors.
  static Vocab from_tokens(std::vector<std::string> tokens, const std::string& source);

  size_t size() const { return tokens_.size(); }
  const std::string& token(int32_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  // Id of a whole token (with "##" if it has one), or -1.
  int32_t find(std::string_view token) const;
  // Id of a word-initial piece, or -1.
  int32_t find_initial(std::string_view piece) const;
  // Id of a continuation piece given without its "##", or -1.
  int32_t find_continuation(std::string_view piece) const;
  size_t max_piece_bytes() const { return max_piece_bytes_; }
  const std::vector<std::string>& tokens() const { return tokens_; }

  int32_t unk_id, cls_id, sep_id, pad_id, mask_id;

 private:
  std::vector<std::string> tokens_;
  TokenMap all_, initial_, continuation_;
  size_t max_piece_bytes_ = 0;
};

}  // namespace tinybert::text
