// BERT pre-training on raw text (masked LM, optionally next-sentence prediction): the objective
// and the whole job, from a corpus to a run directory.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tinybert/data/dataset.h"
#include "tinybert/text/tokenizer.h"
#include "tinybert/train/trainer.h"

namespace tinybert::train {

// Masked-LM pre-training (BERT): 15% of the non-special tokens (or of the whole words) are
// predicted; of those 80% become [MASK], 10% a random token, 10% stay. The loss and the logits
// are computed at the selected positions only. A BertForPreTraining model fed sentence pairs
// with labels (CorpusSource's next_sentence) also learns next-sentence prediction; the two
// losses are summed, as in BERT.
class PretrainObjective : public Objective {
 public:
  PretrainObjective(model::AutoBert model, const text::Tokenizer& tok, double mask_prob,
                    bool whole_word, data::BatchSource* eval, c10::Device device);
  NamedParams trainable() override;
  void train_mode(bool on) override { model_->train(on); }
  LossTerms loss(const data::TrainBatch& batch) override;
  // MLM (and NSP) accuracy and loss on the held-out corpus, with a fixed masking.
  std::map<std::string, double> evaluate() override;
  std::string main_metric() const override { return eval_ ? "mlm_accuracy" : ""; }
  void save(const std::string& dir) override;
  void load_trainable(const std::string& dir) override;

  // Masks `ids` (B, T) in place; returns labels (B, T): the original id where selected, else -100.
  at::Tensor mask(at::Tensor& ids, const at::Tensor& attention_mask, at::Generator gen);

 private:
  struct Step {
    at::Tensor mlm_loss, nsp_loss;  // nsp_loss undefined without NSP labels
    int64_t mlm_correct = 0, mlm_count = 0, nsp_correct = 0;
  };
  // Losses and correct-prediction counts: MLM at the selected positions, NSP per sequence.
  Step forward(const model::BertInputs& in, const at::Tensor& mlm_labels,
               const at::Tensor& nsp_labels);
  model::AutoBert model_;
  const text::Tokenizer& tok_;
  double mask_prob_;
  bool whole_word_;
  data::BatchSource* eval_;
  c10::Device device_;
  at::Tensor special_, continuation_;  // (V) bool: [CLS]/[SEP]/[PAD]/..., "##" pieces
};

// What `tinybert pretrain` does.
struct PretrainJob {
  std::string corpus, eval_corpus;  // one sentence a line, blank line between documents
  std::string model_config, vocab;  // a new model (random init) ...
  std::string model;                // ... or one to continue
  double mask_prob = 0.15;
  bool whole_word = false, nsp = false;
  int64_t max_length = 128, eval_batch_size = 64;
  TrainConfig train;
};

// Builds or loads the model (BertForMaskedLM, or BertForPreTraining with NSP) and trains it.
TrainSummary pretrain(const PretrainJob& job, const nlohmann::json& settings);

}  // namespace tinybert::train
