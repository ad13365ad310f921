// Token-classification data: CoNLL/JSONL reading, word-piece alignment (HF's is_split_into_words
// and run_ner conventions) and seqeval's entity metrics on hand-computed cases.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "tinybert/core/error.h"
#include "tinybert/data/entity_metrics.h"
#include "tinybert/data/tagging.h"
#include "tinybert/text/tokenizer.h"

using namespace tinybert;
using namespace tinybert::data;

namespace {

using Tags = std::vector<std::string>;

std::string write_temp(const std::string& name, const std::string& text) {
  return test::write_temp("tinybert_test_tagging", name, text);
}
using test::error_of;
using test::tokenizer;

}  // namespace

TEST(Tagging, EntitiesAsSeqevalChunksThem) {
  using E = std::vector<Entity>;
  EXPECT_EQ(get_entities({"B-PER", "I-PER", "O", "B-LOC"}), (E{{"PER", 0, 1}, {"LOC", 3, 3}}));
  EXPECT_EQ(get_entities({"I-PER", "I-PER", "O"}), (E{{"PER", 0, 1}}));  // I- after O starts one
  EXPECT_EQ(get_entities({"B-PER", "I-LOC"}), (E{{"PER", 0, 0}, {"LOC", 1, 1}}));
  EXPECT_EQ(get_entities({"B-PER", "B-PER"}), (E{{"PER", 0, 0}, {"PER", 1, 1}}));
  // BIOES
  EXPECT_EQ(get_entities({"S-PER", "B-LOC", "I-LOC", "E-LOC", "O"}),
            (E{{"PER", 0, 0}, {"LOC", 1, 3}}));
  EXPECT_EQ(get_entities({"B-LOC", "E-LOC", "E-LOC"}), (E{{"LOC", 0, 1}, {"LOC", 2, 2}}));
  EXPECT_EQ(get_entities({"O", "O"}), E{});
  EXPECT_TRUE(is_entity_scheme({"O", "B-NAME", "I-NAME"}));
  EXPECT_TRUE(is_entity_scheme({"S-X", "E-X"}));
  EXPECT_FALSE(is_entity_scheme({"NOUN", "VERB", "."}));
  EXPECT_FALSE(is_entity_scheme({"O"}));
}

TEST(Tagging, MetricsMatchSeqevalsReadmeExample) {
  // seqeval's README: f1 0.50, accuracy 0.80.
  std::vector<Tags> gold{{"O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"},
                         {"B-PER", "I-PER", "O"}};
  std::vector<Tags> pred{{"O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"},
                         {"B-PER", "I-PER", "O"}};
  auto m = tagging_metrics(pred, gold, true);
  EXPECT_DOUBLE_EQ(m["accuracy"], 0.8);
  EXPECT_DOUBLE_EQ(m["precision"], 0.5);
  EXPECT_DOUBLE_EQ(m["recall"], 0.5);
  EXPECT_DOUBLE_EQ(m["f1"], 0.5);
  // 2 predicted, 3 true, 1 right: P 1/2, R 1/3, F1 0.4; no prediction at all: zeros, not NaN.
  m = tagging_metrics({{"B-A", "O", "B-B", "O"}}, {{"B-A", "O", "B-A", "B-C"}}, true);
  EXPECT_DOUBLE_EQ(m["precision"], 0.5);
  EXPECT_NEAR(m["recall"], 1.0 / 3, 1e-12);
  EXPECT_NEAR(m["f1"], 0.4, 1e-12);
  m = tagging_metrics({{"O", "O"}}, {{"B-A", "O"}}, true);
  EXPECT_EQ(m["precision"], 0.0);
  EXPECT_EQ(m["f1"], 0.0);
  EXPECT_EQ(tagging_metrics({{"NOUN"}}, {{"VERB"}}, false).count("f1"), 0u);
  EXPECT_NE(error_of([] {
              tagging_metrics({{"O"}}, {{"O", "O"}}, true);
            }).find("sentence 0"),
            std::string::npos);
}

