// config.json reading, validation and writing.
#include "tinybert/model/config.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <unordered_map>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"

namespace tinybert::model {

namespace {

constexpr int64_t kMaxLabels = int64_t{1} << 20;

constexpr std::pair<Architecture, const char*> kArchitectures[] = {
    {Architecture::Base, "BertModel"},
    {Architecture::SequenceClassification, "BertForSequenceClassification"},
    {Architecture::TokenClassification, "BertForTokenClassification"},
    {Architecture::QuestionAnswering, "BertForQuestionAnswering"},
    {Architecture::MaskedLM, "BertForMaskedLM"},
    {Architecture::PreTraining, "BertForPreTraining"}};

template <typename T>
void read(const nlohmann::json& j, const char* key, T& out, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return;
  const auto& v = j[key];
  // nlohmann would turn 32.5 into 32 and 1e30 into anything: an integer field takes integers only.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!v.is_number_integer())
      fail(source, ": field \"", key, "\" must be an integer, found ", v.dump());
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{1} << 62)
      fail(source, ": field \"", key, "\" is out of range: ", v.dump());
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) fail(source, ": field \"", key, "\" must be a number, found ", v.dump());
  }
  try {
    out = v.get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(source, ": field \"", key, "\" has the wrong type: ", v.dump());
  }
}

}  // namespace

std::string architecture_name(Architecture a) {
  for (auto [arch, name] : kArchitectures)
    if (arch == a) return name;
  return "BertModel";
}

Architecture parse_architecture(const std::string& name, const std::string& source) {
  for (auto [arch, n] : kArchitectures)
    if (name == n) return arch;
  fail(source, ": unsupported architecture \"", name,
       "\" (supported: BertModel, BertForSequenceClassification, BertForTokenClassification, "
       "BertForMaskedLM, BertForPreTraining)");
}

bool has_labels(Architecture a) {
  return a == Architecture::SequenceClassification || a == Architecture::TokenClassification ||
         a == Architecture::QuestionAnswering;
}

bool has_pooler(Architecture a) {
  return a == Architecture::Base || a == Architecture::SequenceClassification ||
         a == Architecture::PreTraining;
}

int64_t forward_flops(const BertConfig& c, int64_t seq) {
  const int64_t T = seq, H = c.hidden_size, I = c.intermediate_size;
  int64_t f = c.num_hidden_layers * (8 * T * H * H + 4 * T * H * I + 4 * T * T * H);
  if (c.architecture == Architecture::SequenceClassification)
    f += 2 * H * H + 2 * H * c.num_labels();
  if (c.architecture == Architecture::TokenClassification ||
      c.architecture == Architecture::QuestionAnswering)
    f += 2 * T * H * c.num_labels();
  return f;
}

int64_t parameter_count(const BertConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t dense = H * H + H, layer_norm = 2 * H;
  int64_t n = (V + c.max_position_embeddings + c.type_vocab_size) * H + layer_norm;
  n += c.num_hidden_layers * (4 * dense + (H * I + I) + (I * H + H) + 2 * layer_norm);
  switch (c.architecture) {
    case Architecture::Base:
      return n + dense;  // pooler
    case Architecture::SequenceClassification:
      return n + dense + H * c.num_labels() + c.num_labels();
    case Architecture::TokenClassification:  // no pooler
    case Architecture::QuestionAnswering:
      return n + H * c.num_labels() + c.num_labels();
    case Architecture::MaskedLM:  // no pooler; the decoder is the word embeddings, plus a bias
      return n + dense + layer_norm + V;
    case Architecture::PreTraining:
      return n + dense + dense + layer_norm + V + 2 * H + 2;
  }
  return n;
}

std::string label_list(const std::vector<std::string>& labels, size_t shown) {
  std::string s;
  for (size_t i = 0; i < std::min(shown, labels.size()); ++i) s += (i ? ", " : "") + labels[i];
  return "[" + s + (labels.size() > shown ? ", ...]" : "]");
}

void check_unique_labels(const std::vector<std::string>& labels, const std::string& source) {
  std::unordered_map<std::string, size_t> ids;
  for (size_t i = 0; i < labels.size(); ++i)
    if (auto [it, fresh] = ids.emplace(labels[i], i); !fresh)
      fail(source, ": label \"", labels[i], "\" appears twice (ids ", it->second, " and ", i,
           "); each label needs its own name");
}

std::vector<std::string> default_labels(int64_t n) {
  std::vector<std::string> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back("LABEL_" + std::to_string(i));
  return labels;
}

