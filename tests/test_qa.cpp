// Extractive QA data: SQuAD/JSONL reading, context windows and answer tokens (HF run_qa's
// conventions), the n-best answer search, and the official SQuAD metrics on hand-computed cases.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "tinybert/core/error.h"
#include "tinybert/data/qa.h"
#include "tinybert/data/qa_metrics.h"
#include "tinybert/text/tokenizer.h"

using namespace tinybert;
using namespace tinybert::data;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  return test::write_temp("tinybert_test_qa", name, text);
}
using test::error_of;
using test::tokenizer;

// The context text a window's tokens [s, e] cover, through the offsets.
std::string span_text(const QaExample& q, const QaWindow& w, int64_t s, int64_t e) {
  return std::string(
      text::slice_chars(q.context, {w.encoding.offsets[s][0], w.encoding.offsets[e][1]}));
}

QaExample example(std::string question, std::string context, std::string answer) {
  QaExample q{"q", std::move(question), std::move(context), {}, {}, "test"};
  if (!answer.empty()) {
    const auto at = q.context.find(answer);
    q.answers = {answer};
    q.answer_starts = {static_cast<int32_t>(at)};  // ASCII here: bytes are characters
  }
  return q;
}

}  // namespace

TEST(QaWindows, OneWindowMapsTheAnswerThroughOffsetsIncludingSubWords) {
  auto q = example("who was unaffable?", "The unaffable ruler of Plainfield was James.",
                   "unaffable ruler");
  auto w = qa_windows(q, 0, tokenizer(), {128, 32, 64});
  ASSERT_EQ(w.size(), 1u);
  const auto& e = w[0].encoding;
  EXPECT_EQ(e.ids.front(), tokenizer().vocab().cls_id);
  EXPECT_GT(w[0].end, w[0].start + 1);  // "unaffable" is several pieces
  EXPECT_EQ(span_text(q, w[0], w[0].start, w[0].end), "unaffable ruler");
  EXPECT_EQ(e.sequence_ids[w[0].start], 1);
  EXPECT_EQ(e.type_ids[w[0].start], 1);
}

TEST(QaWindows, LongContextsOverlapByTheStrideAndPointAtClsWithoutTheAnswer) {
  std::string context;
  for (int i = 0; i < 40; ++i) context += "word" + std::to_string(i) + " is here. ";
  context += "The answer is Plainfield.";
  auto q = example("where?", context, "Plainfield");
  const QaWindowOptions o{48, 16, 64};
  auto w = qa_windows(q, 3, tokenizer(), o);
  ASSERT_GT(w.size(), 3u);
  text::Pieces question;
  tokenizer().tokenize("where?", question);
  const size_t room = o.max_length - question.ids.size() - 3;
  for (size_t k = 0; k < w.size(); ++k) {
    EXPECT_EQ(w[k].example, 3u);
    EXPECT_LE(w[k].encoding.ids.size(), o.max_length);
    const auto first = question.ids.size() + 2;
    if (k + 1 < w.size()) {
      EXPECT_EQ(w[k].encoding.ids.size(), o.max_length);
      // the next window starts doc_stride tokens before this one ends
      EXPECT_EQ(w[k + 1].encoding.offsets[first][0],
                w[k].encoding.offsets[first + room - *o.doc_stride][0]);
    }
    const auto& off = w[k].encoding.offsets;
    const int32_t a0 = q.answer_starts[0], a1 = a0 + 10;  // "Plainfield"
    const bool holds = off[first][0] <= a0 && off[off.size() - 2][1] >= a1;
    if (k + 1 == w.size()) EXPECT_TRUE(holds);
    if (k + 2 < w.size()) EXPECT_FALSE(holds);
    if (holds) {
      EXPECT_EQ(span_text(q, w[k], w[k].start, w[k].end), "Plainfield");
    } else {
      EXPECT_EQ(w[k].start, 0);
      EXPECT_EQ(w[k].end, 0);
    }
  }
}

