// BertConfig: the fields of a HuggingFace BERT config.json that shape the network, validated.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tinybert::model {

// The HF model classes we read and write ("architectures" in config.json).
enum class Architecture {
  Base,
  SequenceClassification,
  TokenClassification,
  QuestionAnswering,
  MaskedLM,
  PreTraining
};

std::string architecture_name(Architecture a);  // "BertForSequenceClassification"
Architecture parse_architecture(const std::string& name, const std::string& source);
// Whether the head's width is num_labels: a "classifier" (one class per sequence or per token),
// or qa_outputs (start and end, HF's two default labels).
bool has_labels(Architecture a);
// Whether the encoder has a pooler (HF's add_pooling_layer): not for token or MLM heads.
bool has_pooler(Architecture a);

struct BertConfig {
  int64_t vocab_size = 30522;             // 30522 for bert-base-uncased
  int64_t hidden_size = 768;              // 312 for TinyBERT4
  int64_t num_hidden_layers = 12;         // 4 for TinyBERT4
  int64_t num_attention_heads = 12;       // must divide hidden_size
  int64_t intermediate_size = 3072;       // 1200 for TinyBERT4
  std::string hidden_act = "gelu";        // gelu | gelu_new | relu
  int64_t max_position_embeddings = 512;  // longest input
  int64_t type_vocab_size = 2;            // segment ids 0/1
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::optional<double> classifier_dropout;  // unset: hidden_dropout_prob
  double initializer_range = 0.02;           // std of the normal init
  int64_t pad_token_id = 0;
  std::vector<std::string> labels;  // id2label in id order; size = num_labels
  std::string problem_type;         // "", "regression", "single_label_classification"
  Architecture architecture = Architecture::Base;
  // The encoder's Linear layers are stored in int8 (model/packed_linear.h); config.json carries
  // "quantization_config" in compressed-tensors' "int-quantized" form, as HF marks such models.
  bool int8 = false;

  int64_t num_labels() const { return static_cast<int64_t>(labels.size()); }
  bool is_regression() const {  // a sequence head with one output
    return architecture != Architecture::TokenClassification &&
           (problem_type == "regression" || labels.size() == 1);
  }
  int64_t head_size() const { return hidden_size / num_attention_heads; }

  // Throws tinybert::Error naming `source` and the field on any unsupported value.
  void validate(const std::string& source = "config") const;

  static BertConfig from_json(const nlohmann::json& j, const std::string& source);
  static BertConfig load(const std::string& path);  // config.json
  nlohmann::ordered_json to_json() const;           // HF layout, "architectures" included
};

// The "quantization_config" an int8 model's config.json carries (compressed-tensors,
// "int-quantized": int8 weights per output channel, symmetric; 8-bit activations per tensor,
// asymmetric, quantized per call).
nlohmann::ordered_json int8_quantization_config();

// Multiply-add FLOPs (2 per MAC) of one forward pass for one sequence of `seq` tokens: per layer
// 8*T*H^2 (Q, K, V, output) + 4*T*H*I (feed-forward) + 4*T^2*H (scores, context), plus the
// pooler and classifier; embeddings, softmax and LayerNorm are not counted.
int64_t forward_flops(const BertConfig& c, int64_t seq);

// Parameters of a model of this config and architecture (the decoder tied to the embeddings).
int64_t parameter_count(const BertConfig& c);

// "[a, b, c]", the first `shown` labels only ("[a, b, ...]"): for messages.
std::string label_list(const std::vector<std::string>& labels, size_t shown = 10);

// Fails, naming `source`, when a label name appears twice.
void check_unique_labels(const std::vector<std::string>& labels, const std::string& source);

// Label names LABEL_0..LABEL_{n-1}, HF's defaults.
std::vector<std::string> default_labels(int64_t n);

}  // namespace tinybert::model
