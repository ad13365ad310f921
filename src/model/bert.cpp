// BertModel forward: embeddings, encoder layers, pooler; distillation outputs only on request.
#include "tinybert/model/bert.h"

#include <torch/nn/init.h>

#include <cmath>

#include "tinybert/core/error.h"

namespace tinybert::model {

namespace nn = torch::nn;

torch::Tensor activation(const torch::Tensor& x, const std::string& name) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_new") return torch::gelu(x, "tanh");
  if (name == "relu") return torch::relu(x);
  fail("unsupported activation \"", name, "\"");
}

torch::Tensor attention_mask_bias(const torch::Tensor& attention_mask, torch::ScalarType dtype) {
  // (B, T) -> (B, 1, 1, T): (1 - mask) * -10000, as BERT and TinyBERT compute it
  return (1.0 - attention_mask.to(dtype)).mul(-10000.0).unsqueeze(1).unsqueeze(2);
}

// ---- embeddings

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c)
    : word_embeddings(
          nn::EmbeddingOptions(c.vocab_size, c.hidden_size).padding_idx(c.pad_token_id)),
      position_embeddings(nn::EmbeddingOptions(c.max_position_embeddings, c.hidden_size)),
      token_type_embeddings(nn::EmbeddingOptions(c.type_vocab_size, c.hidden_size)),
      LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)),
      dropout(c.hidden_dropout_prob) {
  register_module("word_embeddings", word_embeddings);
  register_module("position_embeddings", position_embeddings);
  register_module("token_type_embeddings", token_type_embeddings);
  register_module("LayerNorm", LayerNorm);
  register_module("dropout", dropout);
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids,
                                          const torch::Tensor& token_type_ids) {
  const int64_t T = input_ids.size(1);
  auto positions = torch::arange(T, input_ids.options());                             // (T)
  auto x = word_embeddings(input_ids) + position_embeddings(positions).unsqueeze(0);  // (B, T, H)
  x = token_type_ids.defined() ? x + token_type_embeddings(token_type_ids)
                               : x + token_type_embeddings->weight[0];
  return dropout(LayerNorm(x));
}

// ---- attention

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& c)
    : query(c.hidden_size, c.hidden_size),
      key(c.hidden_size, c.hidden_size),
      value(c.hidden_size, c.hidden_size),
      dropout(c.attention_probs_dropout_prob),
      heads(c.num_attention_heads),
      head_size(c.head_size()) {
  register_module("query", query);
  register_module("key", key);
  register_module("value", value);
  register_module("dropout", dropout);
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                                             torch::Tensor* scores_out, torch::Tensor* probs_out) {
  const int64_t B = x.size(0), T = x.size(1);
  auto split = [&](const torch::Tensor& t) {  // (B, T, H) -> (B, heads, T, d)
    return t.view({B, T, heads, head_size}).transpose(1, 2);
  };
  auto q = split(query(x));
  auto k = split(key(x));
  auto v = split(value(x));
  auto scores =
      torch::matmul(q, k.transpose(-1, -2)).div_(std::sqrt(double(head_size)));  // (B, heads, T, T)
  if (mask_bias.defined()) scores.add_(mask_bias);
  if (scores_out) *scores_out = scores;
  auto probs = torch::softmax(scores, -1);  // (B, heads, T, T)
  if (probs_out) *probs_out = probs;
  auto ctx = torch::matmul(dropout(probs), v);                    // (B, heads, T, d)
  return ctx.transpose(1, 2).reshape({B, T, heads * head_size});  // (B, T, H)
}

BertResidualOutputImpl::BertResidualOutputImpl(int64_t in, const BertConfig& c)
    : dense(in, c.hidden_size),
      LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)),
      dropout(c.hidden_dropout_prob) {
  register_module("dense", dense);
  register_module("LayerNorm", LayerNorm);
  register_module("dropout", dropout);
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& residual) {
  return LayerNorm(dropout(dense(x)) + residual);
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& c) : self(c), output(c.hidden_size, c) {
  register_module("self", self);
  register_module("output", output);
}

// ---- feed-forward and layer

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& c)
    : dense(c.hidden_size, c.intermediate_size), act(c.hidden_act) {
  register_module("dense", dense);
}

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& x) {
  return activation(dense(x), act);
}

BertLayerImpl::BertLayerImpl(const BertConfig& c)
    : attention(c), intermediate(c), output(c.intermediate_size, c) {
  register_module("attention", attention);
  register_module("intermediate", intermediate);
  register_module("output", output);
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                                     torch::Tensor* scores_out, torch::Tensor* probs_out) {
  auto a = attention->output(attention->self(x, mask_bias, scores_out, probs_out), x);  // (B, T, H)
  return output(intermediate(a), a);                                                    // (B, T, H)
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& c) {
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(BertLayer(c));
  register_module("layer", layer);
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& c) : dense(c.hidden_size, c.hidden_size) {
  register_module("dense", dense);
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& hidden) {
  return torch::tanh(dense(hidden.select(1, 0)));  // (B, H)
}

// ---- model

BertModelImpl::BertModelImpl(const BertConfig& c, bool add_pooling_layer)
    : config(c), embeddings(c), encoder(c) {
  register_module("embeddings", embeddings);
  register_module("encoder", encoder);
  if (add_pooling_layer) pooler = register_module("pooler", BertPooler(c));
}

BertOutput BertModelImpl::forward(const BertInputs& in, const ForwardOptions& opt) {
  if (!in.input_ids.defined() || in.input_ids.dim() != 2)
    fail("input_ids must be a (batch, length) tensor");
  const int64_t T = in.input_ids.size(1);
  if (T > config.max_position_embeddings)
    fail("input length ", T, " exceeds max_position_embeddings ", config.max_position_embeddings);
  BertOutput out;
  auto x = embeddings(in.input_ids, in.token_type_ids);  // (B, T, H)
  torch::Tensor mask_bias;
  if (in.attention_mask.defined())
    mask_bias = attention_mask_bias(in.attention_mask, x.scalar_type());
  if (opt.hidden_states) out.hidden_states.push_back(x);
  const int64_t layers = opt.max_layers < 0 ? config.num_hidden_layers
                                            : std::min(opt.max_layers, config.num_hidden_layers);
  for (int64_t l = 0; l < layers; ++l) {
    torch::Tensor scores, probs;
    x = encoder->layer[l]->as<BertLayerImpl>()->forward(x, mask_bias,
                                                        opt.attention_scores ? &scores : nullptr,
                                                        opt.attention_probs ? &probs : nullptr);
    if (opt.hidden_states) out.hidden_states.push_back(x);
    if (opt.attention_scores) out.attention_scores.push_back(scores);
    if (opt.attention_probs) out.attention_probs.push_back(probs);
  }
  out.last_hidden_state = x;
  if (pooler && opt.heads && layers == config.num_hidden_layers) out.pooled = pooler(x);
  return out;
}

// ---- initialisation

void init_weights(torch::nn::Module& root, const BertConfig& c) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules()) {
    if (auto* lin = m->as<nn::Linear>()) {
      lin->weight.normal_(0, c.initializer_range);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* emb = m->as<nn::Embedding>()) {
      emb->weight.normal_(0, c.initializer_range);
    } else if (auto* ln = m->as<nn::LayerNorm>()) {
      ln->weight.fill_(1);
      ln->bias.zero_();
    }
  }
  for (auto& m : root.modules())
    if (auto* e = m->as<BertEmbeddingsImpl>()) e->word_embeddings->weight[c.pad_token_id].zero_();
}

}  // namespace tinybert::model
