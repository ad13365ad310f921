// BERT with the HF heads: sequence or token classification, question answering, masked LM,
// pre-training (MLM + NSP), or none.
// One module whose submodules are named as HF names them ("bert", "classifier", "cls"), so every
// HF architecture's checkpoint keys map onto it.
#pragma once

#include "tinybert/model/bert.h"

namespace tinybert::model {

// cls.predictions.transform: dense -> activation -> LayerNorm.
class BertPredictionHeadTransformImpl : public torch::nn::Module {
 public:
  explicit BertPredictionHeadTransformImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& hidden);  // (..., H)
  torch::nn::Linear dense;
  torch::nn::LayerNorm LayerNorm;
  std::string act;
};
TORCH_MODULE(BertPredictionHeadTransform);

// cls.predictions: transform, then a decoder tied to the word embeddings, plus a bias.
class BertLMPredictionHeadImpl : public torch::nn::Module {
 public:
  BertLMPredictionHeadImpl(const BertConfig& c, torch::Tensor word_embeddings);
  torch::Tensor forward(const torch::Tensor& hidden);  // (..., H) -> (..., V)
  BertPredictionHeadTransform transform;
  torch::Tensor bias;            // (V)
  torch::Tensor decoder_weight;  // (V, H), the word embedding matrix itself
};
TORCH_MODULE(BertLMPredictionHead);

// "cls": predictions, and seq_relationship for pre-training.
class BertPreTrainingHeadsImpl : public torch::nn::Module {
 public:
  BertPreTrainingHeadsImpl(const BertConfig& c, torch::Tensor word_embeddings, bool nsp);
  BertLMPredictionHead predictions;
  torch::nn::Linear seq_relationship{nullptr};  // (H) -> 2
};
TORCH_MODULE(BertPreTrainingHeads);

struct ModelOutput {
  BertOutput bert;
  torch::Tensor logits;      // (B, num_labels) for a sequence head, (B, T, num_labels) per token
                             // (question answering: (B, T, 2), start and end)
  torch::Tensor mlm_logits;  // (B, T, V)
  torch::Tensor nsp_logits;  // (B, 2)
};

class AutoBertImpl : public torch::nn::Module {
 public:
  explicit AutoBertImpl(const BertConfig& c);
  // Runs the encoder and the heads; heads are skipped when opt.max_layers cuts the encoder short.
  ModelOutput forward(const BertInputs& in, const ForwardOptions& opt = {});
  // Classification/regression logits from the pooled output (B, H).
  torch::Tensor classify(const torch::Tensor& pooled);
  // Token classification logits (B, T, num_labels) from the last hidden state (B, T, H).
  torch::Tensor classify_tokens(const torch::Tensor& hidden);
  // Classification/regression logits (B, num_labels) with the last layer run only at [CLS], the
  // one position the pooler reads: the same logits and gradients as forward(), less work.
  torch::Tensor classify_at_cls(const BertInputs& in);

  BertConfig config;
  BertModel bert;
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear classifier{nullptr};
  torch::nn::Linear qa_outputs{nullptr};  // (H) -> 2: start and end logits
  BertPreTrainingHeads cls{nullptr};
};
TORCH_MODULE(AutoBert);

// A new model of config `c`, initialised as HF does after torch::manual_seed(seed). Fails before
// allocating anything when its fp32 weights would not fit in this machine's memory.
AutoBert init_model(const BertConfig& c, uint64_t seed);

}  // namespace tinybert::model
