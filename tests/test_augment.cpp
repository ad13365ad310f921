// Augmentation: MLM candidates are the top-K of the MLM logits (reference.safetensors), neighbours
// match a brute-force search, GloVe files are checked, tries are deterministic.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tinybert/augment/augmenter.h"
#include "tinybert/core/error.h"
#include "tinybert/io/tensor_file.h"
#include "tinybert/model/pretrained.h"

using namespace tinybert;
using namespace tinybert::augment;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;

struct Fixture {
  model::LoadedModel mlm = model::load_model(kFixtures + "/tiny-mlm");
  text::Tokenizer tok = text::Tokenizer::from_dir(kFixtures + "/tiny-mlm");
};

std::string temp_file(const std::string& name, const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST(Augment, MlmCandidatesAreTopKOfTheLogits) {
  Fixture f;
  auto ref = io::load_tensors(kFixtures + "/reference.safetensors");
  auto ids = ref.at("mlm.input_ids")[0], mask = ref.at("attention_mask")[0];
  std::vector<int32_t> input;
  for (int64_t i = 0; i < ids.size(0); ++i)
    if (mask[i].item<int64_t>()) input.push_back(static_cast<int32_t>(ids[i].item<int64_t>()));
  const size_t pos = static_cast<size_t>(ref.at("mlm.mask_position")[1].item<int64_t>());
  ASSERT_EQ(input[pos], f.tok.vocab().mask_id);
  for (int64_t k : {1, 15, 50}) {
    Augmenter aug(f.mlm.model, f.tok, {.k = k});
    auto got = aug.mlm_candidates({input}, {pos})[0];
    auto top = std::get<1>(ref.at("mlm.logits_at_mask").topk(k));
    std::vector<std::string> want;
    for (int64_t i = 0; i < k; ++i) {
      const auto& t = f.tok.vocab().token(static_cast<int32_t>(top[i].item<int64_t>()));
      if (t.rfind("##", 0) != 0) want.push_back(t);
    }
    EXPECT_EQ(got, want) << "k=" << k;
  }
}

TEST(Augment, EmbeddingNeighboursMatchBruteForce) {
  Fixture f;
  const int64_t k = 15;
  Augmenter aug(f.mlm.model, f.tok, {.k = k});
  const std::string word = "unbelievably";
  std::vector<int32_t> pieces;
  f.tok.tokenize(word, pieces);
  ASSERT_GT(pieces.size(), 1u) << "the test needs a multi-piece word";
  auto emb = f.mlm.model->bert->embeddings->word_embeddings->weight.detach();
  std::vector<int64_t> piece_ids(pieces.begin(), pieces.end());
  auto q = emb.index_select(0, torch::tensor(piece_ids)).mean(0);
  std::vector<std::pair<double, std::string>> scored;
  for (size_t i = 0; i < f.tok.vocab().size(); ++i) {
    const auto& t = f.tok.vocab().token(static_cast<int32_t>(i));
    bool letters = !t.empty() && t.front() != '[' && t.rfind("##", 0) != 0;
    for (unsigned char c : t) letters = letters && (std::isalpha(c) || c >= 0x80);
    if (!letters || t == word) continue;
    double cos = torch::cosine_similarity(q.unsqueeze(0), emb[i].unsqueeze(0)).item<double>();
    scored.emplace_back(cos, t);
  }
  std::partial_sort(scored.begin(), scored.begin() + k, scored.end(),
                    [](auto& a, auto& b) { return a.first > b.first; });
  auto got = aug.candidates({"It was " + word + " good."})[0];
  ASSERT_EQ(got.size(), 5u);  // It, was, unbelievably, good, .
  std::vector<std::string> want;
  for (int64_t i = 0; i < k; ++i) want.push_back(scored[i].second);
  EXPECT_EQ(got[2], want);
  EXPECT_TRUE(got[0].empty() && got[1].empty());  // stop words
  EXPECT_TRUE(got[4].empty());                    // punctuation
}

TEST(Augment, TitleCaseIsKept) {
  EXPECT_EQ(match_case("Paris", "london"), "London");
  EXPECT_EQ(match_case("paris", "london"), "london");
  EXPECT_EQ(match_case("Émile", "élan"), "Élan");
}

TEST(Augment, GloveNeighboursAndBadFiles) {
  auto path = temp_file("glove.txt",
                        "king 1 0 0\nqueen 0.9 0.1 0\nman 0 1 0\nwoman 0.1 0.9 0\napple 0 0 1\n");
  auto wv = WordVectors::load(path);
  EXPECT_EQ(wv.vectors.sizes(), (std::vector<int64_t>{5, 3}));
  NeighbourIndex idx(wv.words, wv.vectors);
  auto nn = idx.nearest(wv.vectors.index_select(0, torch::tensor({0L})), {"king"}, 2);
  EXPECT_EQ(nn[0], (std::vector<std::string>{"queen", "woman"}));
  auto header = temp_file("w2v.txt", "2 3\na 1 2 3\nb 4 5 6\n");
  EXPECT_EQ(WordVectors::load(header).words.size(), 2u);
  auto bad = temp_file("bad.txt", "2 3\na 1 2 3\nb 4 5\n");
  try {
    WordVectors::load(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3: 2 values for \"b\", expected 3"),
              std::string::npos)
        << e.what();
  }
  auto bad2 = temp_file("bad2.txt", "a 1 2 3\nb 4 x 6\n");
  EXPECT_THROW(WordVectors::load(bad2), Error);
  for (auto p : {path, header, bad, bad2}) std::filesystem::remove(p);
}

TEST(Augment, TriesAreDeterministicAndOnlyReplaceCandidates) {
  Fixture f;
  Augmenter aug(f.mlm.model, f.tok, {.n_aug = 20, .p = 0.4, .k = 5});
  const std::string text = "The quick brown fox jumps over the lazy dog.";
  auto cands = aug.candidates({text})[0];
  std::mt19937_64 a(7), b(7);
  auto ta = aug.tries(text, cands, a), tb = aug.tries(text, cands, b);
  EXPECT_EQ(ta, tb);
  EXPECT_EQ(ta.size(), 20u);
  size_t changed = 0;
  for (const auto& t : ta) {
    changed += t != text;
    EXPECT_EQ(t.back(), '.');  // punctuation untouched
  }
  EXPECT_GT(changed, 10u);
  EXPECT_THROW(aug.candidates({"bad \xff utf8"}), Error);
}
