// Options shared by the training commands (finetune, distill, pretrain) and their resolution.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "tinybert/data/task_data.h"
#include "tinybert/runtime/launcher.h"
#include "tinybert/train/trainer.h"

namespace tinybert::cli {

struct TrainOptions {
  train::TrainConfig train;
  int64_t max_length = 128;
  int64_t eval_batch_size = 64;
  std::string autocast = "off";  // off | bf16 | fp16
  std::string resume = "no";     // no | yes | auto (resume when OUTPUT/last holds a checkpoint)
  int dist_timeout = 60;         // seconds a collective waits for a lost rank
  runtime::LaunchConfig launch;  // given: main() starts the workers (runtime::launch)
  CommonOptions common;
};

// --nproc-per-node, --nnodes, --node-rank, --master-addr, --master-port, --max-restarts (torchrun's
// options: when one is given and RANK is not set, main() launches the workers) and --dist-timeout.
void add_launch_options(CLI::App* cmd, runtime::LaunchConfig& launch, int& dist_timeout);

// The launcher settings of `cmd` when one of its launcher options was given and this process is
// not a worker already (RANK unset); otherwise nullptr.
const runtime::LaunchConfig* launch_requested(const CLI::App& cmd);

// argv without the launcher options: what each worker runs.
std::vector<std::string> worker_args(int argc, char** argv);

// Joins the process group torchrun's environment (RANK, WORLD_SIZE, ...) describes, if any.
void join_group(c10::Device device, int dist_timeout);

// --epochs, --lr, --batch-size, --max-length, --seed, --warmup, --schedule, --weight-decay,
// --optimizer, --max-grad-norm, --grad-accum, --eval-every, --log-every, --stop-after,
// --resume [auto], --output, the launcher options, plus the common options. `epochs`/`lr` defaults
// come from the caller's TrainOptions.
void add_train_options(CLI::App* cmd, TrainOptions& o, bool with_output = true);

// o.train with the device and the parsed --autocast filled in; joins the process group that
// torchrun's environment describes (RANK, WORLD_SIZE, ...), if any.
train::TrainConfig train_config(const TrainOptions& o, c10::Device device);

// The training settings as JSON, for the printed and saved resolved configuration.
nlohmann::json train_json(const TrainOptions& o);

// The long names (without "--") of the options given on the command line or in --config.
std::set<std::string> given_options(const CLI::App& cmd);

// --task, --data, --train-file, --labels, --regression, --label-all-pieces and the QA options
// (finetune; distill's task stages, where they are not required).
void add_task_options(CLI::App* cmd, data::TaskSource& t, bool required);

// Prints {"best": metrics, "model": OUTPUT/best} unless the run was stopped.
void print_result(const train::TrainSummary& s, const std::string& output);

}  // namespace tinybert::cli
