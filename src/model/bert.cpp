// BertModel forward: embeddings, encoder layers, pooler; distillation outputs only on request.
#include "tinybert/model/bert.h"

#include <ATen/Context.h>
#include <torch/nn/init.h>

#include <cmath>

#include "row_kernels.h"
#include "tinybert/core/error.h"
#include "tinybert/model/dnnl_attention.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::model {

namespace nn = torch::nn;

namespace {

// Whether our row kernels take x: inference on an fp32 CPU tensor, with AVX-512.
bool row_kernels_serve(const torch::Tensor& x) {
  return !torch::GradMode::is_enabled() && row_kernels::available() && x.is_cpu() &&
         x.scalar_type() == torch::kFloat;
}

// oneDNN's fp32 inner product pays off with AVX-512 when OpenBLAS is held to AVX2 kernels (see
// bert.h); on the AVX2-only VM OpenBLAS ran TinyBERT4's products faster at every row count tried
// (32 x 312 -> 936: 0.23 against 0.44 ms; 4096 rows: 16 against 26 ms), and oneDNN's conversions
// cost most at batch 1. OpenBLAS with its own AVX-512 kernels (SkylakeX) beat oneDNN on the
// AVX-512 VM: `tinybert bench` of TinyBERT4 (2 rounds), seq 32 batch 1 1.7-2.3 against 2.9-3.0 ms,
// seq 128 batch 1 4.3-5.4 against 6.7-8.4 ms, batch 32 110-116 against 132-144 ms.
bool onednn_linear() {
  static const bool use = __builtin_cpu_supports("avx512f") && !runtime::openblas_avx512();
  return use && at::hasMKLDNN() && at::globalContext().userEnabledMkldnn();
}

// Whether layer_norm() takes our kernel: inference on fp32 CPU tensors with AVX-512, the affine
// LayerNorm over the last dimension.
bool fast_layer_norm(const torch::nn::LayerNorm& ln, const torch::Tensor& x) {
  const auto& shape = ln->options.normalized_shape();
  return row_kernels_serve(x) && shape.size() == 1 && x.dim() >= 1 && x.size(-1) == shape[0] &&
         shape[0] > 0 && ln->options.elementwise_affine() && ln->weight.is_cpu() &&
         ln->bias.is_cpu() && ln->weight.scalar_type() == torch::kFloat &&
         ln->bias.scalar_type() == torch::kFloat && ln->weight.is_contiguous() &&
         ln->bias.is_contiguous() && ln->weight.numel() == shape[0] && ln->bias.numel() == shape[0];
}

}  // namespace

torch::Tensor activation(const torch::Tensor& x, const std::string& name) {
  if (name == "gelu" && row_kernels_serve(x)) {
    // 512 x 1200 on one core (bench_kernels): LibTorch's 226 us, this 137 us
    auto in = x.contiguous(), y = torch::empty_like(in);
    row_kernels::gelu(in.data_ptr<float>(), in.numel(), y.data_ptr<float>());
    return y;
  }
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_new") return torch::gelu(x, "tanh");
  if (name == "relu") return torch::relu(x);
  fail("unsupported activation \"", name, "\"");
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  if (torch::GradMode::is_enabled() || !x.is_cpu() || x.scalar_type() != torch::kFloat ||
      !onednn_linear())
    return torch::linear(x, weight, bias);
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  auto x2 = x.reshape({-1, x.size(-1)}).contiguous();  // (N, in)
  const c10::optional<torch::Tensor> b =
      bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt;
  return at::mkldnn_linear(x2.to_mkldnn(), weight.contiguous(), b).to_dense().view(sizes);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& lin,
                     const PackedLinear& packed) {
  if (packed.plain() && packed.serves(x)) return packed.forward(x);
  return linear(x, lin->weight, lin->bias);
}

torch::Tensor layer_norm(torch::nn::LayerNorm& ln, const torch::Tensor& x) {
  const auto dtype = x.scalar_type();
  if (fast_layer_norm(ln, x)) {
    // 512 rows of 312 on one core (bench_kernels): LibTorch's 84-89 us, this 24-26 us
    auto in = x.contiguous(), y = torch::empty_like(in);
    const int64_t n = ln->options.normalized_shape().back();
    row_kernels::layer_norm(in.data_ptr<float>(), in.numel() / n, n, ln->weight.data_ptr<float>(),
                            ln->bias.data_ptr<float>(), static_cast<float>(ln->options.eps()),
                            y.data_ptr<float>());
    return y;
  }
  if (dtype != torch::kBFloat16 && dtype != torch::kHalf) return ln(x);
  const auto& o = ln->options;
  return torch::layer_norm(x.to(torch::kFloat), o.normalized_shape(), ln->weight.to(torch::kFloat),
                           ln->bias.to(torch::kFloat), o.eps())
      .to(dtype);
}

