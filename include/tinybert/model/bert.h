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
#include "tinybert/model/packed_linear.h"

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
  // (B) int64: the last layer runs its queries and feed-forward only at this position of each
  // sequence (keys and values everywhere), so last_hidden_state is (B, 1, H); no pooler. For
  // masked-LM predictions at one position (augmentation) and classification at [CLS]. In
  // training on the CPU, its dropout keeps the full forward's masks at those positions (the same
  // random draws), so that it trains exactly as the full forward does (on a GPU at::dropout
  // draws with a fused kernel: the masks differ there, the method does not).
  torch::Tensor last_layer_positions;
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

// x (..., in) W^T + b -> (..., out), as nn::Linear. Without autograd, in fp32 on a CPU with
// AVX-512 it runs oneDNN's inner product: 1.8x OpenBLAS's speed at BERT shapes on the AVX-512
// machine here (360 vs 195 GFLOP/s); at::globalContext().setUserEnabledMkldnn(false) turns that
// off. Without AVX-512, OpenBLAS (faster there).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias);

// `lin` applied to x, through its packed form (int8, or fp32 for oneDNN) when it has one that
// serves x and autograd is off (inference).
torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& lin,
                     const PackedLinear& packed);

// LayerNorm computed in fp32 for bf16/fp16 inputs, returned in the input's dtype: as exact as
// autocast's, and on CPU 4x faster than LibTorch's bf16 kernel.
torch::Tensor layer_norm(torch::nn::LayerNorm& ln, const torch::Tensor& x);

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
  // x (B, T, H), mask_bias (B, 1, 1, T) additive; fills scores/probs when asked. With
  // `positions` (B) and `queries` (B, 1, H), x's rows at those positions, only those queries
  // attend: output (B, 1, H).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                        torch::Tensor* scores_out, torch::Tensor* probs_out,
                        const torch::Tensor& positions = {}, const torch::Tensor& queries = {});
  // Moves the query, key and value weights into one (3H, H) matrix they become views of, so
  // that inference runs one GEMM instead of three; parameters and checkpoints are unchanged.
  // With `pack`, the fused fp32 projection is also packed for oneDNN (an int8 model's always is).
  void fuse_qkv(bool pack = false);
  torch::nn::Linear query, key, value;
  PackedLinear query_packed, key_packed, value_packed;  // int8 model, or packed for inference
  torch::nn::Dropout dropout;
  int64_t heads, head_size;

 private:
  bool fused() const;
  torch::Tensor qkv_weight_, qkv_bias_;  // (3H, H), (3H) when fused
  PackedLinear qkv_packed_;              // (3H, H) when fused and packed
};
TORCH_MODULE(BertSelfAttention);

// dense -> dropout -> LayerNorm(x + residual): HF's BertSelfOutput and BertOutput.
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(int64_t in, const BertConfig& c);
  // x (B, Tq, in), residual (B, Tq, H); with `positions` (B), the rows are those positions of a
  // (B, T, H) tensor (for dropout_at).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual,
                        const torch::Tensor& positions = {}, int64_t T = 0);
  torch::nn::Linear dense;
  PackedLinear dense_packed;  // int8 model, or packed for inference
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
  PackedLinear dense_packed;  // int8 model, or packed for inference
  std::string act;
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& c);
  // (B, T, H) -> (B, T, H), or (B, 1, H) at the given positions (see BertSelfAttention).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                        torch::Tensor* scores_out, torch::Tensor* probs_out,
                        const torch::Tensor& positions = {});
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

// Readies a model that will only run inference, after it has its final device and dtype: fuses
// every layer's query/key/value projections (see BertSelfAttentionImpl::fuse_qkv) and, where
// DnnlMatmul::fp32_pays() on an fp32 CPU model, packs the encoder's Linears for oneDNN (a packed
// Linear falls back to LibTorch once its weights change).
void prepare_inference(BertModelImpl& m);

// An encoder Linear that an int8 model holds in int8 (and an fp32 one may pack for inference), by
// its HF module name ("encoder.layer.0.attention.self.query"): the pooler and the heads stay fp32.
// `epilogue`: what the module applies after it that a packed form fuses (the intermediate
// activation; the residual add before each LayerNorm).
struct LinearSlot {
  std::string name;
  torch::nn::Linear* linear;
  PackedLinear* packed;
  DnnlEpilogue epilogue;
};
std::vector<LinearSlot> linear_slots(BertModelImpl& m);

// Quantizes every int8 slot from its fp32 weight, which then holds the dequantized values (what
// the int8 layer multiplies by). The caller marks the configs (config.int8).
void quantize_encoder(BertModelImpl& m);

// HF's initialisation: normal(0, initializer_range) for Linear and Embedding weights (pad row 0),
// zero biases, LayerNorm weight 1 and bias 0.
void init_weights(torch::nn::Module& m, const BertConfig& c);

// Dropout of x, which holds only the rows at `positions` (B) along `dim` of a tensor of shape
// `full`: the full tensor's mask is drawn and those rows are kept. Without positions, plain
// dropout.
torch::Tensor dropout_at(torch::nn::Dropout& dropout, const torch::Tensor& x, at::IntArrayRef full,
                         int64_t dim, const torch::Tensor& positions);

// The additive attention mask (B, 1, 1, T): 0 where attended, -10000 where padded.
torch::Tensor attention_mask_bias(const torch::Tensor& attention_mask, torch::ScalarType dtype);

}  // namespace tinybert::model
