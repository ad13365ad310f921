// Distillation step time: one intermediate-layer step and one prediction-layer step (forward,
// losses, backward, optimizer) at given teacher/student shapes, fp32 and with a bf16 teacher,
// against the same steps written in Python PyTorch the way the reference code runs them (teacher
// in train mode, fp32, every output computed), measured in the same run.
// Usage: bench_distill [--batch 32] [--seq 128] [--steps 3] [--teacher 12,768,3072] [--student
// 4,312,1200]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "tinybert/distill/objectives.h"
#include "tinybert/model/heads.h"
#include "tinybert/runtime/runtime.h"

using namespace tinybert;

namespace {

model::BertConfig shape(const std::vector<int64_t>& s, int64_t heads) {
  model::BertConfig c;
  c.num_hidden_layers = s.at(0);
  c.hidden_size = s.at(1);
  c.intermediate_size = s.at(2);
  c.num_attention_heads = heads;
  c.architecture = model::Architecture::SequenceClassification;
  c.labels = {"a", "b"};
  return c;
}

model::AutoBert make(const model::BertConfig& c) {
  return model::init_model(c, 42);
}

template <typename F>
double time_ms(int steps, F&& step) {
  step();  // warm-up
  double best = 1e30;
  for (int i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    best = std::min(
        best,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"distillation step benchmark"};
  int64_t batch = 32, seq = 128, heads = 12;
  int steps = 3, threads = 0;
  std::vector<int64_t> t_shape{12, 768, 3072}, s_shape{4, 312, 1200};
  bool no_baseline = false;
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--seq", seq)->capture_default_str();
  app.add_option("--steps", steps, "timed steps (best of)")->capture_default_str();
  app.add_option("--teacher", t_shape, "layers,hidden,ffn")->delimiter(',');
  app.add_option("--student", s_shape, "layers,hidden,ffn")->delimiter(',');
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--threads", threads, "0: one per core")->capture_default_str();
  app.add_flag("--no-baseline", no_baseline, "skip the Python PyTorch baseline");
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads > 0 ? threads
                                  : static_cast<int>(std::thread::hardware_concurrency()));
  runtime::tune_allocator();
  runtime::report(std::cout, torch::kCPU);
  torch::manual_seed(0);

  auto tc = shape(t_shape, heads), sc = shape(s_shape, heads);
  auto tok = text::Tokenizer::from_vocab(std::string(TINYBERT_FIXTURES) + "/vocab.txt");
  std::string text;
  for (int64_t i = 0; i + 2 < seq; ++i) text += "word ";
  std::vector<data::Example> rows(batch, data::Example{text, std::nullopt, "a", 0});
  data::TaskSpec spec{
      "generic", data::TaskKind::Classification, {"a", "b"}, {"accuracy"}, "accuracy"};
  auto ds = data::Dataset::encode(rows, spec, tok, seq, "bench");
  std::vector<int64_t> idx(batch);
  std::iota(idx.begin(), idx.end(), 0);
  auto b = ds.batch(idx, torch::kCPU);
  std::printf(
      "teacher %ldL-%ldH-%ldI, student %ldL-%ldH-%ldI, %ld heads, batch %ld x seq %ld, %d "
      "threads\n",
      long(tc.num_hidden_layers), long(tc.hidden_size), long(tc.intermediate_size),
      long(sc.num_hidden_layers), long(sc.hidden_size), long(sc.intermediate_size), long(heads),
      long(batch), long(seq), at::get_num_threads());

  struct Row {
    std::string name;
    double ms;
  };
  std::vector<Row> rows_out;
  double teacher_ms = 0;  // fp32 teacher forward alone: what no step can go below
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    const std::string tag = dtype == torch::kFloat ? "fp32 teacher" : "bf16 teacher";
    auto teacher = make(tc);
    teacher->to(dtype);
    auto student = make(sc);
    distill::FitDense fit(sc.hidden_size, tc.hidden_size);
    auto map = distill::LayerMap::uniform(tc.num_hidden_layers, sc.num_hidden_layers);
    distill::IntermediateObjective inter(teacher, student, fit, map, {}, tok);
    train::Optimizer opt_i(inter.trainable(), {});
    inter.train_mode(true);
    if (dtype == torch::kFloat) {
      torch::NoGradGuard no_grad;
      teacher_ms = time_ms(steps, [&] {
        teacher->forward(b.inputs,
                         {.hidden_states = true, .attention_scores = true, .heads = false});
      });
    }
    double ms = time_ms(steps, [&] {
      inter.loss(b).total.backward();
      opt_i.step(1e-5);
      opt_i.zero_grad();
    });
    rows_out.push_back({"intermediate step, " + tag, ms});

    auto student2 = make(sc);
    auto t0 = std::chrono::steady_clock::now();
    distill::PredictionObjective pred(teacher, student2, {}, ds, tok, {nullptr, spec, batch},
                                      torch::kCPU, "");
    double cache_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    train::Optimizer opt_p(pred.trainable(), {});
    pred.train_mode(true);
    ms = time_ms(steps, [&] {
      pred.loss(b).total.backward();
      opt_p.step(1e-5);
      opt_p.zero_grad();
    });
    rows_out.push_back({"prediction step, " + tag + " (logits cached)", ms});
    rows_out.push_back(
        {"prediction step, " + tag + " (first epoch: + teacher logits)", ms + cache_ms});
  }
  for (const auto& r : rows_out)
    std::printf("  tinybert %-58s %9.1f ms/step  %7.1f examples/s\n", r.name.c_str(), r.ms,
                batch * 1000.0 / r.ms);
  std::printf("  of which the fp32 teacher forward alone (outputs for the losses) %9.1f ms\n",
              teacher_ms);

