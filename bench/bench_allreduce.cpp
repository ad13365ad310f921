// Communication share of a data-parallel TinyBERT task-distillation step: the all-reduce of the
// student's gradients (TinyBERT4 + its projection) over c10d/Gloo on loopback, against the step's
// compute (teacher forward, student forward and backward, optimizer), at world size 2.
// Starts its own ranks (as `tinybert --nproc-per-node` does) unless RANK is set.
// Usage: bench_allreduce [--world 2] [--batch 32] [--seq 128] [--steps 3]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <thread>

#include "tinybert/distill/objectives.h"
#include "tinybert/runtime/distributed.h"
#include "tinybert/runtime/launcher.h"
#include "tinybert/runtime/runtime.h"

using namespace tinybert;

namespace {

model::BertConfig shape(int64_t layers, int64_t hidden, int64_t ffn) {
  model::BertConfig c;
  c.num_hidden_layers = layers;
  c.hidden_size = hidden;
  c.intermediate_size = ffn;
  c.num_attention_heads = 12;
  c.architecture = model::Architecture::SequenceClassification;
  c.labels = {"a", "b"};
  return c;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"all-reduce share of a data-parallel distillation step"};
  int world = 2, steps = 3;
  int64_t batch = 32, seq = 128;
  app.add_option("--world", world, "ranks to start")->capture_default_str();
  app.add_option("--batch", batch, "global batch (split between the ranks)")->capture_default_str();
  app.add_option("--seq", seq)->capture_default_str();
  app.add_option("--steps", steps, "timed steps (median)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!std::getenv("RANK")) {
    std::vector<std::string> args(argv, argv + argc);
    return runtime::launch({.nproc_per_node = world}, args);
  }
  const auto env = runtime::launch_env();
  runtime::tune_allocator();
  runtime::set_threads(0);  // the cores shared between the ranks
  runtime::init_distributed(env, torch::kCPU, std::chrono::seconds(600));
  const auto& g = runtime::group();
  torch::manual_seed(0);

  auto tc = shape(12, 768, 3072), sc = shape(4, 312, 1200);
  auto tok = text::Tokenizer::from_vocab(std::string(TINYBERT_FIXTURES) + "/vocab.txt");
  std::string text;
  for (int64_t i = 0; i + 2 < seq; ++i) text += "word ";
  const int64_t per_rank = batch / g.size();
  std::vector<data::Example> rows(per_rank, data::Example{text, std::nullopt, "a", 0});
  data::TaskSpec spec{
      "generic", data::TaskKind::Classification, {"a", "b"}, {"accuracy"}, "accuracy"};
  auto ds = data::Dataset::encode(rows, spec, tok, seq, "bench");
  std::vector<int64_t> idx(per_rank);
  std::iota(idx.begin(), idx.end(), 0);
  auto b = ds.batch(idx, torch::kCPU);

  auto teacher = model::init_model(tc, 1);
  auto student = model::init_model(sc, 2);
  distill::FitDense fit(sc.hidden_size, tc.hidden_size);
  auto map = distill::LayerMap::uniform(tc.num_hidden_layers, sc.num_hidden_layers);
  distill::IntermediateObjective obj(teacher, student, fit, map, {}, tok);
  obj.train_mode(true);
  auto params = obj.trainable();
  train::Optimizer opt(params, {});
  int64_t numel = 0;
  for (const auto& [n, p] : params) numel += p.numel();

  std::vector<double> compute, comm, update;
  for (int s = 0; s <= steps; ++s) {  // step 0 warms up
    auto t0 = std::chrono::steady_clock::now();
    obj.loss(b).total.backward();
    const double c = ms_since(t0);
    std::vector<at::Tensor> grads;
    for (const auto& [n, p] : params)
      if (p.grad().defined()) grads.push_back(p.grad());
    g.sum({0.0});  // both ranks done computing: the all-reduce below times communication alone
    t0 = std::chrono::steady_clock::now();
    g.average(grads);
    const double a = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    opt.step(1e-5);
    opt.zero_grad();
    const double u = ms_since(t0);
    if (s > 0) {
      compute.push_back(c);
      comm.push_back(a);
      update.push_back(u);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  if (g.rank() == 0) {
    const double c = median(compute), a = median(comm), u = median(update);
    std::printf(
        "teacher 12L-768H, student 4L-312H-1200I + projection: %.1fM trainable parameters "
        "(%.1f MB of fp32 gradients)\n"
        "world %d (Gloo, loopback, %d thread(s) per rank), batch %ld (%ld per rank) x seq %ld; "
        "median of %d steps\n"
        "  compute (teacher forward, student forward+backward) %9.1f ms\n"
        "  gradient all-reduce                                  %9.1f ms\n"
        "  optimizer step                                       %9.1f ms\n"
        "  communication share of the step: %.1f%% (target <= 10%%)\n",
        numel / 1e6, numel * 4 / 1e6, g.size(), at::get_num_threads(), long(batch), long(per_rank),
        long(seq), steps, c, a, u, 100.0 * a / (c + a + u));
  }
  return 0;
}
