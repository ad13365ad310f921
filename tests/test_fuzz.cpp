// Randomized robustness tests (bounded): mutated safetensors files and random bytes through the
// tokenizer must give a clean result or a tinybert::Error, never a crash (run under ASan in CI).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/io/safetensors.h"
#include "tinybert/text/tokenizer.h"

using namespace tinybert;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;
constexpr auto kBudget = std::chrono::seconds(4);  // per test: iterations stop here at the latest

bool within_budget(std::chrono::steady_clock::time_point start) {
  return std::chrono::steady_clock::now() - start < kBudget;
}

// Flips, inserts, deletes or overwrites a few bytes, sometimes inside the header.
std::string mutate(std::string s, std::mt19937& rng, size_t hot_prefix) {
  int edits = 1 + rng() % 4;
  for (int k = 0; k < edits && !s.empty(); ++k) {
    size_t limit = rng() % 4 == 0 ? s.size() : std::min(s.size(), hot_prefix);
    size_t pos = rng() % limit;
    switch (rng() % 5) {
      case 0:
        s[pos] = static_cast<char>(rng());
        break;
      case 1:
        s[pos] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 2:
        s.insert(pos, 1, "{}[]\",:0123456789"[rng() % 17]);
        break;
      case 3:
        s.erase(pos, 1 + rng() % 8);
        break;
      case 4:
        s.resize(pos);
        break;
    }
  }
  return s;
}

}  // namespace

TEST(Fuzz, SafetensorsReader) {
  const std::string seed = read_file(kFixtures + "/reference.safetensors");
  std::mt19937 rng(12345);
  auto start = std::chrono::steady_clock::now();
  size_t runs = 0, accepted = 0;
  for (; runs < 20000 && within_budget(start); ++runs) {
    std::string bytes = mutate(seed, rng, 3300);
    const std::string original = bytes;
    try {
      auto f = io::SafetensorsFile::parse(std::move(bytes), "fuzz");
      // An accepted file is consistent: its tensors tile the data buffer (which runs to the end
      // of the file) in offset order, each holds exactly numel x dtype bytes, data() points at
      // those bytes of the file, and every name finds its own entry.
      uint64_t header = 0;
      for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<unsigned char>(original[i]);
      const uint64_t data_start = 8 + header;
      std::vector<const io::TensorInfo*> by_offset;
      for (const auto& t : f.tensors()) {
        const uint64_t n = t.end - t.begin;
        ASSERT_LE(t.begin, t.end);
        ASSERT_EQ(n, static_cast<uint64_t>(t.numel()) * io::dtype_size(t.dtype)) << t.name;
        ASSERT_EQ(f.find(t.name), &t);
        ASSERT_EQ(std::memcmp(f.data(t), original.data() + data_start + t.begin, n), 0) << t.name;
        by_offset.push_back(&t);
      }
      std::sort(by_offset.begin(), by_offset.end(),
                [](auto* a, auto* b) { return a->begin < b->begin; });
      uint64_t pos = 0;
      for (const auto* t : by_offset) {
        ASSERT_EQ(t->begin, pos) << t->name;
        pos = t->end;
      }
      ASSERT_EQ(data_start + pos, original.size());
      ++accepted;
    } catch (const Error&) {
    }
  }
  std::printf("safetensors fuzz: %zu inputs, %zu accepted\n", runs, accepted);
  EXPECT_GT(runs, 100u);
}