  if (no_baseline) return 0;
  auto csv = [](const std::vector<int64_t>& v) {
    return std::to_string(v[0]) + "," + std::to_string(v[1]) + "," + std::to_string(v[2]);
  };
  std::string cmd = "OMP_NUM_THREADS=" + std::to_string(at::get_num_threads()) +
                    " /usr/bin/python3 " TINYBERT_BENCH "/distill_step_baseline.py --batch " +
                    std::to_string(batch) + " --seq " + std::to_string(seq) + " --steps " +
                    std::to_string(steps) + " --heads " + std::to_string(heads) + " --teacher " +
                    csv(t_shape) + " --student " + csv(s_shape) + " --threads " +
                    std::to_string(at::get_num_threads());
  FILE* p = popen(cmd.c_str(), "r");
  double base_inter = -1, base_pred = -1;
  if (p) {
    if (std::fscanf(p, "%lf %lf", &base_inter, &base_pred) != 2) base_inter = base_pred = -1;
    pclose(p);
  }
  if (base_inter <= 0) {
    std::printf("baseline (Python PyTorch) failed to run: %s\n", cmd.c_str());
    return 1;
  }
  std::printf(
      "  baseline PyTorch %s (reference style) intermediate step %9.1f ms, prediction step %9.1f "
      "ms\n",
      TORCH_VERSION, base_inter, base_pred);
  std::printf(
      "speed-up vs baseline: intermediate fp32 %.2fx, bf16 teacher %.2fx; prediction fp32 %.2fx "
      "(cached: %.2fx), "
      "bf16 teacher %.2fx (cached: %.2fx)\n",
      base_inter / rows_out[0].ms, base_inter / rows_out[3].ms, base_pred / rows_out[2].ms,
      base_pred / rows_out[1].ms, base_pred / rows_out[5].ms, base_pred / rows_out[4].ms);
  std::printf(
      "fp32 teacher forward alone: %.0f%% of the baseline's intermediate step; at "
      "zero cost for everything else the step would be %.2fx faster\n",
      100.0 * teacher_ms / base_inter, base_inter / teacher_ms);
  return 0;
}
