// The distillation stages: defaults per stage, models loaded for each, and the task sequence.
#include "tinybert/distill/stages.h"

#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/data/task_data.h"
#include "tinybert/distill/objectives.h"
#include "tinybert/io/run_lock.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/runtime/distributed.h"
#include "tinybert/runtime/runtime.h"
#include "tinybert/task/task.h"

namespace tinybert::distill {

namespace fs = std::filesystem;

namespace {

// Options (long names) that only some stages read; giving one to another stage is refused.
struct StageOptions {
  const char* stage;
  std::vector<const char*> ignored;
};
const StageOptions kIgnored[] = {
    {"general",
     {"student", "task", "data", "train-file", "labels", "regression", "label-all-pieces",
      "intermediate-epochs", "intermediate-lr", "prediction-epochs", "prediction-lr"}},
    {"intermediate", {"student-config", "corpus", "prediction-epochs", "prediction-lr"}},
    {"prediction",
     {"student-config", "corpus", "layer-map", "intermediate-epochs", "intermediate-lr"}},
    {"task", {"student-config", "corpus", "epochs", "lr"}},
};

LayerMap layer_map(const DistillJob& j, const model::BertConfig& t, const model::BertConfig& s) {
  auto m = j.layer_map.empty()
               ? LayerMap::uniform(t.num_hidden_layers, s.num_hidden_layers)
               : LayerMap::parse(j.layer_map, t.num_hidden_layers, s.num_hidden_layers);
  std::cerr << "layer map: " << m.describe() << "\n";
  return m;
}

model::LoadedModel load_teacher(const DistillJob& j, c10::Device device, bool classifier) {
  auto dtype = runtime::parse_dtype(j.teacher_dtype, device);
  auto t = model::load_model(j.teacher, {.device = device, .dtype = dtype});
  if (classifier && !model::has_labels(t.model->config.architecture))
    fail(
        "the teacher ", j.teacher, " is a ", model::architecture_name(t.model->config.architecture),
        "; task distillation needs a teacher fine-tuned on the task (run tinybert finetune first)");
  return t;
}

// The student with the teacher's head and labels (a pre-trained or general student gets a new
// head; a classifier must already have the same labels).
model::LoadedModel load_student(const std::string& dir, const model::AutoBertImpl& teacher,
                                const data::TaskSpec& spec, c10::Device device, uint64_t seed) {
  auto cfg = model::BertConfig::load((fs::path(dir) / "config.json").string());
  if (model::has_labels(cfg.architecture))
    data::check_labels(cfg.labels, spec, "the student " + dir);
  auto s = model::load_model(dir, {.architecture = teacher.config.architecture,
                                   .labels = teacher.config.labels,
                                   .device = device,
                                   .seed = seed});
  s.model->config.problem_type = teacher.config.problem_type;
  std::cerr << s.report.summary();
  return s;
}

train::TrainSummary run_general(const DistillJob& j, const train::TrainConfig& t,
                                nlohmann::json settings) {
  const c10::Device device = t.device;
  auto teacher = load_teacher(j, device, false);
  auto tok = text::Tokenizer::from_dir(j.teacher);
  auto cfg = model::BertConfig::load(j.student_config);
  cfg.architecture = model::Architecture::Base;
  const auto& tc = teacher.model->config;
  if (cfg.vocab_size != tc.vocab_size)
    fail(j.student_config, ": vocab_size ", cfg.vocab_size, " differs from the teacher's ",
         tc.vocab_size);
  auto student = model::init_model(cfg, t.seed);
  student->to(device);
  auto map = layer_map(j, tc, cfg);
  auto fit = make_fit_dense(cfg.hidden_size, tc.hidden_size, "", cfg.initializer_range);
  fit->to(device);
  IntermediateObjective obj(teacher.model, student, fit, map, j.loss, tok);
  data::CorpusSource source(j.corpus, tok, j.max_length, train::source_batch_size(t), t.seed,
                            device);
  std::cerr << "corpus: " << j.corpus << ": " << source.sequences() << " sequences of up to "
            << j.max_length << " tokens\n";
  settings["layer_map"] = map.describe();
  return train::train(t, obj, source, settings);
}

// One task step ("intermediate" or "prediction") from `student_dir` into t.output.
train::TrainSummary run_task_step(const DistillJob& j, const std::string& step,
                                  const std::string& student_dir, const train::TrainConfig& t,
                                  nlohmann::json settings) {
  const c10::Device device = t.device;
  auto teacher = load_teacher(j, device, true);
  auto tok = text::Tokenizer::from_dir(j.teacher);
  auto task = data::load_task(j.data, tok, j.max_length);
  task::check_task(task::task_of(teacher.model->config), task.spec, "the teacher " + j.teacher);
  data::check_labels(teacher.model->config.labels, task.spec, "the teacher " + j.teacher);
  auto student = load_student(student_dir, *teacher.model, task.spec, device, t.seed);
  settings.update({{"stage", step},
                   {"student", student_dir},
                   {"task", task.spec.name},
                   {"epochs", t.epochs},
                   {"lr", t.lr},
                   {"schedule", t.schedule},
                   {"warmup", t.warmup},
                   {"eval_every", t.eval_every},
                   {"output", t.output}});
  data::DatasetSource source(task.train, train::source_batch_size(t), t.seed, device);
  if (step == "intermediate") {
    auto map = layer_map(j, teacher.model->config, student.model->config);
    settings["layer_map"] = map.describe();
    auto fit = make_fit_dense(student.model->config.hidden_size, teacher.model->config.hidden_size,
                              student_dir, student.model->config.initializer_range);
    fit->to(device);
    IntermediateObjective obj(teacher.model, student.model, fit, map, j.loss, tok);
    print_settings("distill", settings);
    return train::train(t, obj, source, settings);
  }
  PredictionObjective obj(teacher.model, student.model, j.loss, task.train, tok,
                          {&task.dev, task.spec, j.eval_batch_size}, device, student_dir);
  print_settings("distill", settings);
  auto summary = train::train(t, obj, source, settings);
  if (runtime::group().rank() == 0)
    std::cerr << "teacher logits: " << task.train.size() << " examples in "
              << obj.teacher_forwards() << " forward passes"
              << (runtime::group().distributed() ? " on rank 0 (the ranks share the work)" : "")
              << ", cached for every epoch\n";
  return summary;
}

// Intermediate into OUTPUT/intermediate, then prediction from its best/ into OUTPUT; --resume
// continues whichever step was running.
train::TrainSummary run_task(const DistillJob& j, const std::set<std::string>& given,
                             const nlohmann::json& settings) {
  const auto lock = io::lock_run_directory(j.train.output);
  const fs::path out(j.train.output);
  auto inter = step_config(j, "intermediate", given), pred = step_config(j, "prediction", given);
  inter.output = (out / "intermediate").string();
  const bool resuming = j.train.resume || j.train.resume_auto;
  if (!fs::exists(fs::path(inter.output) / "summary.json")) {
    inter.resume = resuming && fs::exists(fs::path(inter.output) / "last");
    std::cerr << "== step 1/2: intermediate layers (" << inter.epochs << " epochs, lr " << inter.lr
              << ")\n";
    auto s = run_task_step(j, "intermediate", j.student, inter, settings);
    if (s.interrupted) return s;
    pred.resume = pred.resume_auto = false;
  } else {
    std::cerr << "== step 1/2: intermediate layers already done (" << inter.output << ")\n";
    pred.resume = resuming && fs::exists(out / "last");
  }
  std::cerr << "== step 2/2: prediction layer (" << pred.epochs << " epochs, lr " << pred.lr
            << ")\n";
  return run_task_step(j, "prediction", (fs::path(inter.output) / "best").string(), pred, settings);
}

}  // namespace

void resolve(DistillJob& j, const std::set<std::string>& given) {
  for (const auto& s : kIgnored) {
    if (j.stage != s.stage) continue;
    for (const char* name : s.ignored)
      if (given.count(name))
        fail("--", name, " does not apply to --stage ", j.stage,
             j.stage == "task" && (std::string(name) == "epochs" || std::string(name) == "lr")
                 ? " (it runs two steps: give --intermediate-epochs/--prediction-epochs and "
                   "--intermediate-lr/--prediction-lr)"
                 : "");
  }
  if (j.stage == "general") {
    if (j.corpus.empty() || j.student_config.empty())
      fail("--stage general needs --corpus and --student-config");
  } else if (j.stage == "intermediate" || j.stage == "prediction" || j.stage == "task") {
    if (j.student.empty() || j.data.task.empty() || j.data.data_dir.empty())
      fail("--stage ", j.stage, " needs --student, --task and --data");
    if (!given.count("max-length")) j.max_length = data::task_spec(j.data.task).pair ? 128 : 64;
  } else {
    fail("--stage must be general, intermediate, prediction or task, found \"", j.stage, "\"");
  }
}

train::TrainConfig step_config(const DistillJob& j, const std::string& step,
                               const std::set<std::string>& given) {
  auto has = [&](const char* name) { return given.count(name) > 0; };
  train::TrainConfig t = j.train;
  if (step == "general") {
    if (!has("epochs")) t.epochs = 3;
    if (!has("lr")) t.lr = 5e-5;
    return t;
  }
  const bool inter = step == "intermediate";
  if (!has("epochs")) t.epochs = inter ? j.intermediate_epochs : j.prediction_epochs;
  if (!has("lr")) t.lr = inter ? j.intermediate_lr : j.prediction_lr;
  if (!has("schedule")) t.schedule = inter ? "constant" : "linear";
  if (!has("warmup")) t.warmup = inter ? 0 : 0.1;
  if (inter)
    t.eval_every = 0;  // the intermediate step has no dev metric
  else if (!has("eval-every"))
    t.eval_every = 100;
  return t;
}

train::TrainSummary run(const DistillJob& j, const std::set<std::string>& given,
                        const nlohmann::json& settings) {
  auto s = settings;
  s.update({{"stage", j.stage},
            {"teacher", j.teacher},
            {"teacher_dtype", j.teacher_dtype},
            {"max_length", j.max_length},
            {"temperature", j.loss.temperature},
            {"t2_scaling", j.loss.t2_scaling},
            {"hard_label_weight", j.loss.hard_label_weight}});
  if (j.stage == "general") {
    const auto t = step_config(j, "general", given);
    s.update({{"student_config", j.student_config},
              {"corpus", j.corpus},
              {"epochs", t.epochs},
              {"lr", t.lr}});
    print_settings("distill", s);
    return run_general(j, t, s);
  }
  s.update(j.data.to_json());
  if (j.stage == "task") return run_task(j, given, s);
  return run_task_step(j, j.stage, j.student, step_config(j, j.stage, given), s);
}

}  // namespace tinybert::distill
