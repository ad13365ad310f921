// Options shared by the training commands (finetune, distill, pretrain) and their resolution.
#pragma once

#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinybert/data/dataset.h"
#include "tinybert/distill/trainer.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::cli {

struct TrainOptions {
  distill::TrainConfig train;
  int64_t max_length = 128;
  int64_t eval_batch_size = 64;
  std::string autocast = "off";  // off | bf16 | fp16
  CommonOptions common;
};

// --epochs, --lr, --batch-size, --max-length, --seed, --warmup, --schedule, --weight-decay,
// --optimizer, --max-grad-norm, --grad-accum, --eval-every, --log-every, --stop-after, --resume,
// --output, plus the common options. `epochs`/`lr` defaults come from the caller's TrainOptions.
void add_train_options(CLI::App* cmd, TrainOptions& o, bool with_output = true);

// o.train with the device and the parsed --autocast filled in.
distill::TrainConfig train_config(const TrainOptions& o, c10::Device device);

// The training settings as JSON, for the printed and saved resolved configuration.
nlohmann::json train_json(const TrainOptions& o);

// Prints the resolved settings to stderr.
void print_settings(const std::string& command, const nlohmann::json& settings);

// A task's train and dev splits read and encoded (labels checked), for the training commands.
struct TaskData {
  data::TaskSpec spec;
  std::vector<data::Example> train_rows, dev_rows;
  data::Dataset train, dev;
};
// Reads DIR/train and DIR/dev (the task's dev split). `labels`, when given, fixes the label order
// (generic tasks); `train_file` replaces DIR/train (e.g. an augmented file).
TaskData load_task(const std::string& task, const std::string& dir, const text::Tokenizer& tok,
                   size_t max_length, const std::vector<std::string>& labels, bool regression,
                   const std::string& train_file = "");

// Fails unless `model_labels` name the task's labels in the task's order (a model saved with HF's
// default LABEL_i names and the same count is accepted, with a notice).
void check_labels(const std::vector<std::string>& model_labels, const data::TaskSpec& spec,
                  const std::string& who);

}  // namespace tinybert::cli
