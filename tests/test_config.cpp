// BertConfig: HF config.json fields, defaults, and clear errors for unsupported values.
#include <gtest/gtest.h>

#include "tinybert/core/error.h"
#include "tinybert/model/config.h"
#include "tinybert/model/heads.h"

using namespace tinybert;
using namespace tinybert::model;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;

void expect_error(const std::string& json, const std::string& fragment) {
  try {
    BertConfig::from_json(nlohmann::json::parse(json), "my/config.json");
    ADD_FAILURE() << "no error for " << json;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("my/config.json"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Config, ReadsFixture) {
  auto c = BertConfig::load(kFixtures + "/tiny-teacher-cls/config.json");
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_hidden_layers, 4);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.intermediate_size, 64);
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_EQ(c.architecture, Architecture::SequenceClassification);
  EXPECT_EQ(c.labels, (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2"}));
  EXPECT_FALSE(c.is_regression());
  EXPECT_EQ(BertConfig::load(kFixtures + "/tiny-mlm/config.json").architecture,
            Architecture::MaskedLM);
}

TEST(Config, RoundTripsThroughJson) {
  auto c = BertConfig::load(kFixtures + "/tiny-student-cls/config.json");
  c.labels = {"neg", "pos"};
  auto back = BertConfig::from_json(nlohmann::json::parse(c.to_json().dump()), "rt");
  EXPECT_EQ(back.labels, c.labels);
  EXPECT_EQ(back.hidden_size, c.hidden_size);
  EXPECT_EQ(back.architecture, c.architecture);
  EXPECT_EQ(c.to_json()["architectures"][0], "BertForSequenceClassification");
  EXPECT_EQ(c.to_json()["label2id"]["pos"], 1);
}

TEST(Config, Regression) {
  auto c = BertConfig::from_json(
      nlohmann::json::parse(
          R"({"architectures":["BertForSequenceClassification"],"num_labels":1})"),
      "x");
  EXPECT_TRUE(c.is_regression());
}

TEST(Config, UnsupportedValuesFailClearly) {
  expect_error(R"({"hidden_size":30,"num_attention_heads":4})",
               "hidden_size 30 is not divisible by num_attention_heads 4");
  expect_error(R"({"hidden_act":"swish"})", "hidden_act \"swish\" is not supported");
  expect_error(R"({"model_type":"roberta"})", "model_type \"roberta\"");
  expect_error(R"({"position_embedding_type":"relative_key"})", "position_embedding_type");
  expect_error(R"({"hidden_size":"big"})",
               "field \"hidden_size\" must be an integer, found \"big\"");
  expect_error(R"({"architectures":["GPT2LMHeadModel"]})", "unsupported architecture");
  expect_error(R"({"id2label":{"0":"a","5":"b"}})", "id2label must map ids 0..1");
  expect_error(R"({"id2label":{"0":"a","1":"b"},"label2id":{"a":1,"b":0}})",
               "disagrees with id2label");
  expect_error(R"({"num_hidden_layers":0})", "num_hidden_layers must be positive");
}

TEST(Config, IntegerFieldsTakeIntegersOnly) {
  expect_error(R"({"hidden_size":32.5})", "field \"hidden_size\" must be an integer, found 32.5");
  expect_error(R"({"num_hidden_layers":1e30})", "field \"num_hidden_layers\" must be an integer");
  expect_error(R"({"vocab_size":18446744073709551615})", "field \"vocab_size\" is out of range");
  expect_error(R"({"intermediate_size":-3})", "intermediate_size must be positive, found -3");
  expect_error(R"({"hidden_dropout_prob":"0.1"})",
               "field \"hidden_dropout_prob\" must be a number");
}

TEST(Config, AbsurdSizesFailBeforeAnyAllocation) {
  expect_error(R"({"hidden_size":1048576,"num_attention_heads":1})",
               "hidden_size 1048576 is larger than tinybert supports (65536)");
  expect_error(R"({"vocab_size":100000000})", "vocab_size 100000000 is larger than");
  expect_error(R"({"num_hidden_layers":5000})", "num_hidden_layers 5000 is larger than");
  expect_error(R"({"layer_norm_eps":0})", "layer_norm_eps must be in (0, 1)");
}

TEST(Config, ParameterCountMatchesTheModules) {
  auto c = BertConfig::load(kFixtures + "/tiny-teacher-cls/config.json");
  for (auto a : {Architecture::Base, Architecture::SequenceClassification, Architecture::MaskedLM,
                 Architecture::PreTraining}) {
    c.architecture = a;
    auto m = init_model(c, 0);
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    EXPECT_EQ(parameter_count(c), n) << architecture_name(a);
  }
}

TEST(Config, ModelsLargerThanMemoryAreRefusedBeforeAllocating) {
  BertConfig c;
  c.hidden_size = 32768;
  c.num_attention_heads = 64;
  c.intermediate_size = 131072;
  c.num_hidden_layers = 48;  // 6e11 parameters: about 2.5 TB in fp32
  try {
    init_model(c, 0);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GiB in fp32, more than this machine's"),
              std::string::npos)
        << e.what();
  }
}

TEST(Config, ForwardFlopsMatchThePaper) {
  BertConfig base;  // BERT-base: 22.5 GFLOPs per 128-token input (TinyBERT paper)
  EXPECT_NEAR(forward_flops(base, 128) / 1e9, 22.35, 0.01);
  BertConfig tiny;
  tiny.num_hidden_layers = 4;
  tiny.hidden_size = 312;
  tiny.intermediate_size = 1200;
  EXPECT_NEAR(forward_flops(tiny, 128) / 1e9, 1.247, 0.001);  // paper: 1.2
}
