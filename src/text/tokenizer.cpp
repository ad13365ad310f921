// Tokenizer pipeline and post-processing.
#include "tinybert/text/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/text/pre_tokenizer.h"

namespace tinybert::text {

Tokenizer Tokenizer::from_vocab(const std::string& vocab_path, NormalizerOptions options) {
  Tokenizer t;
  t.vocab_ = std::make_shared<Vocab>(Vocab::load(vocab_path));
  t.normalizer_ = Normalizer(options);
  t.wordpiece_ = std::make_shared<WordPiece>(*t.vocab_);
  return t;
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail("model directory ", dir, " does not exist");
  NormalizerOptions options;
  fs::path config = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(config)) {
    nlohmann::json j;
    try {
      j = parse_json(read_file(config.string()));
    } catch (const JsonError& e) {
      fail(config.string(), ": invalid JSON: ", e.what());
    }
    try {
      if (j.contains("do_lower_case")) options.lowercase = j["do_lower_case"].get<bool>();
      if (j.contains("tokenize_chinese_chars"))
        options.handle_chinese_chars = j["tokenize_chinese_chars"].get<bool>();
      if (j.contains("strip_accents") && !j["strip_accents"].is_null())
        options.strip_accents = j["strip_accents"].get<bool>();
    } catch (const nlohmann::json::exception& e) {
      fail(config.string(), ": ", e.what());
    }
  }
  return from_vocab((fs::path(dir) / "vocab.txt").string(), options);
}

void Tokenizer::save(const std::string& dir, int64_t model_max_length) const {
  namespace fs = std::filesystem;
  std::string vocab;
  for (const auto& t : vocab_->tokens()) vocab += t + "\n";
  io::write_file_atomic((fs::path(dir) / "vocab.txt").string(), vocab);
  const auto& norm = normalizer_.options();
  nlohmann::ordered_json tc = {
      {"do_lower_case", norm.lowercase},
      {"tokenize_chinese_chars", norm.handle_chinese_chars},
      {"strip_accents", norm.strip_accents ? nlohmann::ordered_json(*norm.strip_accents)
                                           : nlohmann::ordered_json(nullptr)},
      {"tokenizer_class", "BertTokenizer"},
      {"model_max_length", model_max_length}};
  io::write_file_atomic((fs::path(dir) / "tokenizer_config.json").string(), tc.dump(2) + "\n");
}

namespace {

// Scratch buffers reused between calls to save allocations, but never kept large: a server has
// one per HTTP thread, and one 1 MB request each would otherwise pin 17 MB per thread for good.
template <class T>
void shrink_scratch(std::vector<T>& v) {
  constexpr size_t kKeep = 64 << 10;
  if (v.capacity() * sizeof(T) > kKeep) std::vector<T>().swap(v);
}
void shrink_scratch(std::string& s) {
  if (s.capacity() > (64 << 10)) std::string().swap(s);
}

// Calls plain(segment, byte offset) for the text between special tokens written literally in
// `text` ("[SEP]"), and special(id, byte offset, bytes) for each of those: they match before
// normalization, as HF's added tokens do.
template <class Plain, class Special>
void split_specials(std::string_view text, const Vocab& vocab, Plain plain, Special special) {
  static constexpr std::string_view kSpecials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  size_t done = 0;
  for (size_t pos = text.find('['); pos != std::string_view::npos; pos = text.find('[', pos + 1)) {
    for (std::string_view s : kSpecials) {
      if (text.compare(pos, s.size(), s) != 0) continue;
      plain(text.substr(done, pos - done), done);
      special(vocab.find(s), pos, s.size());
      done = pos + s.size();
      pos = done - 1;
      break;
    }
  }
  plain(text.substr(done), done);
}

int32_t count_chars(std::string_view s) {
  int32_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

void Pieces::truncate(size_t n) {
  if (n >= ids.size()) return;
  ids.resize(n);
  offsets.resize(n);
  word_ids.resize(n);
}

Pieces Pieces::slice(size_t begin, size_t end) const {
  Pieces p;
  end = std::min(end, ids.size());
  begin = std::min(begin, end);
  p.ids.assign(ids.begin() + begin, ids.begin() + end);
  p.offsets.assign(offsets.begin() + begin, offsets.begin() + end);
  p.word_ids.assign(word_ids.begin() + begin, word_ids.begin() + end);
  p.words = words;
  return p;
}

std::string_view slice_chars(std::string_view text, Span span) {
  size_t begin = text.size(), stop = text.size();
  int32_t chars = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == span[0]) begin = std::min(begin, i);
    if (chars == span[1]) {
      stop = i;
      break;
    }
    ++chars;
  }
  return begin <= stop ? text.substr(begin, stop - begin) : std::string_view();
}

