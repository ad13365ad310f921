// tinybert finetune: fine-tune a BERT (the teacher) on a task with cross-entropy (or MSE).
#include <torch/torch.h>

#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/distill/objectives.h"
#include "tinybert/io/checkpoint.h"
#include "train_options.h"

namespace tinybert::cli {

Runner add_finetune(CLI::App& app) {
  struct Options {
    std::string model, task, data_dir, train_file;
    std::vector<std::string> labels;
    bool regression = false;
    TrainOptions t;
  };
  auto o = std::make_shared<Options>();
  o->t.train.epochs = 3;
  o->t.train.lr = 2e-5;
  auto* cmd = app.add_subcommand("finetune",
                                 "fine-tune a BERT on a task (the teacher for task distillation)");
  cmd->add_option("--model", o->model, "HF-format BERT directory (pre-trained, or a classifier)")
      ->required();
  cmd->add_option("--task", o->task, "GLUE task name or generic")->required();
  cmd->add_option("--data", o->data_dir, "task directory with train and dev files")->required();
  cmd->add_option("--train-file", o->train_file,
                  "train on this file instead of DATA/train (same format)");
  cmd->add_option("--labels", o->labels,
                  "generic task: label order (default: sorted labels of the train file)")
      ->delimiter(',');
  cmd->add_flag("--regression", o->regression,
                "generic task: labels are numbers (MSE, Pearson/Spearman)");
  add_train_options(cmd, o->t);
  return [o]() {
    auto settings = train_json(o->t);
    settings.update({{"model", o->model},
                     {"task", o->task},
                     {"data", o->data_dir},
                     {"train_file", o->train_file},
                     {"labels", o->labels},
                     {"regression", o->regression}});
    print_settings("finetune", settings);
    c10::Device device = start_runtime(o->t.common);
    o->t.train = train_config(o->t, device);
    auto tok = text::Tokenizer::from_dir(o->model);
    auto task = load_task(o->task, o->data_dir, tok, o->t.max_length, o->labels, o->regression,
                          o->train_file);
    auto loaded =
        io::load_model(o->model, {.architecture = model::Architecture::SequenceClassification,
                                  .labels = task.spec.labels,
                                  .device = device,
                                  .seed = o->t.train.seed});
    if (task.spec.regression) loaded.model->config.problem_type = "regression";
    std::cerr << loaded.report.summary();
    distill::FinetuneObjective obj(loaded.model, tok, {&task.dev, task.spec, o->t.eval_batch_size},
                                   device);
    data::DatasetSource source(task.train, o->t.train.batch_size, o->t.train.seed, device);
    auto summary = distill::train(o->t.train, obj, source, settings);
    if (summary.interrupted) return 0;
    std::cout << nlohmann::json{{"best", summary.best_metrics},
                                {"model", o->t.train.output + "/best"}}
                     .dump()
              << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
