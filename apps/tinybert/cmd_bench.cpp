// tinybert bench: inference latency percentiles and throughput of a model at given batch sizes
// and sequence length (the serving path: model::infer), its FLOPs per sequence and achieved
// GFLOP/s, and the bf16-vs-fp32 difference; an int8 model (tinybert quantize) runs as int8.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/model/infer.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/runtime/runtime.h"
#include "train_options.h"

namespace tinybert::cli {

namespace {

// Random token ids (no padding), as a serving batch of full-length inputs looks.
model::BertInputs random_inputs(int64_t batch, int64_t seq, int64_t vocab, c10::Device device) {
  auto ids = torch::randint(1000, vocab, {batch, seq}, torch::kLong);
  ids.select(1, 0).fill_(101);
  ids.select(1, seq - 1).fill_(102);
  return {ids.to(device), torch::zeros_like(ids).to(device), torch::ones_like(ids).to(device)};
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5))];
}

}  // namespace

Runner add_bench(CLI::App& app) {
  struct Options {
    std::string model, dtype = "fp32", json;
    std::vector<int64_t> batches{1, 32};
    int64_t seq = 128, warmup = 3;
    int workers = 0;
    double seconds = 3.0;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("bench", "inference latency and throughput of a model");
  cmd->add_option("--model", o->model, "HF-format model directory")->required();
  cmd->add_option("--batch", o->batches, "batch sizes")
      ->delimiter(',')
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--seq", o->seq, "tokens per sequence")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "fp32 | bf16 | fp16 (GPU)")->capture_default_str();
  cmd->add_option("--seconds", o->seconds, "time spent measuring each batch size")
      ->capture_default_str()
      ->check(positive(86400));
  cmd->add_option("--warmup", o->warmup, "untimed runs first")
      ->capture_default_str()
      ->check(non_negative(1e6));
  add_workers_option(cmd, o->workers);
  cmd->add_option("--json", o->json, "also write the results to this JSON file");
  add_common_options(cmd, o->common);
  return [o]() {
    c10::Device device = start_runtime(o->common);
    const auto dtype = runtime::parse_dtype(o->dtype, device);
    auto loaded =
        model::load_model(o->model, {.device = device, .dtype = dtype, .allow_int8 = true});
    auto& m = *loaded.model;
    model::prepare_inference(*m.bert);
    const auto& c = m.config;
    const std::string weights = c.int8 ? "int8" : o->dtype;
    if (o->seq < 2 || o->seq > c.max_position_embeddings)
      fail("--seq ", o->seq, " must be in 2..", c.max_position_embeddings,
           " (max_position_embeddings)");
    int64_t params = 0;
    for (const auto& p : m.parameters()) params += p.numel();
    const double flops = static_cast<double>(model::forward_flops(c, o->seq));
    const double run_flops = static_cast<double>(model::inference_flops(c, o->seq));
    std::unique_ptr<runtime::Workers> workers;
    if (device.is_cpu() && o->workers != 1)
      workers = std::make_unique<runtime::Workers>(o->workers);
    torch::manual_seed(0);
    nlohmann::ordered_json out = {{"model", o->model},
                                  {"architecture", model::architecture_name(c.architecture)},
                                  {"parameters", params},
                                  {"dtype", weights},
                                  {"device", device.str()},
                                  {"threads", at::get_num_threads()},
                                  {"workers", workers ? workers->size() : 1},
                                  {"seq", o->seq},
                                  {"gflops_per_sequence", flops / 1e9},
                                  {"gflops_run_per_sequence", run_flops / 1e9},
                                  {"results", nlohmann::ordered_json::array()}};
    std::printf(
        "%s: %s, %.1fM parameters, %s on %s, %d threads, %d workers, seq %ld, %.3g GFLOP per "
        "sequence (%.3g run: GFLOP/s counts these)\n",
        o->model.c_str(), model::architecture_name(c.architecture).c_str(), params / 1e6,
        weights.c_str(), device.str().c_str(), at::get_num_threads(), workers ? workers->size() : 1,
        long(o->seq), flops / 1e9, run_flops / 1e9);
    std::printf("%6s %10s %10s %10s %12s %10s\n", "batch", "p50 ms", "p90 ms", "p99 ms", "seq/s",
                "GFLOP/s");
    torch::InferenceMode guard;
    for (int64_t b : o->batches) {
      if (b <= 0) fail("--batch sizes must be positive");
      auto in = random_inputs(b, o->seq, c.vocab_size, device);
      for (int64_t i = 0; i < o->warmup; ++i) model::infer(m, in, workers.get());
      std::vector<double> ms;
      const auto start = std::chrono::steady_clock::now();
      while (ms.size() < 5 ||
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
                 o->seconds) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = model::infer(m, in, workers.get());
        if (device.is_cuda()) torch::cuda::synchronize();
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      const double p50 = percentile(ms, 50), seq_s = b * 1000.0 / p50;
      std::printf("%6ld %10.2f %10.2f %10.2f %12.1f %10.1f\n", long(b), p50, percentile(ms, 90),
                  percentile(ms, 99), seq_s, seq_s * run_flops / 1e9);
      out["results"].push_back({{"batch", b},
                                {"runs", ms.size()},
                                {"p50_ms", p50},
                                {"p90_ms", percentile(ms, 90)},
                                {"p99_ms", percentile(ms, 99)},
                                {"sequences_per_s", seq_s},
                                {"gflop_per_s", seq_s * run_flops / 1e9}});
    }
    if (dtype != torch::kFloat) {
      // Accuracy of the reduced precision: the same inputs through an fp32 copy of the model.
      auto ref = model::load_model(o->model, {.device = device});
      auto in = random_inputs(8, o->seq, c.vocab_size, device);
      auto low = m.forward(in), high = ref.model->forward(in);
      auto pick = [](const model::ModelOutput& r) {
        return (r.logits.defined() ? r.logits : r.bert.last_hidden_state)
            .to(torch::kCPU, torch::kFloat);
      };
      auto a = pick(low), b = pick(high);
      const double diff = (a - b).abs().max().item<double>();
      const bool logits = low.logits.defined();
      const double agree =
          logits ? (a.argmax(-1) == b.argmax(-1)).to(torch::kFloat).mean().item<double>() : 1.0;
      std::printf(
          "%s vs fp32 on 8 random inputs: max |difference| %.3g (%s), top-1 agreement %.1f%%\n",
          o->dtype.c_str(), diff, logits ? "logits" : "last hidden state", agree * 100);
      out["vs_fp32"] = {{"max_abs_diff", diff}, {"top1_agreement", agree}};
    }
    if (!o->json.empty()) io::write_file_atomic(o->json, out.dump(2) + "\n");
    return 0;
  };
}

}  // namespace tinybert::cli
