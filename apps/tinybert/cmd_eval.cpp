// tinybert eval: a model's task metrics on a split, printed and written as JSON.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/infer/evaluate.h"
#include "tinybert/io/atomic_file.h"

namespace tinybert::cli {

Runner add_eval(CLI::App& app) {
  struct Options {
    std::string model, task, data_dir, split = "dev", output;
    int64_t batch_size = 64, max_length = 128;
    data::QaSettings qa;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("eval", "evaluate a trained model on a task split");
  cmd->add_option("--model", o->model,
                  "HF-format BertForSequenceClassification, BertForTokenClassification or "
                  "BertForQuestionAnswering directory")
      ->required();
  cmd->add_option("--task", o->task, "GLUE task name, generic, conll, squad or squad_v2")
      ->required();
  cmd->add_option("--data", o->data_dir, "task directory")->required();
  cmd->add_option("--split", o->split, "dev | test | any FILE stem in --data (e.g. dev_mismatched)")
      ->capture_default_str();
  cmd->add_option("--output", o->output,
                  "metrics JSON to write (default: MODEL/eval_TASK_SPLIT.json)");
  cmd->add_option("--batch-size", o->batch_size, "examples per batch")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--max-length", o->max_length, "tokens per example")
      ->capture_default_str()
      ->check(in_range(2, 1 << 20));
  add_qa_options(cmd, o->qa);
  add_common_options(cmd, o->common);
  return [o]() {
    const c10::Device device = start_runtime(o->common);
    const auto r = infer::evaluate_split(o->model, o->task, o->data_dir, o->split, o->batch_size,
                                         o->max_length, device, o->qa);
    std::cout << nlohmann::json(r.metrics).dump() << "\n";
    const std::string out =
        o->output.empty()
            ? (std::filesystem::path(o->model) / cat("eval_", r.spec.name, "_", o->split, ".json"))
                  .string()
            : o->output;
    const nlohmann::json file = {{"task", r.spec.name},     {"split", o->split},
                                 {"data", r.path},          {"examples", r.examples},
                                 {"model", o->model},       {"metrics", r.metrics},
                                 {"cut_words", r.cut_words}};
    io::write_file_atomic(out, file.dump(2) + "\n");
    std::cerr << "wrote " << out << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