void Tokenizer::tokenize_plain(std::string_view text, std::vector<int32_t>& ids) const {
  thread_local std::string normalized;
  thread_local std::vector<std::string_view> words;
  normalizer_.normalize(text, normalized);
  words.clear();
  pre_tokenize(normalized, words);
  for (std::string_view w : words) wordpiece_->tokenize(w, ids);
  shrink_scratch(normalized);
  shrink_scratch(words);
}

void Tokenizer::tokenize_plain(std::string_view text, Pieces& pieces, int32_t char_base) const {
  thread_local std::string normalized;
  thread_local std::vector<int32_t> origin;  // normalized byte -> character of `text`
  thread_local std::vector<std::string_view> words;
  thread_local std::vector<size_t> ends;
  normalizer_.normalize(text, normalized, origin);
  words.clear();
  pre_tokenize(normalized, words);
  for (std::string_view w : words) {
    const auto w0 = static_cast<size_t>(w.data() - normalized.data());
    ends.clear();
    wordpiece_->tokenize(w, pieces.ids, &ends);
    size_t start = 0;
    for (size_t end : ends) {
      pieces.offsets.push_back(
          {char_base + origin[w0 + start], char_base + origin[w0 + end - 1] + 1});
      pieces.word_ids.push_back(pieces.words);
      start = end;
    }
    ++pieces.words;
  }
  shrink_scratch(normalized);
  shrink_scratch(origin);
  shrink_scratch(words);
}

void Tokenizer::tokenize(std::string_view text, std::vector<int32_t>& ids) const {
  split_specials(
      text, *vocab_, [&](std::string_view plain, size_t) { tokenize_plain(plain, ids); },
      [&](int32_t id, size_t, size_t) { ids.push_back(id); });
}

void Tokenizer::tokenize(std::string_view text, Pieces& pieces, int32_t char_base) const {
  size_t counted = 0;  // chars of text[0, counted) are in char_base
  auto advance = [&](size_t to) {
    char_base += count_chars(text.substr(counted, to - counted));
    counted = to;
  };
  split_specials(
      text, *vocab_,
      [&](std::string_view plain, size_t at) {
        advance(at);
        tokenize_plain(plain, pieces, char_base);
      },
      [&](int32_t id, size_t at, size_t bytes) {
        advance(at);
        const int32_t start = char_base;
        advance(at + bytes);
        pieces.ids.push_back(id);
        pieces.offsets.push_back({start, char_base});
        pieces.word_ids.push_back(pieces.words++);
      });
}

std::pair<size_t, size_t> longest_first_budget(size_t n1, size_t n2, size_t budget) {
  if (n1 + n2 <= budget) return {n1, n2};
  bool swap = n1 > n2;
  if (swap) std::swap(n1, n2);
  n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = budget / 2;
    n2 = n1 + budget % 2;
  }
  if (swap) std::swap(n1, n2);
  return {n1, n2};
}

namespace {

// Fails unless max_length (0: none) holds the special tokens; their count otherwise.
size_t special_count(bool pair, size_t max_length) {
  const size_t specials = pair ? 3 : 2;
  if (max_length > 0 && max_length < specials)
    fail("max_length ", max_length, " cannot hold the ", specials, " special tokens");
  return specials;
}

}  // namespace

Encoding Tokenizer::encode(std::string_view text, std::optional<std::string_view> pair,
                           size_t max_length) const {
  std::vector<int32_t> a, b;
  const size_t specials = special_count(pair.has_value(), max_length);
  tokenize(text, a);
  if (pair) tokenize(*pair, b);
  if (max_length > 0) {
    auto [n1, n2] = longest_first_budget(a.size(), b.size(), max_length - specials);
    a.resize(std::min(a.size(), n1));
    b.resize(std::min(b.size(), n2));
  }
  return pair ? with_special_tokens(a, b) : with_special_tokens(a);
}

