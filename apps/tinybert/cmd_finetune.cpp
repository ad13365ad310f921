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
  add_task_options(cmd, j.data, true);
  add_train_options(cmd, o->t);
  return [o]() {
    auto& j = o->job;
    auto settings = train_json(o->t);
    settings.update({{"model", j.model}});
    settings.update(j.data.to_json());
    print_settings("finetune", settings);
    j.train = train_config(o->t, start_runtime(o->t.common));
    j.max_length = o->t.max_length;
    j.eval_batch_size = o->t.eval_batch_size;
    print_result(train::finetune(j, settings), j.train.output);
    return 0;
  };
}

}  // namespace tinybert::cli
