// The training objectives: fine-tuning a classifier, the intermediate-layer distillation (general
// and task-specific) and the prediction-layer distillation with cached teacher logits.
#pragma once

#include <memory>

#include "tinybert/data/dataset.h"
#include "tinybert/distill/losses.h"
#include "tinybert/distill/trainer.h"
#include "tinybert/model/heads.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::distill {

// Task metrics of a classifier (or regressor) on a labeled dataset, in eval mode.
std::map<std::string, double> evaluate_model(model::AutoBertImpl& m, const data::Dataset& d,
                                             const data::TaskSpec& spec, int64_t batch_size,
                                             c10::Device device);

// Per-example predictions: class ids, or values for regression.
struct Predictions {
  std::vector<int64_t> ids;
  std::vector<double> values;
};
Predictions predict(model::AutoBertImpl& m, const data::Dataset& d, bool regression,
                    int64_t batch_size, c10::Device device);

// The dev set and how to score it.
struct DevSet {
  const data::Dataset* data = nullptr;  // null: no evaluation
  data::TaskSpec spec;
  int64_t batch_size = 64;
};

// Cross-entropy (or MSE for regression) on the gold labels: teacher fine-tuning.
class FinetuneObjective : public Objective {
 public:
  FinetuneObjective(model::AutoBert model, const text::Tokenizer& tok, DevSet dev,
                    c10::Device device);
  NamedParams trainable() override;
  void train_mode(bool on) override { model_->train(on); }
  LossTerms loss(const data::TrainBatch& batch) override;
  std::map<std::string, double> evaluate() override;
  std::string main_metric() const override { return dev_.data ? dev_.spec.main_metric : ""; }
  void save(const std::string& dir) override;
  void load_trainable(const std::string& dir) override;

 private:
  model::AutoBert model_;
  const text::Tokenizer& tok_;
  DevSet dev_;
  c10::Device device_;
};

// Attention + hidden-state losses against a frozen teacher through `fit`; general distillation
// (student a BertModel, corpus batches) and the task's intermediate step alike.
class IntermediateObjective : public Objective {
 public:
  IntermediateObjective(model::AutoBert teacher, model::AutoBert student, FitDense fit,
                        LayerMap map, LossConfig cfg, const text::Tokenizer& tok);
  NamedParams trainable() override;
  void train_mode(bool on) override { student_->train(on); }
  LossTerms loss(const data::TrainBatch& batch) override;
  void save(const std::string& dir) override;
  void load_trainable(const std::string& dir) override;

 private:
  model::AutoBert teacher_, student_;
  FitDense fit_;
  LayerMap map_;
  LossConfig cfg_;
  const text::Tokenizer& tok_;
};

// Soft cross-entropy against the teacher's logits, computed once per example up front (in index
// order and fixed batches, so a resumed run sees the very same values) and cached.
class PredictionObjective : public Objective {
 public:
  PredictionObjective(model::AutoBert teacher, model::AutoBert student, LossConfig cfg,
                      const data::Dataset& train, const text::Tokenizer& tok, DevSet dev,
                      c10::Device device, std::string fit_dense_from);
  NamedParams trainable() override;
  void train_mode(bool on) override { student_->train(on); }
  LossTerms loss(const data::TrainBatch& batch) override;
  std::map<std::string, double> evaluate() override;
  std::string main_metric() const override { return dev_.data ? dev_.spec.main_metric : ""; }
  void save(const std::string& dir) override;
  void load_trainable(const std::string& dir) override;
  int64_t teacher_forwards() const { return teacher_forwards_; }  // batches the teacher ran

 private:
  model::AutoBert teacher_, student_;
  LossConfig cfg_;
  at::Tensor cache_;  // (N, C) teacher logits, float, on the device
  const text::Tokenizer& tok_;
  DevSet dev_;
  c10::Device device_;
  std::string fit_dense_from_;  // carried along so later stages keep the projection
  int64_t teacher_forwards_ = 0;
};

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

// Named trainable parameters of a model (and a projection), prefixed to stay unique.
NamedParams named_params(torch::nn::Module& m, const std::string& prefix = "");
// Copies weights saved in dir/model.safetensors back into `m` (strict, as load_state).
void reload_weights(model::AutoBertImpl& m, const std::string& dir);

}  // namespace tinybert::distill