Encoding Tokenizer::encode_aligned(std::string_view text, std::optional<std::string_view> pair,
                                   size_t max_length) const {
  Pieces a, b;
  const size_t specials = special_count(pair.has_value(), max_length);
  tokenize(text, a);
  if (pair) tokenize(*pair, b);
  if (max_length > 0) {
    auto [n1, n2] = longest_first_budget(a.ids.size(), b.ids.size(), max_length - specials);
    a.truncate(n1);
    b.truncate(n2);
  }
  return with_special_tokens(a, pair ? &b : nullptr);
}

Encoding Tokenizer::encode_words(std::span<const std::string> words, size_t max_length) const {
  Pieces a;
  const size_t specials = special_count(false, max_length);
  for (size_t i = 0; i < words.size(); ++i) {
    const size_t first = a.ids.size();
    tokenize(words[i], a);
    std::fill(a.word_ids.begin() + static_cast<ptrdiff_t>(first), a.word_ids.end(),
              static_cast<int32_t>(i));
    if (max_length > 0 && a.ids.size() >= max_length - specials) break;
  }
  if (max_length > 0) a.truncate(max_length - specials);
  return with_special_tokens(a, nullptr);
}

Encoding Tokenizer::with_special_tokens(const Pieces& a, const Pieces* b) const {
  Encoding e = b ? with_special_tokens(a.ids, b->ids) : with_special_tokens(a.ids);
  const size_t n = e.ids.size();
  e.offsets.reserve(n);
  e.word_ids.reserve(n);
  e.sequence_ids.reserve(n);
  int8_t sequence = 0;
  for (const Pieces* p : {&a, b}) {
    if (!p) break;
    if (sequence == 0) {  // [CLS]
      e.offsets.push_back({0, 0});
      e.word_ids.push_back(-1);
      e.sequence_ids.push_back(-1);
    }
    e.offsets.insert(e.offsets.end(), p->offsets.begin(), p->offsets.end());
    e.word_ids.insert(e.word_ids.end(), p->word_ids.begin(), p->word_ids.end());
    e.sequence_ids.resize(e.sequence_ids.size() + p->ids.size(), sequence++);
    e.offsets.push_back({0, 0});  // [SEP]
    e.word_ids.push_back(-1);
    e.sequence_ids.push_back(-1);
  }
  return e;
}

Encoding Tokenizer::with_special_tokens(std::span<const int32_t> a,
                                        std::optional<std::span<const int32_t>> b) const {
  Encoding e;
  e.ids.reserve(a.size() + (b ? b->size() + 3 : 2));
  e.ids.push_back(vocab_->cls_id);
  e.ids.insert(e.ids.end(), a.begin(), a.end());
  e.ids.push_back(vocab_->sep_id);
  e.type_ids.assign(e.ids.size(), 0);
  if (b) {
    e.ids.insert(e.ids.end(), b->begin(), b->end());
    e.ids.push_back(vocab_->sep_id);
    e.type_ids.resize(e.ids.size(), 1);
  }
  return e;
}

Batch pad_batch(const std::vector<Encoding>& encodings, int32_t pad_id, int64_t length) {
  std::vector<const Encoding*> ptrs;
  ptrs.reserve(encodings.size());
  for (const auto& e : encodings) ptrs.push_back(&e);
  return pad_batch(ptrs, pad_id, length);
}

Batch pad_batch(std::span<const Encoding* const> encodings, int32_t pad_id, int64_t length) {
  Batch b;
  b.batch = static_cast<int64_t>(encodings.size());
  b.length = length;
  for (const auto* e : encodings) b.length = std::max<int64_t>(b.length, e->ids.size());
  const auto total = static_cast<size_t>(b.batch * b.length);
  b.ids.assign(total, pad_id);
  b.type_ids.assign(total, 0);
  b.attention_mask.assign(total, 0);
  for (size_t i = 0; i < encodings.size(); ++i) {
    const auto& e = *encodings[i];
    const size_t row = i * static_cast<size_t>(b.length);
    std::copy(e.ids.begin(), e.ids.end(), b.ids.begin() + row);
    std::copy(e.type_ids.begin(), e.type_ids.end(), b.type_ids.begin() + row);
    std::fill_n(b.attention_mask.begin() + row, e.ids.size(), 1);
  }
  return b;
}

}  // namespace tinybert::text
