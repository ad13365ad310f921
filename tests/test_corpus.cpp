// The streamed corpus: packing, and next-sentence pairs (true continuation or another document).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "tinybert/data/dataset.h"

using namespace tinybert;

namespace {

constexpr int kDocs = 30, kSentences = 12, kRepeat = 3;

// A corpus whose every token names its (document, sentence): sentence s of document d is one
// single-piece word, distinct per (d, s), repeated kRepeat times.
struct Corpus {
  text::Tokenizer tok = text::Tokenizer::from_vocab(TINYBERT_FIXTURES "/vocab.txt");
  std::map<int32_t, std::pair<int, int>> where;  // token id -> (document, sentence)
  std::string path = (std::filesystem::temp_directory_path() /
                      (std::string("tinybert_corpus_") +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".txt"))
                         .string();

  Corpus() {
    std::vector<std::pair<std::string, int32_t>> words;
    for (int32_t id = 2000; words.size() < kDocs * kSentences; ++id) {
      const std::string& w = tok.vocab().token(id);
      if (w.size() < 3 || !std::all_of(w.begin(), w.end(), [](char c) { return std::islower(c); }))
        continue;
      std::vector<int32_t> ids;
      tok.tokenize(w, ids);
      if (ids.size() == 1) words.emplace_back(w, ids[0]);
    }
    std::ofstream f(path);
    for (int d = 0; d < kDocs; ++d) {
      for (int s = 0; s < kSentences; ++s) {
        const auto& [w, id] = words[d * kSentences + s];
        where[id] = {d, s};
        for (int r = 0; r < kRepeat; ++r) f << (r ? " " : "") << w;
        f << "\n";
      }
      f << "\n";
    }
  }
};

std::vector<std::vector<int64_t>> rows(const at::Tensor& t) {  // (B, T) -> B rows
  std::vector<std::vector<int64_t>> out;
  auto c = t.contiguous();
  for (int64_t b = 0; b < c.size(0); ++b)
    out.emplace_back(c[b].data_ptr<int64_t>(), c[b].data_ptr<int64_t>() + c.size(1));
  return out;
}

}  // namespace

TEST(Corpus, NextSentencePairs) {
  Corpus c;
  const auto& v = c.tok.vocab();
  const int64_t max_length = 32;
  data::CorpusSource src(c.path, c.tok, max_length, 8, 7, torch::kCPU, /*next_sentence=*/true);
  int counts[2] = {0, 0};
  for (int epoch = 0; epoch < 5; ++epoch) {
    src.start_epoch(epoch);
    while (auto batch = src.next()) {
      ASSERT_TRUE(batch->labels.defined());
      auto ids = rows(batch->inputs.input_ids), types = rows(batch->inputs.token_type_ids);
      auto mask = rows(batch->inputs.attention_mask);
      for (size_t i = 0; i < ids.size(); ++i) {
        const int64_t label = batch->labels[i].item<int64_t>();
        ASSERT_TRUE(label == 0 || label == 1);
        ++counts[label];
        const auto len = std::count(mask[i].begin(), mask[i].end(), 1);
        ASSERT_LE(len, max_length);
        ASSERT_EQ(ids[i][0], v.cls_id);
        ASSERT_EQ(ids[i][len - 1], v.sep_id);
        const auto sep = std::find(ids[i].begin() + 1, ids[i].end(), v.sep_id) - ids[i].begin();
        ASSERT_LT(sep, len - 1) << "two segments";
        std::vector<std::pair<int, int>> a, b;  // (document, sentence) of each token
        for (int64_t t = 1; t < len - 1; ++t) {
          EXPECT_EQ(types[i][t], t <= sep ? 0 : 1) << "token_type_ids at " << t;
          if (t == sep) continue;
          ASSERT_TRUE(c.where.count(ids[i][t]))
              << "token " << ids[i][t] << " is not from the corpus";
          (t < sep ? a : b).push_back(c.where[ids[i][t]]);
        }
        ASSERT_FALSE(a.empty());
        ASSERT_FALSE(b.empty());
        for (size_t t = 1; t < a.size(); ++t)
          ASSERT_EQ(a[t].first, a[0].first) << "A is one document";
        for (size_t t = 1; t < b.size(); ++t)
          ASSERT_EQ(b[t].first, b[0].first) << "B is one document";
        if (label == 0) {
          // B starts where A stopped: the same sentence (cut in its middle) or the next one.
          EXPECT_EQ(b[0].first, a.back().first);
          EXPECT_TRUE(b[0].second == a.back().second || b[0].second == a.back().second + 1);
        } else {
          EXPECT_NE(b[0].first, a[0].first) << "a random B comes from another document";
        }
      }
    }
  }
  const int total = counts[0] + counts[1];
  EXPECT_EQ(total, 5 * src.sequences());
  std::cout << "pairs: " << counts[0] << " continuations, " << counts[1] << " random\n";
  EXPECT_GT(counts[0], total / 4);
  EXPECT_GT(counts[1], total / 4);
  std::filesystem::remove(c.path);
}

TEST(Corpus, NextSentencePairsAreReproducibleAndSkippable) {
  Corpus c;
  data::CorpusSource one(c.path, c.tok, 32, 4, 3, torch::kCPU, true, /*chunk_sequences=*/5);
  data::CorpusSource two(c.path, c.tok, 32, 4, 3, torch::kCPU, true, 5);
  one.start_epoch(1);
  two.start_epoch(1);
  one.next();
  one.next();
  two.skip(2);  // resuming mid-epoch sees the batches an uninterrupted run would
  while (auto a = one.next()) {
    auto b = two.next();
    ASSERT_TRUE(b);
    EXPECT_TRUE(torch::equal(a->inputs.input_ids, b->inputs.input_ids));
    EXPECT_TRUE(torch::equal(a->labels, b->labels));
  }
  EXPECT_FALSE(two.next());
  // Another epoch draws other pairs.
  one.start_epoch(2);
  two.start_epoch(1);
  EXPECT_FALSE(torch::equal(one.next()->inputs.input_ids, two.next()->inputs.input_ids));
  std::filesystem::remove(c.path);
}

TEST(Corpus, PackedSequencesWithoutPairs) {
  Corpus c;
  data::CorpusSource src(c.path, c.tok, 32, 64, 1, torch::kCPU);
  src.start_epoch(0);
  auto batch = src.next();
  ASSERT_TRUE(batch);
  EXPECT_FALSE(batch->labels.defined());
  EXPECT_EQ(batch->inputs.token_type_ids.sum().item<int64_t>(), 0);
  // 12 sentences of 3 tokens a document, 30 tokens a sequence: 10 + 2 sentences.
  EXPECT_EQ(src.sequences(), 2 * kDocs);
  std::filesystem::remove(c.path);
}
