// tinybert finetune: a BERT fine-tuned on a task, the teacher of task distillation.
#include "tinybert/core/json.h"
#include "tinybert/train/finetune.h"
#include "train_options.h"

namespace tinybert::cli {

Runner add_finetune(CLI::App& app) {
  struct Options {
    train::FinetuneJob job;
    TrainOptions t;
  };
  auto o = std::make_shared<Options>();
  o->t.train.epochs = 3;
  o->t.train.lr = 2e-5;
  auto& j = o->job;
  auto* cmd = app.add_subcommand("finetune",
                                 "fine-tune a BERT on a task (the teacher for task distillation)");
  cmd->add_option("--model", j.model, "HF-format BERT directory (pre-trained, or a classifier)")
      ->required();
  cmd->add_option("--task", j.task, "GLUE task name or generic")->required();
  cmd->add_option("--data", j.data_dir, "task directory with train and dev files")->required();
  cmd->add_option("--train-file", j.train_file,
                  "train on this file instead of DATA/train (same format)");
  cmd->add_option("--labels", j.labels,
                  "generic task: label order (default: sorted labels of the train file)")
      ->delimiter(',');
  cmd->add_flag("--regression", j.regression,
                "generic task: labels are numbers (MSE, Pearson/Spearman)");
  add_train_options(cmd, o->t);
  return [o]() {
    auto& j = o->job;
    auto settings = train_json(o->t);
    settings.update({{"model", j.model},
                     {"task", j.task},
                     {"data", j.data_dir},
                     {"train_file", j.train_file},
                     {"labels", j.labels},
                     {"regression", j.regression}});
    print_settings("finetune", settings);
    j.train = train_config(o->t, start_runtime(o->t.common));
    j.max_length = o->t.max_length;
    j.eval_batch_size = o->t.eval_batch_size;
    print_result(train::finetune(j, settings), j.train.output);
    return 0;
  };
}

}  // namespace tinybert::cli
