// tinybert distill: general distillation on a corpus, and task distillation (intermediate layers,
// then the prediction layer) with the paper's defaults.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/distill/objectives.h"
#include "tinybert/io/checkpoint.h"
#include "tinybert/io/run_lock.h"
#include "tinybert/runtime/runtime.h"
#include "train_options.h"

namespace tinybert::cli {

namespace fs = std::filesystem;

namespace {

struct DistillOptions {
  std::string stage, teacher, student, student_config, corpus, task, data_dir, train_file,
      layer_map;
  std::string teacher_dtype = "fp32";
  std::vector<std::string> labels;
  bool regression = false;
  distill::LossConfig loss;
  int64_t intermediate_epochs = 10, prediction_epochs = 3;
  double intermediate_lr = 5e-5, prediction_lr = 3e-5;
  TrainOptions t;
  CLI::App* cmd = nullptr;
};

distill::LayerMap layer_map(const DistillOptions& o, const model::BertConfig& t,
                            const model::BertConfig& s) {
  auto m = o.layer_map.empty()
               ? distill::LayerMap::uniform(t.num_hidden_layers, s.num_hidden_layers)
               : distill::LayerMap::parse(o.layer_map, t.num_hidden_layers, s.num_hidden_layers);
  std::cerr << "layer map: " << m.describe() << "\n";
  return m;
}

io::LoadedModel load_teacher(const DistillOptions& o, c10::Device device, bool classifier) {
  auto dtype = runtime::parse_dtype(o.teacher_dtype, device);
  auto t = io::load_model(o.teacher, {.device = device, .dtype = dtype});
  if (classifier && t.model->config.architecture != model::Architecture::SequenceClassification)
    fail(
        "the teacher ", o.teacher, " is a ", model::architecture_name(t.model->config.architecture),
        "; task distillation needs a teacher fine-tuned on the task (run tinybert finetune first)");
  return t;
}

// The student as a classifier with the teacher's labels (a pre-trained or general student gets a
// new head; a classifier must already have the same labels).
io::LoadedModel load_student(const std::string& dir, const model::AutoBertImpl& teacher,
                             const data::TaskSpec& spec, c10::Device device, uint64_t seed) {
  auto cfg = model::BertConfig::load((fs::path(dir) / "config.json").string());
  if (cfg.architecture == model::Architecture::SequenceClassification)
    check_labels(cfg.labels, spec, "the student " + dir);
  auto s = io::load_model(dir, {.architecture = model::Architecture::SequenceClassification,
                                .labels = teacher.config.labels,
                                .device = device,
                                .seed = seed});
  s.model->config.problem_type = teacher.config.problem_type;
  std::cerr << s.report.summary();
  return s;
}

int run_general(DistillOptions& o, c10::Device device) {
  if (o.corpus.empty() || o.student_config.empty())
    fail("--stage general needs --corpus and --student-config");
  auto teacher = load_teacher(o, device, false);
  auto tok = text::Tokenizer::from_dir(o.teacher);
  auto cfg = model::BertConfig::load(o.student_config);
  cfg.architecture = model::Architecture::Base;
  const auto& tc = teacher.model->config;
  if (cfg.vocab_size != tc.vocab_size)
    fail(o.student_config, ": vocab_size ", cfg.vocab_size, " differs from the teacher's ",
         tc.vocab_size);
  auto student = model::init_model(cfg, o.t.train.seed);
  student->to(device);
  auto map = layer_map(o, tc, cfg);
  auto fit = distill::make_fit_dense(cfg.hidden_size, tc.hidden_size, "", cfg.initializer_range);
  fit->to(device);
  distill::IntermediateObjective obj(teacher.model, student, fit, map, o.loss, tok);
  data::CorpusSource source(o.corpus, tok, o.t.max_length, o.t.train.batch_size, o.t.train.seed,
                            device);
  std::cerr << "corpus: " << o.corpus << ": " << source.sequences() << " sequences of up to "
            << o.t.max_length << " tokens\n";
  auto settings = train_json(o.t);
  settings.update({{"stage", "general"},
                   {"teacher", o.teacher},
                   {"student_config", o.student_config},
                   {"corpus", o.corpus},
                   {"layer_map", map.describe()},
                   {"teacher_dtype", o.teacher_dtype}});
  auto summary = distill::train(o.t.train, obj, source, settings);
  if (!summary.interrupted)
    std::cout
        << nlohmann::json{{"model", o.t.train.output + "/best"}, {"steps", summary.steps}}.dump()
        << "\n";
  return 0;
}

// One task stage ("intermediate" or "prediction") from `student_dir` into `output`.
distill::TrainSummary run_task_stage(const DistillOptions& o, const std::string& stage,
                                     const std::string& student_dir, distill::TrainConfig train,
                                     c10::Device device) {
  auto teacher = load_teacher(o, device, true);
  auto tok = text::Tokenizer::from_dir(o.teacher);
  auto task =
      load_task(o.task, o.data_dir, tok, o.t.max_length, o.labels, o.regression, o.train_file);
  check_labels(teacher.model->config.labels, task.spec, "the teacher " + o.teacher);
  auto student = load_student(student_dir, *teacher.model, task.spec, device, train.seed);
  auto settings = train_json(o.t);
  settings.update({{"stage", stage},
                   {"teacher", o.teacher},
                   {"student", student_dir},
                   {"task", task.spec.name},
                   {"data", o.data_dir},
                   {"train_file", o.train_file},
                   {"teacher_dtype", o.teacher_dtype},
                   {"epochs", train.epochs},
                   {"lr", train.lr},
                   {"schedule", train.schedule},
                   {"warmup", train.warmup},
                   {"output", train.output},
                   {"temperature", o.loss.temperature},
                   {"t2_scaling", o.loss.t2_scaling},
                   {"hard_label_weight", o.loss.hard_label_weight}});
  data::DatasetSource source(task.train, train.batch_size, train.seed, device);
  if (stage == "intermediate") {
    auto map = layer_map(o, teacher.model->config, student.model->config);
    settings["layer_map"] = map.describe();
    auto fit = distill::make_fit_dense(student.model->config.hidden_size,
                                       teacher.model->config.hidden_size, student_dir,
                                       student.model->config.initializer_range);
    fit->to(device);
    distill::IntermediateObjective obj(teacher.model, student.model, fit, map, o.loss, tok);
    print_settings("distill", settings);
    return distill::train(train, obj, source, settings);
  }
  distill::PredictionObjective obj(teacher.model, student.model, o.loss, task.train, tok,
                                   {&task.dev, task.spec, o.t.eval_batch_size}, device,
                                   student_dir);
  print_settings("distill", settings);
  auto summary = distill::train(train, obj, source, settings);
  std::cerr << "teacher logits: " << task.train.size() << " examples in " << obj.teacher_forwards()
            << " forward passes, cached for every epoch\n";
  return summary;
}

}  // namespace

Runner add_distill(CLI::App& app) {
  auto o = std::make_shared<DistillOptions>();
  auto* cmd = app.add_subcommand(
      "distill", "TinyBERT distillation: general, or task (intermediate + prediction)");
  o->cmd = cmd;
  cmd->add_option("--stage", o->stage,
                  "general | intermediate | prediction | task (intermediate, then prediction)")
      ->required()
      ->check(CLI::IsMember({"general", "intermediate", "prediction", "task"}));
  cmd->add_option("--teacher", o->teacher,
                  "teacher directory (general: pre-trained BERT; task: fine-tuned classifier)")
      ->required();
  cmd->add_option("--student", o->student,
                  "student directory (task stages: e.g. a general-distilled student)");
  cmd->add_option("--student-config", o->student_config,
                  "general: config.json of the student to create");
  cmd->add_option("--corpus", o->corpus,
                  "general: text, one sentence a line, blank line between documents");
  cmd->add_option("--task", o->task, "task stages: GLUE task name or generic");
  cmd->add_option("--data", o->data_dir, "task stages: task directory (train and dev files)");
  cmd->add_option("--train-file", o->train_file,
                  "train on this file (e.g. augmented) instead of DATA/train");
  cmd->add_option("--labels", o->labels, "generic task: label order")->delimiter(',');
  cmd->add_flag("--regression", o->regression, "generic task: numeric labels");
  cmd->add_option(
      "--layer-map", o->layer_map,
      "teacher hidden state per student hidden state, e.g. 0,3,6,9,12 (default: uniform)");
  cmd->add_option("--teacher-dtype", o->teacher_dtype,
                  "fp32 | bf16 (faster teacher; student stays fp32)")
      ->capture_default_str();
  cmd->add_option("--temperature", o->loss.temperature, "soft cross-entropy temperature")
      ->capture_default_str()
      ->check(positive(1000));
  cmd->add_flag("--t2-scaling", o->loss.t2_scaling, "multiply the soft loss by T^2");
  cmd->add_option("--hard-label-weight", o->loss.hard_label_weight,
                  "weight of a gold-label loss (paper: 0)")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_option("--attention-weight", o->loss.attention_weight, "weight of the attention loss")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_option("--hidden-weight", o->loss.hidden_weight, "weight of the hidden-state loss")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_option("--prediction-weight", o->loss.prediction_weight, "weight of the prediction loss")
      ->capture_default_str()
      ->check(non_negative(1e6));
  cmd->add_flag("--regression-to-teacher", o->loss.regression_to_teacher,
                "regression: fit the teacher's outputs, not the gold values");
  cmd->add_option("--intermediate-epochs", o->intermediate_epochs,
                  "task: epochs of the intermediate step")
      ->capture_default_str()
      ->check(positive(1e6));
  cmd->add_option("--intermediate-lr", o->intermediate_lr,
                  "task: learning rate of the intermediate step")
      ->capture_default_str()
      ->check(positive(1));
  cmd->add_option("--prediction-epochs", o->prediction_epochs,
                  "task: epochs of the prediction step")
      ->capture_default_str()
      ->check(positive(1e6));
  cmd->add_option("--prediction-lr", o->prediction_lr, "task: learning rate of the prediction step")
      ->capture_default_str()
      ->check(positive(1));
  add_train_options(cmd, o->t);
  return [o]() {
    auto* cmd = o->cmd;
    auto given = [&](const char* name) { return cmd->count(name) > 0; };
    auto& t = o->t.train;
    // The paper's defaults per stage, where the command line is silent.
    if (o->stage == "general") {
      if (!given("--epochs")) t.epochs = 3;
      if (!given("--lr")) t.lr = 5e-5;
    } else {
      if (o->student.empty() || o->task.empty() || o->data_dir.empty())
        fail("--stage ", o->stage, " needs --student, --task and --data");
      if (!given("--max-length")) o->t.max_length = data::task_spec(o->task).pair ? 128 : 64;
    }
    if (o->stage == "intermediate" || o->stage == "task") {
      if (!given("--schedule")) t.schedule = "constant";
      if (!given("--warmup")) t.warmup = 0;
    }
    if (o->stage == "prediction" && !given("--eval-every")) t.eval_every = 100;
    if (o->stage == "intermediate") {
      if (!given("--epochs")) t.epochs = o->intermediate_epochs;
      if (!given("--lr")) t.lr = o->intermediate_lr;
    } else if (o->stage == "prediction") {
      if (!given("--epochs")) t.epochs = o->prediction_epochs;
      if (!given("--lr")) t.lr = o->prediction_lr;
    }
    c10::Device device = start_runtime(o->t.common);
    t = train_config(o->t, device);
    if (o->stage == "general") {
      print_settings("distill", train_json(o->t));
      return run_general(*o, device);
    }
    if (o->stage != "task") {
      auto s = run_task_stage(*o, o->stage, o->student, t, device);
      if (!s.interrupted)
        std::cout << nlohmann::json{{"best", s.best_metrics}, {"model", t.output + "/best"}}.dump()
                  << "\n";
      return 0;
    }
    // task = intermediate into OUTPUT/intermediate, then prediction from its result into OUTPUT.
    const auto lock = io::lock_run_directory(t.output);
    const fs::path out(t.output);
    distill::TrainConfig inter = t, pred = t;
    inter.output = (out / "intermediate").string();
    inter.epochs = o->intermediate_epochs;
    inter.lr = o->intermediate_lr;
    inter.eval_every = 0;
    pred.epochs = o->prediction_epochs;
    pred.lr = o->prediction_lr;
    pred.schedule = given("--schedule") ? t.schedule : "linear";
    pred.warmup = given("--warmup") ? t.warmup : 0.1;
    if (!given("--eval-every")) pred.eval_every = 100;
    const bool inter_done = fs::exists(fs::path(inter.output) / "summary.json");
    if (!inter_done) {
      inter.resume = t.resume && fs::exists(fs::path(inter.output) / "last");
      std::cerr << "== step 1/2: intermediate layers (" << inter.epochs << " epochs, lr "
                << inter.lr << ")\n";
      auto s = run_task_stage(*o, "intermediate", o->student, inter, device);
      if (s.interrupted) return 0;
      pred.resume = false;
    } else {
      std::cerr << "== step 1/2: intermediate layers already done (" << inter.output << ")\n";
      pred.resume = t.resume && fs::exists(out / "last");
    }
    std::cerr << "== step 2/2: prediction layer (" << pred.epochs << " epochs, lr " << pred.lr
              << ")\n";
    auto s =
        run_task_stage(*o, "prediction", (fs::path(inter.output) / "best").string(), pred, device);
    if (!s.interrupted)
      std::cout << nlohmann::json{{"best", s.best_metrics}, {"model", t.output + "/best"}}.dump()
                << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
