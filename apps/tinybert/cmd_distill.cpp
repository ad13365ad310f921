// tinybert distill: general distillation on a corpus, and task distillation (intermediate layers,
// then the prediction layer) with the paper's defaults.
#include <iostream>

#include "tinybert/distill/stages.h"
#include "train_options.h"

namespace tinybert::cli {

Runner add_distill(CLI::App& app) {
  struct Options {
    distill::DistillJob job;
    TrainOptions t;
    CLI::App* cmd = nullptr;
  };
  auto o = std::make_shared<Options>();
  auto& j = o->job;
  auto* cmd = app.add_subcommand(
      "distill", "TinyBERT distillation: general, or task (intermediate + prediction)");
  o->cmd = cmd;
  cmd->add_option("--stage", j.stage,
                  "general | intermediate | prediction | task (intermediate, then prediction)")
      ->required()
      ->check(CLI::IsMember({"general", "intermediate", "prediction", "task"}));
  cmd->add_option("--teacher", j.teacher,
                  "teacher directory (general: pre-trained BERT; task: fine-tuned classifier)")
      ->required();
  cmd->add_option("--student", j.student,
                  "student directory (task stages: e.g. a general-distilled student)");
  cmd->add_option("--student-config", j.student_config,
                  "general: config.json of the student to create");
  cmd->add_option("--corpus", j.corpus,
                  "general: text, one sentence a line, blank line between documents");
  add_task_options(cmd, j.data, false);
  cmd->add_option(
      "--layer-map", j.layer_map,
      "teacher hidden state per student hidden state, e.g. 0,3,6,9,12 (default: uniform)");
  cmd->add_option("--teacher-dtype", j.teacher_dtype,
                  "fp32 | bf16 (faster teacher; student stays fp32)")
      ->capture_default_str();
  cmd->add_option("--temperature", j.loss.temperature, "soft cross-entropy temperature")
      ->capture_default_str()
      ->check(positive(1000));
  cmd->add_flag("--t2-scaling", j.loss.t2_scaling, "multiply the soft loss by T^2");
  cmd->add_option("--hard-label-weight", j.loss.hard_label_weight,
                  "weight of a gold-label loss (paper: 0)")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_option("--attention-weight", j.loss.attention_weight, "weight of the attention loss")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_option("--hidden-weight", j.loss.hidden_weight, "weight of the hidden-state loss")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_option("--prediction-weight", j.loss.prediction_weight, "weight of the prediction loss")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_flag("--regression-to-teacher", j.loss.regression_to_teacher,
                "regression: fit the teacher's outputs, not the gold values");
  cmd->add_option(
         "--intermediate-epochs", j.intermediate_epochs,
         "task stages: epochs of the intermediate step (--stage task: instead of --epochs)")
      ->capture_default_str()
      ->check(positive(1e6));
  cmd->add_option("--intermediate-lr", j.intermediate_lr,
                  "task stages: learning rate of the intermediate step")
      ->capture_default_str()
      ->check(positive(1));
  cmd->add_option("--prediction-epochs", j.prediction_epochs,
                  "task stages: epochs of the prediction step")
      ->capture_default_str()
      ->check(positive(1e6));
  cmd->add_option("--prediction-lr", j.prediction_lr,
                  "task stages: learning rate of the prediction step")
      ->capture_default_str()
      ->check(positive(1));
  add_train_options(cmd, o->t);
  return [o]() {
    auto& j = o->job;
    const auto given = given_options(*o->cmd);
    j.max_length = o->t.max_length;
    j.eval_batch_size = o->t.eval_batch_size;
    distill::resolve(j, given);
    o->t.max_length = j.max_length;
    j.train = train_config(o->t, start_runtime(o->t.common));
    auto summary = distill::run(j, given, train_json(o->t));
    if (summary.interrupted) return 0;
    if (j.stage == "general")
      std::cout
          << nlohmann::json{{"model", j.train.output + "/best"}, {"steps", summary.steps}}.dump()
          << "\n";
    else
      print_result(summary, j.train.output);
    return 0;
  };
}

}  // namespace tinybert::cli