void BertConfig::validate(const std::string& source) const {
  // Bounds well above any BERT, so that a typo fails here rather than in an allocation.
  auto size = [&](const char* name, int64_t v, int64_t max) {
    if (v <= 0) fail(source, ": ", name, " must be positive, found ", v);
    if (v > max) fail(source, ": ", name, " ", v, " is larger than tinybert supports (", max, ")");
  };
  size("vocab_size", vocab_size, int64_t{1} << 24);
  size("hidden_size", hidden_size, int64_t{1} << 16);
  size("num_hidden_layers", num_hidden_layers, 1024);
  size("num_attention_heads", num_attention_heads, int64_t{1} << 16);
  size("intermediate_size", intermediate_size, int64_t{1} << 18);
  size("max_position_embeddings", max_position_embeddings, int64_t{1} << 20);
  size("type_vocab_size", type_vocab_size, int64_t{1} << 16);
  if (num_labels() > kMaxLabels)
    fail(source, ": ", num_labels(), " labels is more than tinybert supports (", kMaxLabels, ")");
  check_unique_labels(labels, source);
  if (problem_type == "regression" && labels.size() > 1)
    fail(source, ": problem_type regression needs one output, found ", labels.size(), " labels");
  if (hidden_size % num_attention_heads != 0)
    fail(source, ": hidden_size ", hidden_size, " is not divisible by num_attention_heads ",
         num_attention_heads, " (each head needs hidden_size / heads dimensions)");
  if (hidden_act != "gelu" && hidden_act != "gelu_new" && hidden_act != "relu")
    fail(source, ": hidden_act \"", hidden_act, "\" is not supported (use gelu, gelu_new or relu)");
  for (double p :
       {hidden_dropout_prob, attention_probs_dropout_prob, classifier_dropout.value_or(0)})
    if (!(p >= 0 && p < 1)) fail(source, ": dropout probabilities must be in [0, 1), found ", p);
  if (!(layer_norm_eps > 0 && layer_norm_eps < 1))
    fail(source, ": layer_norm_eps must be in (0, 1), found ", layer_norm_eps);
  if (!(initializer_range >= 0 && initializer_range < 10))
    fail(source, ": initializer_range must be in [0, 10), found ", initializer_range);
  if (pad_token_id < 0 || pad_token_id >= vocab_size)
    fail(source, ": pad_token_id ", pad_token_id, " is outside the vocabulary of ", vocab_size);
  if (!problem_type.empty() && problem_type != "regression" &&
      problem_type != "single_label_classification")
    fail(source, ": problem_type \"", problem_type,
         "\" is not supported (regression or single_label_classification)");
  if (has_labels(architecture) && labels.empty())
    fail(source, ": a ", architecture_name(architecture), " needs at least one label");
  if (architecture == Architecture::TokenClassification && problem_type == "regression")
    fail(source, ": a BertForTokenClassification cannot be a regression");
  if (architecture == Architecture::QuestionAnswering &&
      (labels.size() != 2 || problem_type == "regression"))
    fail(source, ": a BertForQuestionAnswering has two outputs (start and end), found num_labels ",
         labels.size());
}

