// The BERT encoder in LibTorch, module for module as HF's BertModel, so that checkpoint keys
// ("encoder.layer.0.attention.self.query.weight") are our parameter names.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "tinybert/model/config.h"

namespace tinybert::model {

// Model inputs, each int64 (B, T); token_type_ids and attention_mask may be undefined
// (zeros and ones respectively).
struct BertInputs {
  torch::Tensor input_ids, token_type_ids, attention_mask;
};

// What a forward pass returns besides the last hidden state; nothing unrequested is kept.
struct ForwardOptions {
  bool hidden_states = false;     // embedding output, then every layer's output
  bool attention_scores = false;  // pre-softmax QK^T/sqrt(d) + (1-mask)*-10000, per layer
  bool attention_probs = false;   // softmax of the above, per layer
  int64_t max_layers = -1;        // run only the first N layers (-1: all); for distillation
  bool heads = true;              // run the pooler and task heads (off: encoder outputs only)
};

struct BertOutput {
  torch::Tensor last_hidden_state;              // (B, T, H)
  torch::Tensor pooled;                         // (B, H), when the model has a pooler
  std::vector<torch::Tensor> hidden_states;     // L+1 x (B, T, H)
  std::vector<torch::Tensor> attention_scores;  // L x (B, heads, T, T)
  std::vector<torch::Tensor> attention_probs;   // L x (B, heads, T, T)
};

// Applies the configured activation (gelu = erf form, gelu_new = tanh form, relu).
torch::Tensor activation(const torch::Tensor& x, const std::string& name);

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& input_ids,
                        const torch::Tensor& token_type_ids);  // (B, T, H)
  torch::nn::Embedding word_embeddings, position_embeddings, token_type_embeddings;
  torch::nn::LayerNorm LayerNorm;
  torch::nn::Dropout dropout;
};
TORCH_MODULE(BertEmbeddings);

class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& c);
  // x (B, T, H), mask_bias (B, 1, 1, T) additive; fills scores/probs when asked.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                        torch::Tensor* scores_out, torch::Tensor* probs_out);
  torch::nn::Linear query, key, value;
  torch::nn::Dropout dropout;
  int64_t heads, head_size;
};
TORCH_MODULE(BertSelfAttention);

// dense -> dropout -> LayerNorm(x + residual): HF's BertSelfOutput and BertOutput.
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(int64_t in, const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);
  torch::nn::Linear dense;
  torch::nn::LayerNorm LayerNorm;
  torch::nn::Dropout dropout;
};
TORCH_MODULE(BertResidualOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& c);
  BertSelfAttention self;
  BertResidualOutput output;
};
TORCH_MODULE(BertAttention);

class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, I)
  torch::nn::Linear dense;
  std::string act;
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                        torch::Tensor* scores_out, torch::Tensor* probs_out);
  BertAttention attention;
  BertIntermediate intermediate;
  BertResidualOutput output;
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& c);
  torch::nn::ModuleList layer;  // of BertLayer
};
TORCH_MODULE(BertEncoder);

class BertPoolerImpl : public torch::nn::Module {
 public:
  explicit BertPoolerImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& hidden);  // (B, T, H) -> (B, H) from [CLS]
  torch::nn::Linear dense;
};
TORCH_MODULE(BertPooler);

class BertModelImpl : public torch::nn::Module {
 public:
  BertModelImpl(const BertConfig& c, bool add_pooling_layer);
  BertOutput forward(const BertInputs& in, const ForwardOptions& opt = {});
  BertConfig config;
  BertEmbeddings embeddings;
  BertEncoder encoder;
  BertPooler pooler{nullptr};
};
TORCH_MODULE(BertModel);

// HF's initialisation: normal(0, initializer_range) for Linear and Embedding weights (pad row 0),
// zero biases, LayerNorm weight 1 and bias 0.
void init_weights(torch::nn::Module& m, const BertConfig& c);

// The additive attention mask (B, 1, 1, T): 0 where attended, -10000 where padded.
torch::Tensor attention_mask_bias(const torch::Tensor& attention_mask, torch::ScalarType dtype);

}  // namespace tinybert::model
