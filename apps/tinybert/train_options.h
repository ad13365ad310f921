// Options shared by the training commands (finetune, distill, pretrain) and their resolution.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "commands.h"
#include "tinybert/train/trainer.h"

namespace tinybert::cli {

struct TrainOptions {
  train::TrainConfig train;
  int64_t max_length = 128;
  int64_t eval_batch_size = 64;
  std::string autocast = "off";  // off | bf16 | fp16
  int dist_timeout = 60;         // seconds a collective waits for a lost rank
  int nproc_per_node = 1;        // >1: main() starts that many workers (runtime::launch_local)
  CommonOptions common;
};

// --epochs, --lr, --batch-size, --max-length, --seed, --warmup, --schedule, --weight-decay,
// --optimizer, --max-grad-norm, --grad-accum, --eval-every, --log-every, --stop-after, --resume,
// --output, plus the common options. `epochs`/`lr` defaults come from the caller's TrainOptions.
void add_train_options(CLI::App* cmd, TrainOptions& o, bool with_output = true);

// o.train with the device and the parsed --autocast filled in; joins the process group that
// torchrun's environment describes (RANK, WORLD_SIZE, ...), if any.
train::TrainConfig train_config(const TrainOptions& o, c10::Device device);

// The training settings as JSON, for the printed and saved resolved configuration.
nlohmann::json train_json(const TrainOptions& o);

// The long names (without "--") of the options given on the command line or in --config.
std::set<std::string> given_options(const CLI::App& cmd);

// Prints {"best": metrics, "model": OUTPUT/best} unless the run was stopped.
void print_result(const train::TrainSummary& s, const std::string& output);

}  // namespace tinybert::cli
