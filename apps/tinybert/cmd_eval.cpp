// tinybert eval: a model's task metrics on a split, printed and written as JSON.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/distill/objectives.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/io/checkpoint.h"
#include "train_options.h"

namespace tinybert::cli {

Runner add_eval(CLI::App& app) {
  struct Options {
    std::string model, task, data_dir, split = "dev", output;
    int64_t batch_size = 64, max_length = 128;
    std::vector<std::string> labels;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("eval", "evaluate a classifier on a task split");
  cmd->add_option("--model", o->model, "HF-format BertForSequenceClassification directory")
      ->required();
  cmd->add_option("--task", o->task, "GLUE task name or generic")->required();
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
  add_common_options(cmd, o->common);
  return [o]() {
    c10::Device device = start_runtime(o->common);
    auto loaded = io::load_model(o->model, {.device = device});
    auto& m = *loaded.model;
    if (m.config.architecture != model::Architecture::SequenceClassification)
      fail(o->model, " is a ", model::architecture_name(m.config.architecture),
           "; eval needs a classifier");
    auto spec = data::task_spec(o->task);
    if (spec.name == "generic") {
      spec.labels = m.config.labels;
      spec.regression = m.config.is_regression();
    }
    check_labels(m.config.labels, spec, o->model);
    auto tok = text::Tokenizer::from_dir(o->model);
    data::ReadReport r;
    auto rows = data::read_split(spec, o->data_dir, o->split, &r);
    auto ds = data::Dataset::encode(rows, spec, tok, o->max_length, r.path);
    auto metrics = distill::evaluate_model(m, ds, spec, o->batch_size, device);
    nlohmann::json j(metrics);
    std::cout << j.dump() << "\n";
    std::string out =
        o->output.empty()
            ? (std::filesystem::path(o->model) / cat("eval_", spec.name, "_", o->split, ".json"))
                  .string()
            : o->output;
    nlohmann::json file = {{"task", spec.name},       {"split", o->split}, {"data", r.path},
                           {"examples", rows.size()}, {"model", o->model}, {"metrics", metrics}};
    io::write_file_atomic(out, file.dump(2) + "\n");
    std::cerr << "wrote " << out << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
