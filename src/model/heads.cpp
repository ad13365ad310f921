// The HF heads on top of BertModel.
#include "tinybert/model/heads.h"

#include <torch/utils.h>
#include <unistd.h>

#include "tinybert/core/error.h"

namespace tinybert::model {

namespace nn = torch::nn;

BertPredictionHeadTransformImpl::BertPredictionHeadTransformImpl(const BertConfig& c)
    : dense(c.hidden_size, c.hidden_size),
      LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)),
      act(c.hidden_act) {
  register_module("dense", dense);
  register_module("LayerNorm", LayerNorm);
}

torch::Tensor BertPredictionHeadTransformImpl::forward(const torch::Tensor& hidden) {
  return layer_norm(LayerNorm,
                    activation(linear(hidden, dense->weight, dense->bias), act));  // (..., H)
}

BertLMPredictionHeadImpl::BertLMPredictionHeadImpl(const BertConfig& c,
                                                   torch::Tensor word_embeddings)
    : transform(c), decoder_weight(std::move(word_embeddings)) {
  register_module("transform", transform);
  bias = register_parameter("bias", torch::zeros({c.vocab_size}));
}

torch::Tensor BertLMPredictionHeadImpl::forward(const torch::Tensor& hidden) {
  return linear(transform(hidden), decoder_weight, bias);  // (..., V)
}

BertPreTrainingHeadsImpl::BertPreTrainingHeadsImpl(const BertConfig& c,
                                                   torch::Tensor word_embeddings, bool nsp)
    : predictions(c, std::move(word_embeddings)) {
  register_module("predictions", predictions);
  if (nsp) seq_relationship = register_module("seq_relationship", nn::Linear(c.hidden_size, 2));
}

AutoBertImpl::AutoBertImpl(const BertConfig& c) : config(c), bert(c, has_pooler(c.architecture)) {
  register_module("bert", bert);
  switch (c.architecture) {
    case Architecture::SequenceClassification:
    case Architecture::TokenClassification:
      dropout = register_module("dropout",
                                nn::Dropout(c.classifier_dropout.value_or(c.hidden_dropout_prob)));
      classifier = register_module("classifier", nn::Linear(c.hidden_size, c.num_labels()));
      break;
    case Architecture::QuestionAnswering:  // no dropout, as HF's
      qa_outputs = register_module("qa_outputs", nn::Linear(c.hidden_size, c.num_labels()));
      break;
    case Architecture::MaskedLM:
    case Architecture::PreTraining:
      cls =
          register_module("cls", BertPreTrainingHeads(c, bert->embeddings->word_embeddings->weight,
                                                      c.architecture == Architecture::PreTraining));
      break;
    case Architecture::Base:
      break;
  }
}

torch::Tensor AutoBertImpl::classify(const torch::Tensor& pooled) {
  return classifier(dropout(pooled));  // (B, num_labels)
}

torch::Tensor AutoBertImpl::classify_tokens(const torch::Tensor& hidden) {
  return classifier(dropout(hidden));  // (B, T, num_labels)
}

torch::Tensor AutoBertImpl::classify_at_cls(const BertInputs& in) {
  if (!classifier || !bert->pooler)
    fail("classify_at_cls needs a classification head and a pooler");
  const auto cls = torch::zeros({in.input_ids.size(0)}, in.input_ids.options());  // (B)
  auto h = bert->forward(in, {.last_layer_positions = cls}).last_hidden_state;    // (B, 1, H)
  return classify(bert->pooler(h));                                               // (B, C)
}

ModelOutput AutoBertImpl::forward(const BertInputs& in, const ForwardOptions& opt) {
  ModelOutput out;
  out.bert = bert(in, opt);
  const bool full = opt.max_layers < 0 || opt.max_layers >= config.num_hidden_layers;
  if (!full || !opt.heads) return out;
  if (config.architecture == Architecture::SequenceClassification)
    out.logits = classify(out.bert.pooled);
  else if (config.architecture == Architecture::TokenClassification)
    out.logits = classify_tokens(out.bert.last_hidden_state);
  else if (qa_outputs)
    out.logits = qa_outputs(out.bert.last_hidden_state);  // (B, T, 2): start, end
  if (cls) {
    out.mlm_logits = cls->predictions(out.bert.last_hidden_state);
    if (cls->seq_relationship) out.nsp_logits = cls->seq_relationship(out.bert.pooled);
  }
  return out;
}

AutoBert init_model(const BertConfig& c, uint64_t seed) {
  const int64_t n = parameter_count(c);
  const double gib = double(1 << 30), bytes = 4.0 * double(n);
  const double memory = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGE_SIZE));
  if (memory > 0 && bytes > memory)
    fail("a ", architecture_name(c.architecture), " of ", c.num_hidden_layers, " layers, hidden ",
         c.hidden_size, ", feed-forward ", c.intermediate_size, ", vocabulary ", c.vocab_size,
         " has ", n, " parameters: ", bytes / gib, " GiB in fp32, more than this machine's ",
         memory / gib, " GiB of memory (check the sizes in its config)");
  torch::manual_seed(seed);
  AutoBert m(c);
  init_weights(*m, c);
  return m;
}

}  // namespace tinybert::model
