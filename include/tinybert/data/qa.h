// Extractive question answering data: SQuAD JSON and JSONL questions, the windows long contexts
// are split into (HF run_qa's doc stride), answer spans mapped onto tokens through the offsets,
// and the n-best answer search over an example's windows.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tinybert/text/tokenizer.h"

namespace tinybert::data {

struct QaExample {
  std::string id, question, context;
  std::vector<std::string> answers;    // gold texts (several in SQuAD's dev); none: unanswerable
  std::vector<int32_t> answer_starts;  // their first character in context (code points)
  std::string where;                   // "FILE line N" or "FILE question ID", for messages
};

// SQuAD's JSON ({"data": [{"paragraphs": [{"context", "qas": [...]}]}]}) or JSON lines
// {"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}} (HF datasets'
// layout). Every answer must be the context's text at its answer_start. Without `v2`, a question
// without an answer (or marked is_impossible) is an error: that is SQuAD v2.0 data.
std::vector<QaExample> read_squad(const std::string& path, bool v2);
std::vector<QaExample> read_qa_jsonl(const std::string& path, bool v2);
// DIR/SPLIT.json (SQuAD) or else DIR/SPLIT.jsonl; `path` receives the file read.
std::vector<QaExample> read_qa_split(const std::string& dir, const std::string& split, bool v2,
                                     std::string& path);

struct QaWindowOptions {
  size_t max_length = 384;  // tokens of a window, specials included
  // Context tokens shared by consecutive windows (HF's stride); unset: min(128, half the context
  // tokens a window holds), as HF's question-answering pipeline defaults it.
  std::optional<size_t> doc_stride;
  size_t max_query_length = 64;  // question pieces kept
};

// [CLS] question [SEP] part of the context [SEP], aligned (offsets into the context for its
// tokens), with the answer's first and last token, or 0 ([CLS]) for both when the window does
// not hold the whole answer or there is none (HF run_qa's training labels).
struct QaWindow {
  text::Encoding encoding;
  size_t example = 0;
  int64_t start = 0, end = 0;
};

// The windows of one example (index `example`), as HF's tokenizer makes them with
// truncation="only_second", stride and return_overflowing_tokens. Fails when the question leaves
// no context tokens, or no more than a given doc_stride, per window.
std::vector<QaWindow> qa_windows(const QaExample& e, size_t example, const text::Tokenizer& tok,
                                 const QaWindowOptions& o);

struct QaDecodeOptions {
  int64_t n_best = 20;             // start and end candidates per window
  int64_t max_answer_length = 30;  // tokens
  bool allow_null = false;         // SQuAD v2.0: the answer may be "no answer"
  double null_threshold = 0.0;     // "no answer" wins when its score beats the best span's by more
};

struct QaAnswer {
  std::string text;            // cut from the context; "" for no answer
  int32_t start = 0, end = 0;  // characters [start, end) of the context
  double score = 0;            // probability among the n best (HF run_qa's "probability")
  bool null = true;            // no answer (none found, or the null score won)
};

// Start and end logits of one window, (T) each, as computed for its encoding.
struct QaWindowLogits {
  const text::Encoding* encoding;
  std::span<const float> start, end;
};

// HF run_qa's postprocess_qa_predictions for one example: the best span over all its windows by
// start + end logit, among each window's n_best starts and ends, inside the context, at most
// max_answer_length tokens long; with allow_null, "no answer" (the lowest [CLS] score over the
// windows) when it beats the best span by more than null_threshold.
QaAnswer best_answer(const std::string& context, std::span<const QaWindowLogits> windows,
                     const QaDecodeOptions& o);

}  // namespace tinybert::data