TEST(QaWindows, AnswerOnTheLastTokenOfAWindowAndUnanswerable) {
  // One window of exactly max_length: the answer is its last context token.
  auto q = example("which?", "alpha beta gamma delta", "delta");
  text::Pieces question;
  tokenizer().tokenize("which?", question);
  const size_t len = question.ids.size() + 3 + 4;  // four one-piece words
  auto w = qa_windows(q, 0, tokenizer(), {len, 1, 64});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].end, static_cast<int64_t>(len) - 2);
  EXPECT_EQ(span_text(q, w[0], w[0].start, w[0].end), "delta");
  // One token shorter: two windows; only the second holds "delta".
  w = qa_windows(q, 0, tokenizer(), {len - 1, 1, 64});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].start, 0);
  EXPECT_EQ(span_text(q, w[1], w[1].start, w[1].end), "delta");
  auto none = example("which?", "alpha beta gamma delta", "");
  for (const auto& x : qa_windows(none, 0, tokenizer(), {len - 1, 1, 64})) {
    EXPECT_EQ(x.start, 0);
    EXPECT_EQ(x.end, 0);
  }
}

TEST(QaWindows, QuestionsAreCutAndAStrideTooLongIsRefused) {
  auto q = example("a b c d e f g h", "alpha beta gamma delta", "beta");
  auto w = qa_windows(q, 0, tokenizer(), {64, 8, 3});
  EXPECT_EQ(w[0].encoding.sequence_ids[4], -1);  // [CLS] a b c [SEP]
  EXPECT_EQ(span_text(q, w[0], w[0].start, w[0].end), "beta");
  const auto msg = error_of([&] { qa_windows(q, 0, tokenizer(), {16, 8, 64}); });
  EXPECT_NE(msg.find("--doc-stride 8"), std::string::npos) << msg;
}

TEST(QaRead, SquadJsonV1AndV2AndJsonLines) {
  const std::string squad = R"({"version": "v2.0", "data": [{"title": "t", "paragraphs": [
    {"context": "Café Plainfield opened in 1961.", "qas": [
      {"id": "a1", "question": "When?", "answers": [{"text": "1961", "answer_start": 26}]},
      {"id": "a2", "question": "Who?", "answers": [], "is_impossible": true}]}]}]})";
  auto p = write_temp("v2.json", squad);
  auto v2 = read_squad(p, true);
  ASSERT_EQ(v2.size(), 2u);
  EXPECT_EQ(v2[0].id, "a1");
  EXPECT_EQ(v2[0].answer_starts[0], 26);  // characters: "é" is one
  EXPECT_TRUE(v2[1].answers.empty());
  auto msg = error_of([&] { read_squad(p, false); });
  EXPECT_NE(msg.find("question a2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("squad_v2"), std::string::npos) << msg;
  auto bad = write_temp("bad.json", R"({"data": [{"paragraphs": [{"context": "abc def",
    "qas": [{"id": "x9", "question": "q", "answers": [{"text": "def", "answer_start": 3}]}]}]}]})");
  msg = error_of([&] { read_squad(bad, false); });
  EXPECT_NE(msg.find("question x9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("answer_start 3"), std::string::npos) << msg;
  auto jl = write_temp("qa.jsonl",
                       "{\"id\": \"j1\", \"question\": \"What?\", \"context\": \"It is blue.\", "
                       "\"answers\": {\"text\": [\"blue\"], \"answer_start\": [6]}}\n\n"
                       "{\"question\": \"Who?\", \"context\": \"x\", \"answers\": {\"text\": [], "
                       "\"answer_start\": []}}\n");
  auto rows = read_qa_jsonl(jl, true);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].answers[0], "blue");
  EXPECT_EQ(rows[1].id, "3");  // line number when no id
  msg = error_of([&] { read_qa_jsonl(jl, false); });
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  msg = error_of([&] { read_squad(write_temp("deep.json", std::string(100000, '[')), false); });
  EXPECT_NE(msg.find("deep.json"), std::string::npos) << msg;
}

