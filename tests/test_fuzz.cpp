// Randomized robustness tests (bounded): mutated safetensors files and random bytes through the
// tokenizer must give a clean result or a tinybert::Error, never a crash (run under ASan in CI).
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "tinybert/core/error.h"
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
    try {
      auto f = io::SafetensorsFile::parse(std::move(bytes), "fuzz");
      for (const auto& t : f.tensors()) {  // touch every byte the header claims
        const std::byte* p = f.data(t);
        unsigned sum = 0;
        for (size_t i = 0; i < t.end - t.begin; i += 4096) sum += static_cast<unsigned>(p[i]);
        EXPECT_GE(sum, 0u);
      }
      ++accepted;
    } catch (const Error&) {
    }
  }
  std::printf("safetensors fuzz: %zu inputs, %zu accepted\n", runs, accepted);
  EXPECT_GT(runs, 100u);
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