TEST(Fuzz, JsonNestingIsBoundedAndCheckedLikeTheParser) {
  // Deep input fails cleanly instead of overflowing the stack (100,000 levels crashed nlohmann).
  EXPECT_THROW(parse_json(std::string(100000, '[') + std::string(100000, ']')), JsonError);
  EXPECT_THROW(parse_json(std::string(65, '{')), JsonError);
  const std::string brackets(100, '[');  // inside a string they do not count
  EXPECT_EQ(parse_json("{\"a\": \"" + brackets + "\"}").at("a"), brackets);
  // Random nestings of arrays, objects and strings with brackets and escapes: accepted exactly
  // when nlohmann accepts them and they nest no deeper than the limit.
  std::mt19937 rng(99);
  auto start = std::chrono::steady_clock::now();
  size_t runs = 0, deep = 0;
  for (; runs < 20000 && within_budget(start); ++runs) {
    std::string s;
    size_t depth = 0, max_depth = 0;
    std::vector<char> open;
    const size_t len = rng() % 300;
    const int opens = rng() % 4 == 0 ? 8 : 2;  // some runs mostly open, to pass the limit
    for (size_t i = 0; i < len; ++i) {
      const int r = static_cast<int>(rng() % (opens + 4));
      if (r < opens && open.size() < 90) {
        const bool array = rng() % 2;
        if (!open.empty() && open.back() == '{') s += "\"k\":";
        s += array ? '[' : '{';
        open.push_back(array ? '[' : '{');
        max_depth = std::max(max_depth, ++depth);
      } else if (r < opens + 2 && !open.empty()) {
        s += open.back() == '[' ? ']' : '}';
        open.pop_back();
        --depth;
        if (!open.empty()) s += ',';
      } else if (!open.empty() && open.back() == '[') {
        s += R"("a\"[{\\",)";
      }
    }
    while (!open.empty()) {
      if (s.back() == ',') s.pop_back();
      s += open.back() == '[' ? ']' : '}';
      open.pop_back();
    }
    std::string clean;  // drop commas before closers so that the text is valid JSON
    for (size_t i = 0; i < s.size(); ++i)
      if (!(s[i] == ',' && i + 1 < s.size() && (s[i + 1] == ']' || s[i + 1] == '}'))) clean += s[i];
    const bool valid = nlohmann::json::accept(clean);
    try {
      parse_json(clean);
      EXPECT_TRUE(valid && max_depth <= kMaxJsonDepth) << clean;
    } catch (const JsonError&) {
      EXPECT_TRUE(!valid || max_depth > kMaxJsonDepth) << clean;
      deep += max_depth > kMaxJsonDepth;
    }
  }
  std::printf("json depth fuzz: %zu inputs, %zu refused as too deep\n", runs, deep);
  EXPECT_GT(deep, 0u);
}

TEST(Fuzz, Tokenizer) {
  auto tok = text::Tokenizer::from_vocab(kFixtures + "/vocab.txt");
  const std::string alphabet[] = {"a",
                                  "Z",
                                  " ",
                                  "\t",
                                  "\n",
                                  ".",
                                  "##",
                                  "é",
                                  "ß",
                                  "中",
                                  "\xe2\x80\x8b",
                                  "\xf0\x9f\x98\x80",
                                  "\xcc\x81",
                                  "\xff",
                                  "\xc3",
                                  "\x00",
                                  "İ",
                                  "Σ"};
  std::mt19937 rng(777);
  auto start = std::chrono::steady_clock::now();
  size_t runs = 0, errors = 0;
  for (; runs < 50000 && within_budget(start); ++runs) {
    std::string s;
    size_t len = rng() % 300;
    for (size_t i = 0; i < len; ++i) {
      if (rng() % 3 == 0)
        s.push_back(static_cast<char>(rng()));
      else
        s += alphabet[rng() % std::size(alphabet)];
    }
    try {
      auto e = tok.encode(s, std::string_view(s).substr(0, s.size() / 2), rng() % 64 + 3);
      ASSERT_LE(e.ids.size(), 66u);
      for (int32_t id : e.ids) ASSERT_LT(static_cast<size_t>(id), tok.vocab().size());
    } catch (const Error&) {
      ++errors;
    }
  }
  std::printf("tokenizer fuzz: %zu inputs, %zu rejected as invalid UTF-8\n", runs, errors);
  EXPECT_GT(runs, 100u);
}