torch::Tensor dropout_at(torch::nn::Dropout& dropout, const torch::Tensor& x, at::IntArrayRef full,
                         int64_t dim, const torch::Tensor& positions) {
  const double p = dropout->options.p();
  if (!positions.defined() || !dropout->is_training() || p == 0) return dropout(x);
  // as at::dropout draws it for the full tensor: bernoulli(1 - p) / (1 - p), in memory order
  auto noise = torch::empty(full, x.options()).bernoulli_(1 - p).div_(1 - p);
  std::vector<int64_t> index_shape(full.size(), 1);
  index_shape[0] = full[0];
  auto sizes = full.vec();
  sizes[dim] = 1;
  auto index = positions.view(index_shape).expand(sizes);  // the position of each row along dim
  return x * noise.gather(dim, index);
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
  return dropout(layer_norm(LayerNorm, x));
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

void BertSelfAttentionImpl::fuse_qkv(bool pack) {
  torch::NoGradGuard no_grad;
  qkv_weight_ = torch::cat({query->weight, key->weight, value->weight});  // (3H, H)
  qkv_bias_ = torch::cat({query->bias, key->bias, value->bias});          // (3H)
  const int64_t H = query->weight.size(0);
  int64_t i = 0;
  for (auto* lin : {&query, &key, &value}) {
    (*lin)->weight.set_data(qkv_weight_.narrow(0, i * H, H));
    (*lin)->bias.set_data(qkv_bias_.narrow(0, i * H, H));
    ++i;
  }
  if (query_packed.int8())
    qkv_packed_ = concat_int8({&query_packed, &key_packed, &value_packed});
  else if (pack) {
    qkv_packed_ = pack_fp32(qkv_weight_, qkv_bias_);
    // the parameters are views of the fused tensors with their own version counters
    qkv_packed_.track({query->weight, query->bias, key->weight, key->bias, value->weight,
                       value->bias, qkv_weight_, qkv_bias_});
  }
}

bool BertSelfAttentionImpl::fused() const {
  // Still sharing storage: a later .to() or set_data() gives the parameters new storage.
  return qkv_weight_.defined() && query->weight.data_ptr() == qkv_weight_.data_ptr() &&
         query->bias.data_ptr() == qkv_bias_.data_ptr();
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                                             torch::Tensor* scores_out, torch::Tensor* probs_out,
                                             const torch::Tensor& positions,
                                             const torch::Tensor& queries) {
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t Tq = queries.defined() ? 1 : T;
  torch::Tensor q, k, v;  // (B, heads, Tq|T, d)
  if (!queries.defined() && !torch::GradMode::is_enabled() && fused()) {
    auto qkv = (qkv_packed_.serves(x) ? qkv_packed_.forward(x)
                                      : linear(x, qkv_weight_, qkv_bias_))  // (B, T, 3H)
                   .view({B, T, 3, heads, head_size})
                   .permute({2, 0, 3, 1, 4});  // (3, B, heads, T, d)
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    auto project = [&](const torch::nn::Linear& lin, const PackedLinear& packed,
                       const torch::Tensor& in) {  // -> (B, heads, n, d)
      return linear(in, lin, packed).view({B, in.size(1), heads, head_size}).transpose(1, 2);
    };
    q = project(query, query_packed, queries.defined() ? queries : x);
    k = project(key, key_packed, x), v = project(value, value_packed, x);
  }
  const double scale = 1.0 / std::sqrt(double(head_size));
  if (!scores_out && !probs_out && !queries.defined() && !dropout->is_training() &&
      !torch::GradMode::is_enabled() && DnnlAttention::serves(q, mask_bias))
    return DnnlAttention::forward(q, k, v, mask_bias, scale);  // (B, T, H)
  torch::Tensor scores;                                        // (B, heads, Tq, T)
  if (mask_bias.defined()) {
    // one pass: mask + scale * q k^T
    auto bias = mask_bias.expand({B, heads, 1, T}).reshape({B * heads, 1, T});
    scores = torch::baddbmm(bias, q.reshape({B * heads, Tq, head_size}),
                            k.reshape({B * heads, T, head_size}).transpose(1, 2), 1.0, scale)
                 .view({B, heads, Tq, T});
  } else {
    scores = torch::matmul(q, k.transpose(-1, -2)).mul_(scale);
  }
  if (scores_out) *scores_out = scores;
  auto probs = torch::softmax(scores, -1);  // (B, heads, Tq, T)
  if (probs_out) *probs_out = probs;
  auto ctx = torch::matmul(dropout_at(dropout, probs, {B, heads, T, T}, 2, positions),
                           v);                                     // (B, heads, Tq, d)
  return ctx.transpose(1, 2).reshape({B, Tq, heads * head_size});  // (B, Tq, H)
}

BertResidualOutputImpl::BertResidualOutputImpl(int64_t in, const BertConfig& c)
    : dense(in, c.hidden_size),
      LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)),
      dropout(c.hidden_dropout_prob) {
  register_module("dense", dense);
  register_module("LayerNorm", LayerNorm);
  register_module("dropout", dropout);
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x, const torch::Tensor& residual,
                                              const torch::Tensor& positions, int64_t T) {
  if (dense_packed.epilogue.residual && dense_packed.serves(x) && !is_training())
    return layer_norm(LayerNorm, dense_packed.forward(x, residual));  // residual added inside
  auto h = linear(x, dense, dense_packed);                            // (B, Tq, H)
  return layer_norm(LayerNorm,
                    dropout_at(dropout, h, {h.size(0), T, h.size(2)}, 1, positions) + residual);
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
  if (dense_packed.epilogue.activation == act && dense_packed.serves(x))
    return dense_packed.forward(x);  // activation applied inside
  return activation(linear(x, dense, dense_packed), act);
}

