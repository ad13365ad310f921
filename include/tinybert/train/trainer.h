// The training loop shared by fine-tuning, pre-training and every distillation stage: schedule,
// gradient accumulation and clipping, periodic evaluation, best/ and last/ checkpoints, exact
// resumption (weights, optimizer, RNG, data position), metrics.jsonl, and Ctrl-C/SIGTERM handling.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tinybert/data/dataset.h"
#include "tinybert/model/heads.h"
#include "tinybert/train/optimizer.h"

namespace tinybert::train {

struct TrainConfig {
  int64_t epochs = 3;
  double lr = 5e-5;
  int64_t batch_size = 32;
  int64_t grad_accum = 1;           // batches per optimizer step
  double warmup = 0.1;              // fraction of steps
  std::string schedule = "linear";  // linear | constant
  uint64_t seed = 42;
  int64_t eval_every = 0;    // optimizer steps between evaluations (0: at epoch ends only)
  int64_t log_every = 20;    // optimizer steps between metrics.jsonl lines
  int64_t save_every = 500;  // optimizer steps between last/ checkpoints (0: epoch ends only)
  int64_t stop_after = 0;    // stop (resumably) after this many optimizer steps in this run
  bool resume = false;       // continue from OUTPUT/last
  bool resume_auto = false;  // resume when OUTPUT/last holds a checkpoint (rank 0 decides)
  std::string output;        // the run directory
  c10::Device device = c10::kCPU;
  c10::ScalarType autocast = c10::kFloat;  // bf16/fp16: forward passes in mixed precision
  OptimizerConfig optim;
};

// A total loss and its terms for logging.
struct LossTerms {
  at::Tensor total;
  std::map<std::string, double> terms;
};

// What a training run optimises; the trainer owns the loop, the objective the models.
class Objective {
 public:
  virtual ~Objective() = default;
  virtual NamedParams trainable() = 0;  // stable, unique names (optimizer state is saved by name)
  virtual void train_mode(bool on) = 0;
  virtual LossTerms loss(const data::TrainBatch& batch) = 0;
  // Dev-set metrics, or empty when the stage has none (then best/ is the final model).
  virtual std::map<std::string, double> evaluate() { return {}; }
  virtual std::string main_metric() const { return ""; }
  virtual void save(const std::string& dir) = 0;  // the model(s), HF format
  virtual void load_trainable(
      const std::string& dir) = 0;  // weights written by save(), for --resume
};

struct TrainSummary {
  int64_t steps = 0;
  double seconds = 0;
  bool interrupted = false;
  double best = -1e300;
  std::map<std::string, double> best_metrics, last_metrics;
};

// Rows per batch the training data source must yield: the per-rank batch times the number of
// ranks of a data-parallel run (train() gives each rank its slice of every batch).
int64_t source_batch_size(const TrainConfig& cfg);

// Runs the loop; `resolved` (the command's settings) is saved as OUTPUT/run_config.json. Holds
// OUTPUT/.lock meanwhile (a second run into OUTPUT is refused). A NaN or infinite loss or
// gradient stops it with an error, before the weights change, leaving last/ as it was.
// Across the ranks of a data-parallel run (runtime::group()), every rank starts from rank 0's
// weights, trains on its slice of each batch, averages gradients before the step, and takes the
// same decisions; only rank 0 writes OUTPUT.
TrainSummary train(const TrainConfig& cfg, Objective& objective, data::BatchSource& data,
                   const nlohmann::json& resolved);

// Named trainable parameters of a model (and a projection), prefixed to stay unique.
NamedParams named_params(torch::nn::Module& m, const std::string& prefix = "");
// Copies weights saved in dir/model.safetensors back into `m` (strict, as load_state).
void reload_weights(model::AutoBertImpl& m, const std::string& dir);

}  // namespace tinybert::train
