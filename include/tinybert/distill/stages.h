// TinyBERT's stage sequence: general distillation on a corpus, and task distillation (intermediate
// layers, then the prediction layer), each stage with the paper's defaults where the user gave
// none.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tinybert/data/task_data.h"
#include "tinybert/distill/losses.h"
#include "tinybert/train/trainer.h"

namespace tinybert::distill {

// What `tinybert distill` does.
struct DistillJob {
  std::string stage;           // general | intermediate | prediction | task (both task steps)
  std::string teacher;         // general: pre-trained BERT; task stages: fine-tuned classifier
  std::string student;         // task stages: the student to start from
  std::string student_config;  // general: config.json of the student to create
  std::string corpus;          // general: one sentence a line, blank line between documents
  data::TaskSource data;       // task stages
  std::string layer_map;       // "" : uniform
  std::string teacher_dtype = "fp32";
  LossConfig loss;
  int64_t max_length = 128, eval_batch_size = 64;
  int64_t intermediate_epochs = 10, prediction_epochs = 3;  // task stages
  double intermediate_lr = 5e-5, prediction_lr = 3e-5;
  train::TrainConfig train;  // as given; each step takes its defaults from resolve()
};

// Checks the job and fills in the stage's defaults for what the user did not give (`given`: the
// long option names on the command line, e.g. "epochs"). Options the stage would ignore are
// refused (e.g. --epochs with --stage task, which runs two steps with their own epochs).
void resolve(DistillJob& job, const std::set<std::string>& given);

// The training settings of one step ("general", "intermediate" or "prediction") of a resolved
// job: the step's epochs, learning rate, schedule, warmup and evaluation interval.
train::TrainConfig step_config(const DistillJob& job, const std::string& step,
                               const std::set<std::string>& given);

// Runs a resolved job into job.train.output; `settings` (the command's) is saved with each step's
// own values added. --stage task writes the intermediate step to OUTPUT/intermediate and the
// final student to OUTPUT/best, and resumes whichever step was running.
train::TrainSummary run(const DistillJob& job, const std::set<std::string>& given,
                        const nlohmann::json& settings);

}  // namespace tinybert::distill