BertLayerImpl::BertLayerImpl(const BertConfig& c)
    : attention(c), intermediate(c), output(c.intermediate_size, c) {
  register_module("attention", attention);
  register_module("intermediate", intermediate);
  register_module("output", output);
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask_bias,
                                     torch::Tensor* scores_out, torch::Tensor* probs_out,
                                     const torch::Tensor& positions) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2);
  const auto rows =  // (B, 1, H) at the positions: the queries and the residual
      positions.defined() ? x.gather(1, positions.view({B, 1, 1}).expand({B, 1, H})) : x;
  auto a = attention->output(attention->self(x, mask_bias, scores_out, probs_out, positions,
                                             positions.defined() ? rows : torch::Tensor()),
                             rows, positions, T);   // (B, Tq, H)
  return output(intermediate(a), a, positions, T);  // (B, Tq, H)
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& c) {
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(BertLayer(c));
  register_module("layer", layer);
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& c) : dense(c.hidden_size, c.hidden_size) {
  register_module("dense", dense);
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& hidden) {
  return torch::tanh(linear(hidden.select(1, 0), dense->weight, dense->bias));  // (B, H)
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
    const bool last = l == layers - 1;
    x = encoder->layer[l]->as<BertLayerImpl>()->forward(
        x, mask_bias, opt.attention_scores ? &scores : nullptr,
        opt.attention_probs ? &probs : nullptr, last ? opt.last_layer_positions : torch::Tensor());
    if (opt.hidden_states) out.hidden_states.push_back(x);
    if (opt.attention_scores) out.attention_scores.push_back(scores);
    if (opt.attention_probs) out.attention_probs.push_back(probs);
  }
  out.last_hidden_state = x;
  if (pooler && opt.heads && layers == config.num_hidden_layers &&
      !opt.last_layer_positions.defined())
    out.pooled = pooler(x);
  return out;
}

void prepare_inference(BertModelImpl& m) {
  const auto& w = m.embeddings->word_embeddings->weight;
  const bool pack =
      !m.config.int8 && DnnlMatmul::fp32_pays() && w.is_cpu() && w.scalar_type() == torch::kFloat;
  for (const auto& layer : *m.encoder->layer)
    layer->as<BertLayerImpl>()->attention->self->fuse_qkv(pack);
  for (auto& slot : linear_slots(m)) {
    auto& p = *slot.packed;
    if (p.int8())
      p = with_epilogue(p, slot.epilogue);
    else if (pack)
      p = pack_fp32((*slot.linear)->weight, (*slot.linear)->bias, slot.epilogue);
  }
}

std::vector<LinearSlot> linear_slots(BertModelImpl& m) {
  std::vector<LinearSlot> out;
  for (size_t l = 0; l < m.encoder->layer->size(); ++l) {
    auto& layer = *m.encoder->layer[l]->as<BertLayerImpl>();
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto& self = *layer.attention->self;
    out.push_back({p + "attention.self.query", &self.query, &self.query_packed});
    out.push_back({p + "attention.self.key", &self.key, &self.key_packed});
    out.push_back({p + "attention.self.value", &self.value, &self.value_packed});
    out.push_back({p + "attention.output.dense",
                   &layer.attention->output->dense,
                   &layer.attention->output->dense_packed,
                   {.residual = true}});
    out.push_back({p + "intermediate.dense",
                   &layer.intermediate->dense,
                   &layer.intermediate->dense_packed,
                   {.activation = layer.intermediate->act}});
    out.push_back({p + "output.dense",
                   &layer.output->dense,
                   &layer.output->dense_packed,
                   {.residual = true}});
  }
  return out;
}

void quantize_encoder(BertModelImpl& m) {
  torch::NoGradGuard no_grad;
  for (auto& slot : linear_slots(m)) {
    auto& lin = **slot.linear;
    *slot.packed = quantize_linear(lin.weight, lin.bias);
    lin.weight.copy_(slot.packed->dequantized());
  }
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