BertConfig BertConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source, ": expected a JSON object");
  BertConfig c;
  std::string model_type = "bert";
  read(j, "model_type", model_type, source);
  if (model_type != "bert")
    fail(source, ": model_type \"", model_type, "\" is not supported (only \"bert\")");
  std::string position_type = "absolute";
  read(j, "position_embedding_type", position_type, source);
  if (position_type != "absolute")
    fail(source, ": position_embedding_type \"", position_type,
         "\" is not supported (only absolute)");
  bool flag = false;
  read(j, "is_decoder", flag, source);
  if (flag) fail(source, ": is_decoder=true is not supported (BERT encoders only)");
  read(j, "add_cross_attention", flag, source);
  if (flag) fail(source, ": add_cross_attention=true is not supported");

  read(j, "vocab_size", c.vocab_size, source);
  read(j, "hidden_size", c.hidden_size, source);
  read(j, "num_hidden_layers", c.num_hidden_layers, source);
  read(j, "num_attention_heads", c.num_attention_heads, source);
  read(j, "intermediate_size", c.intermediate_size, source);
  read(j, "hidden_act", c.hidden_act, source);
  read(j, "max_position_embeddings", c.max_position_embeddings, source);
  read(j, "type_vocab_size", c.type_vocab_size, source);
  read(j, "layer_norm_eps", c.layer_norm_eps, source);
  read(j, "hidden_dropout_prob", c.hidden_dropout_prob, source);
  read(j, "attention_probs_dropout_prob", c.attention_probs_dropout_prob, source);
  if (j.contains("classifier_dropout") && !j["classifier_dropout"].is_null()) {
    double p = 0;
    read(j, "classifier_dropout", p, source);
    c.classifier_dropout = p;
  }
  read(j, "initializer_range", c.initializer_range, source);
  read(j, "pad_token_id", c.pad_token_id, source);
  read(j, "problem_type", c.problem_type, source);

  if (j.contains("id2label") && j["id2label"].is_object() && !j["id2label"].empty()) {
    const auto& m = j["id2label"];
    c.labels.resize(m.size());
    for (auto it = m.begin(); it != m.end(); ++it) {
      size_t id = 0;
      try {
        size_t used = 0;
        id = std::stoul(it.key(), &used);
        if (used != it.key().size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        fail(source, ": id2label key \"", it.key(), "\" is not a label id");
      }
      if (id >= m.size() || !it.value().is_string())
        fail(source, ": id2label must map ids 0..", m.size() - 1, " to names, found \"", it.key(),
             "\": ", it.value().dump());
      c.labels[id] = it.value().get<std::string>();
    }
  }
  if (j.contains("num_labels")) {
    int64_t n = 0;
    read(j, "num_labels", n, source);
    if (n < 1 || n > kMaxLabels)
      fail(source, ": num_labels must be in 1..", kMaxLabels, ", found ", n);
    if (c.labels.empty())
      c.labels = default_labels(n);
    else if (n != c.num_labels())
      fail(source, ": num_labels ", n, " disagrees with id2label's ", c.num_labels(), " entries");
  }
  if (j.contains("label2id") && j["label2id"].is_object()) {
    for (auto it = j["label2id"].begin(); it != j["label2id"].end(); ++it) {
      auto pos = std::find(c.labels.begin(), c.labels.end(), it.key());
      if (!it.value().is_number_integer() || pos == c.labels.end() ||
          pos - c.labels.begin() != it.value().get<int64_t>())
        fail(source, ": label2id entry \"", it.key(), "\": ", it.value().dump(),
             " disagrees with id2label");
    }
  }

  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty()) {
    if (!j["architectures"][0].is_string()) fail(source, ": architectures must hold strings");
    c.architecture = parse_architecture(j["architectures"][0].get<std::string>(), source);
  }
  if (has_labels(c.architecture) && c.labels.empty()) c.labels = default_labels(2);
  if (j.contains("quantization_config") && !j["quantization_config"].is_null()) {
    if (nlohmann::json(int8_quantization_config()) != j["quantization_config"])
      fail(source, ": quantization_config ", j["quantization_config"].dump().substr(0, 300),
           " is not one tinybert runs; it loads only the int8 form `tinybert quantize` writes: ",
           int8_quantization_config().dump());
    c.int8 = true;
  }
  c.validate(source);
  return c;
}

BertConfig BertConfig::load(const std::string& path) {
  nlohmann::json j;
  try {
    j = parse_json(read_file(path));
  } catch (const JsonError& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  return from_json(j, path);
}

nlohmann::ordered_json BertConfig::to_json() const {
  nlohmann::ordered_json j;
  j["architectures"] = {architecture_name(architecture)};
  j["model_type"] = "bert";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["intermediate_size"] = intermediate_size;
  j["hidden_act"] = hidden_act;
  j["max_position_embeddings"] = max_position_embeddings;
  j["type_vocab_size"] = type_vocab_size;
  j["layer_norm_eps"] = layer_norm_eps;
  j["hidden_dropout_prob"] = hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  j["classifier_dropout"] = classifier_dropout ? nlohmann::ordered_json(*classifier_dropout)
                                               : nlohmann::ordered_json(nullptr);
  j["initializer_range"] = initializer_range;
  j["pad_token_id"] = pad_token_id;
  j["position_embedding_type"] = "absolute";
  if (!labels.empty()) {
    nlohmann::ordered_json id2label, label2id;
    for (size_t i = 0; i < labels.size(); ++i) {
      id2label[std::to_string(i)] = labels[i];
      label2id[labels[i]] = i;
    }
    j["id2label"] = id2label;
    j["label2id"] = label2id;
  }
  if (!problem_type.empty()) j["problem_type"] = problem_type;
  j["tie_word_embeddings"] = true;
  j["torch_dtype"] = "float32";
  if (int8) j["quantization_config"] = int8_quantization_config();
  return j;
}

nlohmann::ordered_json int8_quantization_config() {
  using J = nlohmann::ordered_json;
  J weights = {{"num_bits", 8},         {"type", "int"},    {"symmetric", true},
               {"strategy", "channel"}, {"dynamic", false}, {"group_size", nullptr}};
  J inputs = {{"num_bits", 8},        {"type", "int"},   {"symmetric", false},
              {"strategy", "tensor"}, {"dynamic", true}, {"group_size", nullptr}};
  const char* targets =
      "re:.*encoder\\.layer\\.\\d+\\.(attention\\.self\\.(query|key|value)|attention\\.output\\."
      "dense|intermediate\\.dense|output\\.dense)$";
  return {{"quant_method", "compressed-tensors"},
          {"format", "int-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups",
           {{"group_0",
             {{"targets", J::array({targets})},
              {"weights", weights},
              {"input_activations", inputs},
              {"output_activations", nullptr}}}}},
          {"ignore", J::array()},
          {"kv_cache_scheme", nullptr}};
}

}  // namespace tinybert::model
