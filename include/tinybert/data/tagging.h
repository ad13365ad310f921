// Token-classification data: tagged sentences read from CoNLL-style or JSONL files, and word tags
// aligned onto word pieces (HF run_ner's convention: the first piece of each word is labelled).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinybert/text/tokenizer.h"

namespace tinybert::data {

struct TaggedSentence {
  std::vector<std::string> words;
  std::vector<std::string> tags;  // one per word; empty for unlabeled input
  size_t line = 0;                // first line in the source file, for messages
};

// Columns of a CoNLL line: split at tabs when it has one, else at runs of spaces.
std::vector<std::string> conll_columns(const std::string& line);

// CoNLL style: one word a line, columns split by a tab (or else by spaces), the word first and
// its tag last; a blank line ends a sentence; -DOCSTART- lines are skipped. A line with one
// column is an untagged word; a file must be all tagged or all untagged.
std::vector<TaggedSentence> read_conll(const std::string& path);
// JSON lines {"tokens": [...], "tags": [...]} (tags optional), as HF datasets lays out NER data.
std::vector<TaggedSentence> read_tagged_jsonl(const std::string& path);
// DIR/SPLIT.txt (CoNLL) or else DIR/SPLIT.jsonl; `path` receives the file read.
std::vector<TaggedSentence> read_tagged_split(const std::string& dir, const std::string& split,
                                              std::string& path);

// The tags of all sentences, sorted (O first when present): the label order of a new model.
std::vector<std::string> collect_tags(const std::vector<TaggedSentence>& sentences);

// Label id of every word piece: the word's tag id on its first piece, kIgnore on specials and on
// later pieces (or, with all_pieces, the word's tag there too, B-X written as I-X when the labels
// have I-X: HF run_ner's label_all_tokens). word_ids as Encoding::word_ids (-1: special).
constexpr int64_t kIgnore = -100;  // PyTorch cross_entropy's ignore_index
std::vector<int64_t> align_labels(const std::vector<int32_t>& word_ids,
                                  const std::vector<int64_t>& word_tags,
                                  const std::vector<std::string>& labels, bool all_pieces);

// Words of a sentence that truncation cut off (have no piece in the encoding).
size_t cut_words(const std::vector<int32_t>& word_ids, size_t words);

}  // namespace tinybert::data
