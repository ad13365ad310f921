// TinyBERT's objectives: the intermediate-layer distillation (general and task-specific) and the
// prediction-layer distillation with cached teacher logits.
#pragma once

#include <memory>

#include "tinybert/data/dataset.h"
#include "tinybert/distill/losses.h"
#include "tinybert/infer/evaluate.h"
#include "tinybert/model/heads.h"
#include "tinybert/task/task.h"
#include "tinybert/text/tokenizer.h"
#include "tinybert/train/trainer.h"

namespace tinybert::distill {

using train::NamedParams;
using train::Objective;

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

// The task's prediction-layer loss (soft cross-entropy per sequence or per labelled token, MSE for
// a regression) against the teacher's logits, computed once per example up front (in index order
// and fixed batches, so a resumed run sees the very same values) and cached.
class PredictionObjective : public Objective {
 public:
  PredictionObjective(model::AutoBert teacher, model::AutoBert student, LossConfig cfg,
                      const data::Dataset& train, const text::Tokenizer& tok, infer::DevSet dev,
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
  const task::Task* task_ = nullptr;
  at::Tensor cache_;              // (R, C) teacher logits of every example's rows, on the device
  std::vector<int64_t> offsets_;  // example i's rows: [offsets_[i], offsets_[i + 1])
  const text::Tokenizer& tok_;
  infer::DevSet dev_;
  c10::Device device_;
  std::string fit_dense_from_;  // carried along so later stages keep the projection
  int64_t teacher_forwards_ = 0;
};

}  // namespace tinybert::distill