TEST(Tagging, ReadsConllAndJsonl) {
  auto p = write_temp("a.txt",
                      "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"
                      "Peter\tB-PER\r\nBlackburn\tI-PER\n");
  auto s = read_conll(p);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].words, (Tags{"EU", "rejects"}));
  EXPECT_EQ(s[0].tags, (Tags{"B-ORG", "O"}));
  EXPECT_EQ(s[0].line, 3u);
  EXPECT_EQ(s[1].tags, (Tags{"B-PER", "I-PER"}));
  EXPECT_EQ(collect_tags(s), (Tags{"O", "B-ORG", "B-PER", "I-PER"}));
  auto bad = write_temp("b.txt", "EU B-ORG\nrejects\n");
  EXPECT_NE(error_of([&] { read_conll(bad); }).find("b.txt line 2"), std::string::npos);
  auto j = write_temp("c.jsonl",
                      "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\", \"B-X\"]}\n\n"
                      "{\"tokens\": [\"c\"], \"tags\": [\"O\", \"O\"]}\n");
  EXPECT_NE(error_of([&] { read_tagged_jsonl(j); }).find("c.jsonl line 3: 1 tokens but 2 tags"),
            std::string::npos);
  auto k = write_temp("d.jsonl", "{\"tokens\": [\"a\", 3]}\n");
  EXPECT_NE(error_of([&] { read_tagged_jsonl(k); }).find("line 1"), std::string::npos);
  std::string path;
  EXPECT_NE(error_of([&] { read_tagged_split("/nonexistent", "train", path); }).find("train.txt"),
            std::string::npos);
}

TEST(Tagging, WordsAreAlignedOnTheirFirstPiece) {
  const auto& tok = tokenizer();
  // "playing" is one piece; "tinybert" several; "U.S." is three pre-tokenized words of one input
  // word, all with its word id (HF's is_split_into_words).
  std::vector<std::string> words{"Tinybert", "U.S.", "playing"};
  auto e = tok.encode_words(words);
  ASSERT_EQ(e.ids.front(), tok.vocab().cls_id);
  std::vector<int32_t> expect_words{-1};
  std::vector<int32_t> ids;
  for (int32_t w = 0; w < 3; ++w) {
    ids.clear();
    tok.tokenize(words[w], ids);
    expect_words.insert(expect_words.end(), ids.size(), w);
  }
  expect_words.push_back(-1);
  EXPECT_EQ(e.word_ids, expect_words);
  EXPECT_EQ(e.offsets[1], (text::Span{0, 4}));  // "tiny" of "Tinybert", offsets within the word
  const Tags labels{"O", "B-X", "I-X"};
  auto first = align_labels(e.word_ids, {1, 1, 0}, labels, false);
  auto all = align_labels(e.word_ids, {1, 1, 0}, labels, true);
  for (size_t k = 0; k < e.ids.size(); ++k) {
    const int32_t w = e.word_ids[k];
    const bool first_piece = w >= 0 && (k == 0 || e.word_ids[k - 1] != w);
    const int64_t tag = w < 0 ? kIgnore : std::vector<int64_t>{1, 1, 0}[w];
    EXPECT_EQ(first[k], first_piece ? tag : kIgnore) << k;
    EXPECT_EQ(all[k], first_piece || w < 0 ? tag : (tag == 1 ? 2 : tag)) << k;  // B-X -> I-X
  }
  // Truncation keeps whole pieces and counts the words cut off.
  auto t = tok.encode_words(words, 5);
  EXPECT_EQ(t.ids.size(), 5u);
  EXPECT_EQ(t.ids.back(), tok.vocab().sep_id);
  EXPECT_EQ(cut_words(t.word_ids, words.size()), 3u - static_cast<size_t>(t.word_ids[3] + 1));
  EXPECT_NE(error_of([&] {
              align_labels({-1, 5, -1}, {0}, labels, false);
            }).find("word id 5"),
            std::string::npos);
}
