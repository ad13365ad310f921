// Checkpoints: round trip, legacy key aliases, head initialisation, and every bad file named.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "tinybert/core/error.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/io/tensor_file.h"
#include "tinybert/model/pretrained.h"

using namespace tinybert;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;

// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("tinybert-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

using Tensors = std::vector<std::pair<std::string, torch::Tensor>>;

Tensors fixture_tensors(const std::string& dir) {
  Tensors out;
  for (auto& [k, v] : io::load_tensors(kFixtures + "/" + dir + "/model.safetensors"))
    out.emplace_back(k, v);
  return out;
}

// A model dir with the fixture's config and the given tensors.
std::string write_model(const TempDir& tmp, const std::string& fixture, const Tensors& tensors,
                        const std::string& config_override = "") {
  fs::copy_file(kFixtures + "/" + fixture + "/config.json", tmp / "config.json");
  if (!config_override.empty()) io::write_file_atomic(tmp / "config.json", config_override);
  io::save_tensors(tmp / "model.safetensors", tensors);
  return tmp.path.string();
}

std::string load_error(const std::string& dir, model::LoadOptions opt = {}) {
  try {
    model::load_model(dir, opt);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

torch::Tensor logits(model::AutoBertImpl& m) {
  auto r = io::load_tensors(kFixtures + "/reference.safetensors");
  torch::NoGradGuard g;
  return m.forward({r.at("input_ids"), r.at("token_type_ids"), r.at("attention_mask")}).logits;
}

}  // namespace

TEST(Checkpoint, SaveLoadRoundTripIsIdentical) {
  auto a = model::load_model(kFixtures + "/tiny-teacher-cls");
  auto tok = text::Tokenizer::from_dir(kFixtures + "/tiny-teacher-cls");
  TempDir tmp;
  std::string dir = tmp / "saved";
  model::save_model(*a.model, tok, dir);
  model::save_model(*a.model, tok, dir);  // overwriting an existing directory works
  for (auto f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;
  EXPECT_EQ(read_file(dir + "/vocab.txt"), read_file(kFixtures + "/vocab.txt"));
  auto b = model::load_model(dir);
  auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  EXPECT_TRUE(torch::equal(logits(*a.model), logits(*b.model)));
  // The file holds exactly HF's keys: no decoder or position_ids extras.
  auto saved = io::SafetensorsFile::load(dir + "/model.safetensors");
  auto orig = io::SafetensorsFile::load(kFixtures + "/tiny-teacher-cls/model.safetensors");
  ASSERT_EQ(saved.tensors().size(), orig.tensors().size());
  for (size_t i = 0; i < saved.tensors().size(); ++i)
    EXPECT_EQ(saved.tensors()[i].name, orig.tensors()[i].name);
}

TEST(Checkpoint, MaskedLMRoundTripKeepsTiedDecoder) {
  auto a = model::load_model(kFixtures + "/tiny-mlm");
  auto& head = a.model->cls->predictions;
  EXPECT_TRUE(head->decoder_weight.is_same(a.model->bert->embeddings->word_embeddings->weight));
  TempDir tmp;
  model::save_model(*a.model, text::Tokenizer::from_dir(kFixtures + "/tiny-mlm"), tmp / "m");
  auto saved = io::SafetensorsFile::load(tmp / "m/model.safetensors");
  EXPECT_EQ(saved.find("cls.predictions.decoder.weight"), nullptr);
  EXPECT_NE(saved.find("cls.predictions.bias"), nullptr);
}

TEST(Checkpoint, LegacyAliasesLoad) {
  // Old checkpoints: LayerNorm.gamma/beta, no "bert." prefix, cls.predictions.decoder.* present.
  Tensors legacy;
  for (auto [k, v] : fixture_tensors("tiny-mlm")) {
    if (k.rfind("bert.", 0) == 0) k = k.substr(5);
    if (k.size() > 7 && k.substr(k.size() - 7) == ".weight" &&
        k.find("LayerNorm") != std::string::npos)
      k = k.substr(0, k.size() - 7) + ".gamma";
    else if (k.size() > 5 && k.substr(k.size() - 5) == ".bias" &&
             k.find("LayerNorm") != std::string::npos)
      k = k.substr(0, k.size() - 5) + ".beta";
    legacy.emplace_back(k, v);
    if (k == "embeddings.word_embeddings.weight")
      legacy.emplace_back("cls.predictions.decoder.weight", v);
    if (k == "cls.predictions.bias") legacy.emplace_back("cls.predictions.decoder.bias", v);
  }
  legacy.emplace_back("embeddings.position_ids", torch::arange(128).unsqueeze(0));
  TempDir tmp;
  auto dir = write_model(tmp, "tiny-mlm", legacy);
  auto got = model::load_model(dir);
  auto want = model::load_model(kFixtures + "/tiny-mlm");
  for (const auto& item : want.model->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), got.model->named_parameters()[item.key()]))
        << item.key();
}

