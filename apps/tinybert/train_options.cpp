// Shared training options and their resolution.
#include "train_options.h"

#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/runtime/distributed.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::cli {

void add_train_options(CLI::App* cmd, TrainOptions& o, bool with_output) {
  auto& t = o.train;
  if (with_output)
    cmd->add_option("--output", t.output, "run directory (best/, last/, metrics.jsonl)")
        ->required();
  cmd->add_option("--epochs", t.epochs, "training epochs")
      ->capture_default_str()
      ->check(positive(1e6));
  cmd->add_option("--lr", t.lr, "peak learning rate")->capture_default_str()->check(positive(1));
  cmd->add_option("--batch-size", t.batch_size, "examples per batch")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--max-length", o.max_length, "tokens per example, truncated longest_first")
      ->capture_default_str()
      ->check(in_range(2, 1 << 20));
  cmd->add_option("--seed", t.seed, "random seed (data order, init, dropout)")
      ->capture_default_str();
  cmd->add_option("--warmup", t.warmup, "linear warmup, as a fraction of the steps")
      ->capture_default_str()
      ->check(in_range(0, 1));
  cmd->add_option("--schedule", t.schedule,
                  "learning-rate schedule after warmup: linear | constant")
      ->capture_default_str();
  cmd->add_option("--optimizer", t.optim.kind,
                  "adamw | bertadam (the reference's: no bias correction, eps 1e-6)")
      ->capture_default_str();
  cmd->add_option("--weight-decay", t.optim.weight_decay,
                  "decoupled weight decay (not on bias, LayerNorm)")
      ->capture_default_str()
      ->check(in_range(0, 1));
  cmd->add_option("--max-grad-norm", t.optim.max_grad_norm, "gradient clipping norm (0: off)")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--grad-accum", t.grad_accum, "batches per optimizer step")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--eval-every", t.eval_every, "steps between dev evaluations (0: each epoch end)")
      ->capture_default_str()
      ->check(non_negative(1e12));
  cmd->add_option("--eval-batch-size", o.eval_batch_size, "examples per evaluation batch")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--log-every", t.log_every, "steps between metrics.jsonl lines")
      ->capture_default_str()
      ->check(positive(1e12));
  cmd->add_option("--save-every", t.save_every,
                  "steps between resumable checkpoints in OUTPUT/last (0: at epoch ends only)")
      ->capture_default_str()
      ->check(non_negative(1e12));
  cmd->add_option("--stop-after", t.stop_after,
                  "stop resumably after this many steps (0: run to the end)")
      ->capture_default_str()
      ->check(non_negative(1e12));
  cmd->add_flag("--resume", t.resume, "continue the run in --output from its last checkpoint");
  cmd->add_option("--autocast", o.autocast,
                  "mixed precision for the trained model's forward pass: off | bf16 | fp16 (GPU); "
                  "weights, optimizer and losses stay fp32")
      ->capture_default_str();
  cmd->add_option("--nproc-per-node", o.nproc_per_node,
                  "data-parallel run on this machine: start this many worker processes (as "
                  "torchrun --nproc_per_node does)")
      ->capture_default_str()
      ->check(in_range(1, 1024));
  cmd->add_option("--dist-timeout", o.dist_timeout,
                  "data-parallel runs: seconds a rank waits for the others before failing")
      ->capture_default_str()
      ->check(in_range(1, 86400));
  add_common_options(cmd, o.common);
}

train::TrainConfig train_config(const TrainOptions& o, c10::Device device) {
  train::TrainConfig t = o.train;
  t.device = device;
  if (o.autocast != "off" && o.autocast != "bf16" && o.autocast != "fp16")
    fail("--autocast must be off, bf16 or fp16, found \"", o.autocast, "\"");
  t.autocast = o.autocast == "off" ? c10::kFloat : runtime::parse_dtype(o.autocast, device);
  runtime::init_distributed(runtime::launch_env(), device, std::chrono::seconds(o.dist_timeout));
  return t;
}

nlohmann::json train_json(const TrainOptions& o) {
  const auto& t = o.train;
  return {{"output", t.output},
          {"epochs", t.epochs},
          {"lr", t.lr},
          {"batch_size", t.batch_size},
          {"max_length", o.max_length},
          {"seed", t.seed},
          {"warmup", t.warmup},
          {"schedule", t.schedule},
          {"optimizer", t.optim.kind},
          {"weight_decay", t.optim.weight_decay},
          {"max_grad_norm", t.optim.max_grad_norm},
          {"grad_accum", t.grad_accum},
          {"eval_every", t.eval_every},
          {"log_every", t.log_every},
          {"save_every", t.save_every},
          {"stop_after", t.stop_after},
          {"resume", t.resume},
          {"autocast", o.autocast},
          {"device", o.common.device},
          {"threads", o.common.threads}};
}

std::set<std::string> given_options(const CLI::App& cmd) {
  std::set<std::string> given;
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->count() > 0 && !opt->get_lnames().empty()) given.insert(opt->get_lnames().front());
  return given;
}

void print_result(const train::TrainSummary& s, const std::string& output) {
  if (s.interrupted) return;
  std::cout << nlohmann::json{{"best", s.best_metrics}, {"model", output + "/best"}}.dump() << "\n";
}

}  // namespace tinybert::cli
