// Tokenizer against HF tokenizers: every case of tokenizer_cases.json, plus error cases.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tinybert/core/error.h"
#include "tinybert/text/pre_tokenizer.h"
#include "tinybert/text/tokenizer.h"

using namespace tinybert;
using namespace tinybert::text;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;

const Tokenizer& tokenizer(bool lowercase) {
  static Tokenizer uncased = Tokenizer::from_vocab(
      kFixtures + "/vocab.txt", {.strip_accents = std::nullopt, .lowercase = true});
  static Tokenizer cased = Tokenizer::from_vocab(
      kFixtures + "/vocab.txt", {.strip_accents = std::nullopt, .lowercase = false});
  return lowercase ? uncased : cased;
}

std::string join(const std::vector<int32_t>& v) {
  std::string s;
  for (auto x : v) s += std::to_string(x) + " ";
  return s;
}

}  // namespace

TEST(Tokenizer, AllHuggingFaceCases) {
  auto cases = nlohmann::json::parse(read_file(kFixtures + "/tokenizer_cases.json"))["cases"];
  size_t failed = 0, pairs = 0;
  for (const auto& c : cases) {
    const Tokenizer& tok = tokenizer(c["lowercase"].get<bool>());
    const std::string text = c["text"];
    Encoding e;
    if (c.contains("text_pair") && !c["text_pair"].is_null()) {
      ++pairs;
      e = tok.encode(text, c["text_pair"].get<std::string>(), c.value("max_length", size_t{0}));
      EXPECT_EQ(e.type_ids, c["type_ids"].get<std::vector<int32_t>>()) << text;
    } else {
      e = tok.encode(text);
      std::vector<std::string> tokens;
      for (int32_t id : e.ids) tokens.push_back(tok.vocab().token(id));
      if (e.ids == c["ids"].get<std::vector<int32_t>>()) {
        EXPECT_EQ(tokens, c["tokens"].get<std::vector<std::string>>());
      }
    }
    auto expected = c["ids"].get<std::vector<int32_t>>();
    if (e.ids != expected) {
      ++failed;
      ADD_FAILURE() << "lowercase=" << c["lowercase"] << " text: " << text
                    << "\n  got:      " << join(e.ids) << "\n  expected: " << join(expected);
    }
  }
  std::printf("tokenizer cases: %zu (%zu pairs), mismatches: %zu\n", cases.size(), pairs, failed);
  EXPECT_GT(cases.size(), 1000u);
}

// A JSON array with nulls as -1.
template <class T>
std::vector<T> with_nulls(const nlohmann::json& a) {
  std::vector<T> v;
  for (const auto& x : a) v.push_back(x.is_null() ? T(-1) : x.get<T>());
  return v;
}

TEST(Tokenizer, OffsetsWordIdsAndSequenceIdsMatchHuggingFace) {
  auto cases = nlohmann::json::parse(read_file(kFixtures + "/tokenizer_offsets.json"))["cases"];
  size_t failed = 0;
  for (const auto& c : cases) {
    const Tokenizer& tok = tokenizer(c["lowercase"].get<bool>());
    const std::string text = c["text"];
    std::optional<std::string> pair;
    if (c.contains("text_pair") && !c["text_pair"].is_null()) pair = c["text_pair"];
    Encoding e =
        tok.encode_aligned(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt,
                           c.value("max_length", size_t{0}));
    std::vector<Span> offsets;
    for (const auto& o : c["offsets"])
      offsets.push_back({o[0].get<int32_t>(), o[1].get<int32_t>()});
    const bool same =
        e.ids == c["ids"].get<std::vector<int32_t>>() &&
        e.type_ids == c["type_ids"].get<std::vector<int32_t>>() && e.offsets == offsets &&
        e.word_ids == with_nulls<int32_t>(c["word_ids"]) &&
        e.sequence_ids == with_nulls<int8_t>(c["sequence_ids"]) &&
        e.ids == tok.encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt,
                            c.value("max_length", size_t{0}))
                     .ids;
    if (!same && ++failed <= 10) {
      std::string got;
      for (auto [a, b] : e.offsets) got += std::to_string(a) + "-" + std::to_string(b) + " ";
      ADD_FAILURE() << "lowercase=" << c["lowercase"] << " text: " << text << "\n  offsets: " << got
                    << "\n  expected: " << c["offsets"].dump() << "\n  word_ids expected "
                    << c["word_ids"].dump();
    }
  }
  std::printf("tokenizer offset cases: %zu, mismatches: %zu\n", cases.size(), failed);
  EXPECT_EQ(failed, 0u);
  EXPECT_GT(cases.size(), 1000u);
}

TEST(Tokenizer, LongWordIsUnknownAndTruncationKeepsSpecials) {
  const Tokenizer& tok = tokenizer(true);
  Encoding e = tok.encode(std::string(101, 'a'));
  EXPECT_EQ(e.ids, (std::vector<int32_t>{101, tok.vocab().unk_id, 102}));
  e = tok.encode("one two three four five six", std::nullopt, 4);
  EXPECT_EQ(e.ids.size(), 4u);
  EXPECT_EQ(e.ids.front(), 101);
  EXPECT_EQ(e.ids.back(), 102);
  EXPECT_THROW(tok.encode("a", std::string_view("b"), 2), Error);
}

TEST(Tokenizer, LongestFirstBudgetMatchesHF) {
  using P = std::pair<size_t, size_t>;
  EXPECT_EQ(longest_first_budget(3, 4, 10), P(3, 4));
  EXPECT_EQ(longest_first_budget(3, 20, 10), P(3, 7));
  EXPECT_EQ(longest_first_budget(20, 3, 10), P(7, 3));
  EXPECT_EQ(longest_first_budget(8, 9, 9), P(4, 5));
  EXPECT_EQ(longest_first_budget(9, 8, 9), P(5, 4));
}

TEST(Tokenizer, InvalidUtf8IsAClearError) {
  const Tokenizer& tok = tokenizer(true);
  try {
    tok.encode("abc\xff\xfe");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid UTF-8 at byte 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok.encode("ok", std::string_view("\xc3")), Error);  // truncated sequence
}

TEST(Tokenizer, VocabWithoutUnkIsRejected) {
  try {
    Vocab::from_tokens({"[PAD]", "[CLS]", "[SEP]", "[MASK]", "hello"}, "my_vocab.txt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("my_vocab.txt has no [UNK] token"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(Vocab::load("/nonexistent/vocab.txt"), Error);
}

TEST(Tokenizer, PadBatch) {
  const Tokenizer& tok = tokenizer(true);
  Batch b = pad_batch({tok.encode("hello world"), tok.encode("hi", std::string_view("there"))},
                      tok.vocab().pad_id);
  ASSERT_EQ(b.batch, 2);
  ASSERT_EQ(b.length, 5);
  EXPECT_EQ(b.ids, (std::vector<int64_t>{101, 7592, 2088, 102, 0, 101, 7632, 102, 2045, 102}));
  EXPECT_EQ(b.attention_mask, (std::vector<int64_t>{1, 1, 1, 1, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(b.type_ids, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}));
}
