// Fine-tuning: cross-entropy (or MSE) on the gold labels.
#include "tinybert/train/finetune.h"

#include <torch/torch.h>

#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/data/task_data.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/task/task.h"

namespace tinybert::train {

FinetuneObjective::FinetuneObjective(model::AutoBert model, const text::Tokenizer& tok,
                                     infer::DevSet dev, c10::Device device)
    : model_(std::move(model)), tok_(tok), dev_(std::move(dev)), device_(device) {}

NamedParams FinetuneObjective::trainable() {
  return named_params(*model_);
}

LossTerms FinetuneObjective::loss(const data::TrainBatch& batch) {
  if (!batch.labels.defined()) fail("the training data has rows without labels");
  const auto& task = task::task_of(model_->config);
  return {task.loss(task.logits(*model_, batch.inputs), batch.labels), {}};
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
  auto task = data::load_task(job.data, tok, job.max_length);
  auto loaded =
      model::load_model(job.model, {.architecture = task::task_for(task.spec.kind).architecture(),
                                    .labels = task.spec.labels,
                                    .device = device,
                                    .seed = job.train.seed});
  if (task.spec.kind == data::TaskKind::Regression)
    loaded.model->config.problem_type = "regression";
  std::cerr << loaded.report.summary();
  FinetuneObjective obj(loaded.model, tok, {&task.dev, task.spec, job.eval_batch_size}, device);
  data::DatasetSource source(task.train, source_batch_size(job.train), job.train.seed, device);
  return train(job.train, obj, source, settings);
}

}  // namespace tinybert::train