TEST(Checkpoint, BaseModelIntoClassifierInitialisesOnlyTheHead) {
  Tensors base;
  for (auto& [k, v] : fixture_tensors("tiny-teacher-cls"))
    if (k.rfind("classifier.", 0) != 0) base.emplace_back(k.substr(5), v);  // BertModel keys
  TempDir tmp;
  auto dir = write_model(tmp, "tiny-teacher-cls", base);
  auto loaded = model::load_model(dir);
  EXPECT_EQ(loaded.report.initialized,
            (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_NE(loaded.report.summary().find("newly initialised"), std::string::npos);
  // An MLM checkpoint as a classifier: cls.* ignored, pooler and classifier initialised.
  auto mlm = model::load_model(
      kFixtures + "/tiny-mlm",
      {.architecture = model::Architecture::SequenceClassification, .labels = {{"a", "b"}}});
  EXPECT_EQ(mlm.report.initialized.size(), 4u);
  EXPECT_EQ(mlm.report.ignored.size(), 5u);
  EXPECT_EQ(mlm.model->classifier->weight.size(0), 2);
}

TEST(Checkpoint, MissingTensorIsNamed) {
  Tensors t = fixture_tensors("tiny-teacher-cls");
  std::erase_if(t, [](auto& p) { return p.first == "bert.encoder.layer.2.output.dense.weight"; });
  TempDir tmp;
  auto err = load_error(write_model(tmp, "tiny-teacher-cls", t));
  EXPECT_NE(err.find("missing: bert.encoder.layer.2.output.dense.weight [32, 64]"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("model is corrupted or incomplete"), std::string::npos) << err;
}

TEST(Checkpoint, ShapeMismatchNamesBothShapes) {
  Tensors t = fixture_tensors("tiny-teacher-cls");
  for (auto& [k, v] : t)
    if (k == "bert.encoder.layer.2.intermediate.dense.weight") v = torch::zeros({48, 32});
  TempDir tmp;
  auto err = load_error(write_model(tmp, "tiny-teacher-cls", t));
  EXPECT_NE(err.find("shape mismatch: bert.encoder.layer.2.intermediate.dense.weight expected [64, "
                     "32] found [48, 32]"),
            std::string::npos)
      << err;
}

TEST(Checkpoint, ConfigSizesAreCheckedAgainstTheWeightsBeforeBuilding) {
  const std::string good = read_file(kFixtures + "/tiny-teacher-cls/config.json");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string cfg = good;
    cfg.replace(cfg.find(from), from.size(), to);
    return cfg;
  };
  const std::pair<std::string, std::string> cases[] = {
      // hidden_size 32768 would allocate gigabytes of embeddings: refused from the header alone
      {with("\"hidden_size\": 32", "\"hidden_size\": 32768"),
       "vocab_size 30522 and hidden_size 32768 give bert.embeddings.word_embeddings.weight "
       "[30522, 32768], but"},
      {with("\"vocab_size\": 30522", "\"vocab_size\": 16000000"),
       "vocab_size 16000000 and hidden_size 32 give"},
      {with("\"num_hidden_layers\": 4", "\"num_hidden_layers\": 1000"),
       "num_hidden_layers is 1000, but"},
      {with("\"intermediate_size\": 64", "\"intermediate_size\": 200000"),
       "intermediate_size 200000 and hidden_size 32 give"},
      {with("\"max_position_embeddings\": 128", "\"max_position_embeddings\": 1000000"),
       "max_position_embeddings 1000000 and hidden_size 32 give"},
  };
  for (const auto& [cfg, fragment] : cases) {
    TempDir tmp;
    auto err =
        load_error(write_model(tmp, "tiny-teacher-cls", fixture_tensors("tiny-teacher-cls"), cfg));
    EXPECT_NE(err.find(fragment), std::string::npos) << err;
    EXPECT_NE(err.find("does not belong to these weights"), std::string::npos) << err;
  }
}

TEST(Checkpoint, LabelCountMismatchSaysSo) {
  TempDir tmp;
  auto err = load_error(kFixtures + "/tiny-teacher-cls",
                        {.labels = std::vector<std::string>{"neg", "pos"}});
  EXPECT_NE(err.find("label count mismatch"), std::string::npos) << err;
  EXPECT_NE(err.find("a classifier for 3 labels, but 2 are expected [neg, pos]"), std::string::npos)
      << err;
  EXPECT_EQ(err.find("corrupted"), std::string::npos) << err;
}

TEST(Checkpoint, NonFiniteWeightsAreRefused) {
  Tensors t = fixture_tensors("tiny-teacher-cls");
  for (auto& [k, v] : t)
    if (k == "bert.encoder.layer.1.attention.self.key.bias")
      v[3] = NAN;
    else if (k == "classifier.weight")
      v[0][0] = INFINITY;
  TempDir tmp;
  auto err = load_error(write_model(tmp, "tiny-teacher-cls", t));
  EXPECT_NE(
      err.find("non-finite values (NaN or inf): bert.encoder.layer.1.attention.self.key.bias"),
      std::string::npos)
      << err;
  EXPECT_NE(err.find("non-finite values (NaN or inf): classifier.weight"), std::string::npos)
      << err;
}

TEST(Checkpoint, VocabularyLargerThanTheModelIsRefused) {
  TempDir tmp;
  write_model(tmp, "tiny-teacher-cls", fixture_tensors("tiny-teacher-cls"));
  std::string vocab = read_file(kFixtures + "/tiny-teacher-cls/vocab.txt");
  for (int i = 0; i < 5; ++i) vocab += "extra" + std::to_string(i) + "\n";
  io::write_file_atomic(tmp / "vocab.txt", vocab);
  auto err = load_error(tmp.path.string());
  EXPECT_NE(err.find(tmp / "vocab.txt" + " has 30527 entries but " + (tmp / "config.json") +
                     " says vocab_size 30522"),
            std::string::npos)
      << err;
}

TEST(Checkpoint, WrongDtypeAndUnexpectedTensor) {
  Tensors t = fixture_tensors("tiny-teacher-cls");
  for (auto& [k, v] : t)
    if (k == "bert.pooler.dense.bias") v = v.to(torch::kInt);
  t.emplace_back("bert.encoder.layer.3.output.dense.scale", torch::zeros({2}));
  TempDir tmp;
  auto err = load_error(write_model(tmp, "tiny-teacher-cls", t));
  EXPECT_NE(err.find("wrong dtype: bert.pooler.dense.bias is I32"), std::string::npos) << err;
  EXPECT_NE(err.find("unexpected: bert.encoder.layer.3.output.dense.scale [2]"), std::string::npos)
      << err;
}

TEST(Checkpoint, HalfPrecisionWeightsLoad) {
  Tensors t = fixture_tensors("tiny-teacher-cls");
  for (auto& [k, v] : t) v = v.to(torch::kBFloat16);
  TempDir tmp;
  auto loaded = model::load_model(write_model(tmp, "tiny-teacher-cls", t));
  EXPECT_EQ(loaded.model->bert->pooler->dense->weight.scalar_type(), torch::kFloat);
}

TEST(Checkpoint, MissingFilesAndBadConfig) {
  EXPECT_NE(load_error("/nonexistent/model").find("does not exist"), std::string::npos);
  TempDir tmp;
  std::string cfg = read_file(kFixtures + "/tiny-teacher-cls/config.json");
  cfg.replace(cfg.find("\"num_attention_heads\": 4"), 24, "\"num_attention_heads\": 5");
  auto err =
      load_error(write_model(tmp, "tiny-teacher-cls", fixture_tensors("tiny-teacher-cls"), cfg));
  EXPECT_NE(err.find("hidden_size 32 is not divisible by num_attention_heads 5"), std::string::npos)
      << err;
  TempDir empty;
  EXPECT_NE(load_error(empty.path.string()).find("has no model.safetensors"), std::string::npos);
}
