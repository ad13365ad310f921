// Fine-tuning: cross-entropy (or MSE) on the gold labels.
#include "tinybert/train/finetune.h"

#include <torch/torch.h>

#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/data/task_data.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::train {

FinetuneObjective::FinetuneObjective(model::AutoBert model, const text::Tokenizer& tok,
                                     infer::DevSet dev, c10::Device device)
    : model_(std::move(model)), tok_(tok), dev_(std::move(dev)), device_(device) {}

NamedParams FinetuneObjective::trainable() {
  return named_params(*model_);
}

LossTerms FinetuneObjective::loss(const data::TrainBatch& batch) {
  if (!batch.labels.defined()) fail("the training data has rows without labels");
  auto logits = model_->classify_at_cls(batch.inputs).to(torch::kFloat);  // (B, C)
  LossTerms l;
  if (model_->config.is_regression())
    l.total = torch::mse_loss(logits.view(-1), batch.labels);
  else
    l.total = torch::cross_entropy_loss(logits, batch.labels);
  return l;
}

std::map<std::string, double> FinetuneObjective::evaluate() {
  if (!dev_.data) return {};
  return infer::evaluate(*model_, *dev_.data, dev_.spec, dev_.batch_size, device_);
}

void FinetuneObjective::save(const std::string& dir) {
  model::write_model_files(*model_, tok_, dir);
}
void FinetuneObjective::load_trainable(const std::string& dir) {
  reload_weights(*model_, dir);
}

TrainSummary finetune(const FinetuneJob& job, const nlohmann::json& settings) {
  const c10::Device device = job.train.device;
  auto tok = text::Tokenizer::from_dir(job.model);
  auto task = data::load_task(job.task, job.data_dir, tok, job.max_length, job.labels,
                              job.regression, job.train_file);
  auto loaded =
      model::load_model(job.model, {.architecture = model::Architecture::SequenceClassification,
                                    .labels = task.spec.labels,
                                    .device = device,
                                    .seed = job.train.seed});
  if (task.spec.regression) loaded.model->config.problem_type = "regression";
  std::cerr << loaded.report.summary();
  FinetuneObjective obj(loaded.model, tok, {&task.dev, task.spec, job.eval_batch_size}, device);
  data::DatasetSource source(task.train, source_batch_size(job.train), job.train.seed, device);
  return train(job.train, obj, source, settings);
}

}  // namespace tinybert::train