TEST(QaDecode, BestSpanOverWindowsWithLengthLimitAndNullThreshold) {
  auto q = example("which?", "alpha beta gamma delta", "gamma");
  auto w = qa_windows(q, 0, tokenizer(), {64, 8, 64});
  const auto& e = w[0].encoding;
  const int64_t T = static_cast<int64_t>(e.ids.size()), c = 4;  // [CLS] which ? [SEP] alpha...
  ASSERT_EQ(e.sequence_ids[c], 1);
  std::vector<float> start(T, 0), end(T, 0);
  start[c + 2] = 5, end[c + 2] = 4;  // gamma
  start[c] = 6, end[c + 3] = 6;      // alpha .. delta: higher, but 4 tokens
  start[1] = 50, end[1] = 50;        // a question token: never an answer
  QaWindowLogits one{&e, start, end};
  QaDecodeOptions o;
  auto a = best_answer(q.context, {&one, 1}, o);
  EXPECT_EQ(a.text, "alpha beta gamma delta");
  EXPECT_EQ(a.start, 0);
  EXPECT_EQ(a.end, 22);
  o.max_answer_length = 1;  // alpha 6, gamma 5 + 4, delta 6
  a = best_answer(q.context, {&one, 1}, o);
  EXPECT_EQ(a.text, "gamma");
  EXPECT_EQ(a.start, 11);
  EXPECT_GT(a.score, 0.0);
  EXPECT_LE(a.score, 1.0);
  // v2.0: [CLS] scores 5 + 5 = 10 against gamma's 9.
  start[0] = 5, end[0] = 5;
  o.allow_null = true;
  a = best_answer(q.context, {&one, 1}, o);
  EXPECT_TRUE(a.null);
  EXPECT_EQ(a.text, "");
  o.null_threshold = 1.5;
  EXPECT_EQ(best_answer(q.context, {&one, 1}, o).text, "gamma");
}

TEST(QaMetrics, OfficialNormalisationExactMatchAndF1) {
  EXPECT_EQ(normalize_answer("The  Cat's hat!"), "cats hat");
  EXPECT_EQ(normalize_answer("an apple, a theory"), "apple theory");
  EXPECT_EQ(normalize_answer("Élan THE"), "élan");
  EXPECT_DOUBLE_EQ(exact_score("the Cat", "cat"), 1.0);
  EXPECT_NEAR(f1_score("the cat sat", "a cat sat down"), 0.8, 1e-12);  // P 1, R 2/3
  EXPECT_DOUBLE_EQ(f1_score("", ""), 1.0);
  EXPECT_DOUBLE_EQ(f1_score("cat", ""), 0.0);
  // Question 1: best of two golds (EM 1); question 2: F1 0.8; question 3: wrong.
  auto m = qa_metrics({"Denver Broncos", "the cat sat", "blue"},
                      {{"Broncos", "Denver Broncos"}, {"a cat sat down"}, {"red"}}, false);
  EXPECT_NEAR(m["exact_match"], 100.0 / 3, 1e-9);
  EXPECT_NEAR(m["f1"], 100.0 * 1.8 / 3, 1e-9);
  EXPECT_EQ(m.count("HasAns_f1"), 0u);
  // v2.0: one answered (right), one unanswerable predicted empty (right), one unanswerable
  // answered (wrong).
  m = qa_metrics({"1961", "", "Paris"}, {{"1961"}, {}, {}}, true);
  EXPECT_NEAR(m["exact_match"], 200.0 / 3, 1e-9);
  EXPECT_DOUBLE_EQ(m["HasAns_exact"], 100.0);
  EXPECT_DOUBLE_EQ(m["HasAns_total"], 1.0);
  EXPECT_DOUBLE_EQ(m["NoAns_f1"], 50.0);
  EXPECT_DOUBLE_EQ(m["NoAns_total"], 2.0);
}
