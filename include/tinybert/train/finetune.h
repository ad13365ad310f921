// Fine-tuning a BERT on a task's gold labels (the teacher of task distillation): the objective and
// the whole job, from a model directory and a task directory to a run directory.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tinybert/data/task_data.h"
#include "tinybert/infer/evaluate.h"
#include "tinybert/text/tokenizer.h"
#include "tinybert/train/trainer.h"

namespace tinybert::train {

// The task's loss on the gold labels (cross-entropy per sequence or per labelled token, MSE for a
// regression): teacher fine-tuning.
class FinetuneObjective : public Objective {
 public:
  FinetuneObjective(model::AutoBert model, const text::Tokenizer& tok, infer::DevSet dev,
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
  infer::DevSet dev_;
  c10::Device device_;
};

// What `tinybert finetune` does.
struct FinetuneJob {
  std::string model;  // pre-trained BERT or a classifier with the task's labels
  data::TaskSource data;
  int64_t max_length = 128, eval_batch_size = 64;
  TrainConfig train;
};

// Loads the task and the model (a new classification head where it has none) and trains;
// `settings` is saved in the run directory.
TrainSummary finetune(const FinetuneJob& job, const nlohmann::json& settings);

}  // namespace tinybert::train
