// Shared training options and their resolution.
#include "train_options.h"

#include <cstdlib>
#include <iostream>
#include <map>

#include "tinybert/core/error.h"
#include "tinybert/runtime/distributed.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::cli {

void add_task_options(CLI::App* cmd, data::TaskSource& t, bool required) {
  cmd->add_option("--task", t.task,
                  "GLUE task name, generic (TSV/JSONL text classification), conll (token "
                  "classification), squad or squad_v2 (question answering)")
      ->required(required);
  cmd->add_option("--data", t.data_dir, "task directory with train and dev files")
      ->required(required);
  cmd->add_option("--train-file", t.train_file,
                  "train on this file (e.g. augmented) instead of DATA/train (same format)");
  cmd->add_option("--labels", t.labels,
                  "generic and conll tasks: label order (default: sorted labels of the train file)")
      ->delimiter(',');
  cmd->add_flag("--regression", t.regression,
                "generic task: labels are numbers (MSE, Pearson/Spearman)");
  cmd->add_flag("--label-all-pieces", t.label_all_pieces,
                "conll task: label every word piece with its word's tag (default: the first "
                "piece only, the others ignored by the loss)");
  add_qa_options(cmd, t.qa);
}

void add_answer_options(CLI::App* cmd, data::QaSettings& qa) {
  add_qa_options(cmd, qa);
  cmd->add_flag("--allow-no-answer", qa.unanswerable,
                "question answering: answer \"\" when \"no answer\" scores best (SQuAD v2.0 "
                "models)");
}

void add_qa_options(CLI::App* cmd, data::QaSettings& qa) {
  cmd->add_option_function<size_t>(
         "--doc-stride", [&qa](const size_t& v) { qa.doc_stride = v; },
         "squad tasks: context tokens shared by consecutive windows of a long context (default: "
         "128, or half a window's context tokens when that is less)")
      ->check(non_negative(1 << 20));
  cmd->add_option("--max-query-length", qa.max_query_length,
                  "squad tasks: question tokens kept (the rest cut)")
      ->capture_default_str()
      ->check(positive(1 << 20));
  cmd->add_option("--n-best", qa.n_best, "squad tasks: start and end candidates per window")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--max-answer-length", qa.max_answer_length, "squad tasks: tokens of an answer")
      ->capture_default_str()
      ->check(positive(1 << 20));
  cmd->add_option("--null-threshold", qa.null_threshold,
                  "squad_v2: \"no answer\" wins when its score beats the best span's by more")
      ->capture_default_str()
      ->check(in_range(-1e6, 1e6));
}

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
  cmd->add_option("--resume", o.resume,
                  "continue the run in --output from its last checkpoint; --resume auto: only "
                  "when there is one (start otherwise), for restarted workers (default: no)")
      ->expected(0, 1)
      ->default_str("yes")
      ->check(CLI::IsMember({"yes", "no", "auto"}));
  cmd->add_option("--autocast", o.autocast,
                  "mixed precision for the trained model's forward pass: off | bf16 | fp16 (GPU); "
                  "weights, optimizer and losses stay fp32")
      ->capture_default_str();
  add_launch_options(cmd, o.launch, o.dist_timeout);
  add_common_options(cmd, o.common);
}

train::TrainConfig train_config(const TrainOptions& o, c10::Device device) {
  train::TrainConfig t = o.train;
  t.device = device;
  if (o.autocast != "off" && o.autocast != "bf16" && o.autocast != "fp16")
    fail("--autocast must be off, bf16 or fp16, found \"", o.autocast, "\"");
  t.autocast = o.autocast == "off" ? c10::kFloat : runtime::parse_dtype(o.autocast, device);
  t.resume = o.resume == "yes";
  t.resume_auto = o.resume == "auto";
  join_group(device, o.dist_timeout);
  return t;
}

namespace {

// The launcher settings each command's options write into.
std::map<const CLI::App*, const runtime::LaunchConfig*>& launch_configs() {
  static std::map<const CLI::App*, const runtime::LaunchConfig*> m;
  return m;
}

constexpr const char* kLauncherOptions[] = {"--nproc-per-node", "--nnodes",      "--node-rank",
                                            "--master-addr",    "--master-port", "--max-restarts"};

}  // namespace

void add_launch_options(CLI::App* cmd, runtime::LaunchConfig& l, int& dist_timeout) {
  cmd->add_option("--nproc-per-node", l.nproc_per_node,
                  "data-parallel run: start this many worker processes on this machine (as "
                  "torchrun --nproc_per_node does)")
      ->capture_default_str()
      ->check(in_range(1, 1024));
  cmd->add_option("--nnodes", l.nnodes, "machines in the run (each starts its own launcher)")
      ->capture_default_str()
      ->check(in_range(1, 65536));
  cmd->add_option("--node-rank", l.node_rank, "this machine's index in [0, --nnodes)")
      ->capture_default_str()
      ->check(in_range(0, 65535));
  cmd->add_option("--master-addr", l.master_addr, "address of node 0 (rank 0 serves the store)")
      ->capture_default_str();
  cmd->add_option("--master-port", l.master_port,
                  "port of the rendezvous store on node 0 (default: a free port on one node, "
                  "29500 for several)")
      ->check(in_range(1, 65535));
  cmd->add_option("--max-restarts", l.max_restarts,
                  "start this node's workers again this many times after one failed (training: "
                  "add --resume auto to continue from the last checkpoint; augment: --resume); "
                  "one node only: several nodes restart uncoordinated, use torchrun there")
      ->capture_default_str()
      ->check(in_range(0, 1000));
  cmd->add_option("--dist-timeout", dist_timeout,
                  "data-parallel runs: seconds a rank waits for the others before failing")
      ->capture_default_str()
      ->check(in_range(1, 86400));
  launch_configs()[cmd] = &l;
}

const runtime::LaunchConfig* launch_requested(const CLI::App& cmd) {
  auto it = launch_configs().find(&cmd);
  if (it == launch_configs().end() || std::getenv("RANK")) return nullptr;
  for (const char* name : kLauncherOptions)
    if (cmd.get_option(name)->count() > 0) return it->second;
  return nullptr;
}

std::vector<std::string> worker_args(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    bool launcher = false;
    for (const std::string name : kLauncherOptions) {
      if (a == name) {
        launcher = true;
        ++i;  // its value
      } else if (a.starts_with(name + "=")) {
        launcher = true;
      }
    }
    if (!launcher) out.push_back(a);
  }
  return out;
}

void join_group(c10::Device device, int dist_timeout) {
  runtime::init_distributed(runtime::launch_env(), device, std::chrono::seconds(dist_timeout));
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
          {"resume", o.resume},
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
  if (s.interrupted || runtime::group().rank() != 0) return;
  std::cout << nlohmann::json{{"best", s.best_metrics}, {"model", output + "/best"}}.dump() << "\n";
}

}  // namespace tinybert::cli
