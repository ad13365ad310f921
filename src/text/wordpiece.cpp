// Greedy longest-match WordPiece on UTF-8 bytes, cutting only at character boundaries.
#include "tinybert/text/wordpiece.h"

namespace tinybert::text {

namespace {
inline bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}
}  // namespace

void WordPiece::tokenize(std::string_view word, std::vector<int32_t>& ids,
                         std::vector<size_t>* ends) const {
  size_t chars = 0;
  for (char c : word) chars += !is_continuation_byte(c);
  const size_t first = ids.size(), first_end = ends ? ends->size() : 0;
  auto unknown = [&] {
    ids.resize(first);
    ids.push_back(vocab_.unk_id);
    if (ends) {
      ends->resize(first_end);
      ends->push_back(word.size());
    }
  };
  if (chars > max_chars_) return unknown();
  size_t start = 0;
  while (start < word.size()) {
    size_t end = std::min(word.size(), start + vocab_.max_piece_bytes());
    while (end < word.size() && is_continuation_byte(word[end])) --end;
    int32_t id = -1;
    while (end > start) {
      std::string_view piece = word.substr(start, end - start);
      id = start == 0 ? vocab_.find_initial(piece) : vocab_.find_continuation(piece);
      if (id >= 0) break;
      do --end;
      while (end > start && is_continuation_byte(word[end]));
    }
    if (id < 0) return unknown();
    ids.push_back(id);
    if (ends) ends->push_back(end);
    start = end;
  }
}

}  // namespace tinybert::text
