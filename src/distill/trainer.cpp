// The training loop: steps, evaluation, checkpoints, resumption, logging, stop signals.
#include "tinybert/distill/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/core/progress.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/io/tensor_file.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::distill {

namespace fs = std::filesystem;

// ---- stop signals

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int sig) {
  if (g_stop.exchange(true)) std::_Exit(128 + sig);  // second signal: leave now
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

bool stop_requested() {
  return g_stop.load();
}

namespace {

using Clock = std::chrono::steady_clock;

struct State {
  int64_t step = 0, epoch = 0, batch_in_epoch = 0;
  double best = -1e300;
  nlohmann::json best_metrics = nlohmann::json::object();
};

at::Tensor rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const at::Tensor& t) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(t);
}

std::string json_metrics(const std::map<std::string, double>& m) {
  return nlohmann::json(m).dump();
}

}  // namespace

TrainSummary train(const TrainConfig& cfg, Objective& obj, data::BatchSource& data,
                   const nlohmann::json& resolved) {
  if (cfg.output.empty()) fail("no --output directory");
  if (cfg.epochs <= 0) fail("--epochs must be positive");
  if (cfg.grad_accum <= 0) fail("--grad-accum must be positive");
  const fs::path out(cfg.output), last = out / "last", best = out / "best";
  if (!cfg.resume && fs::exists(last))
    fail(cfg.output, " already holds a run (", last.string(),
         "); add --resume to continue it, or choose a new --output");
  if (cfg.resume && !fs::exists(last / "trainer_state.json"))
    fail("--resume: ", cfg.output, " has no resumable checkpoint (",
         (last / "trainer_state.json").string(), ")");
  fs::create_directories(out);
  io::write_file_atomic((out / "run_config.json").string(), resolved.dump(2) + "\n");

  Optimizer opt(obj.trainable(), cfg.optim);
  const int64_t batches = data.batches_per_epoch();
  const int64_t steps_per_epoch = (batches + cfg.grad_accum - 1) / cfg.grad_accum;
  const int64_t total = steps_per_epoch * cfg.epochs;
  const bool has_metric = !obj.main_metric().empty();

  State st;
  if (cfg.resume) {
    obj.load_trainable(last.string());
    opt.load((last / "optimizer.safetensors").string());
    auto j = nlohmann::json::parse(read_file((last / "trainer_state.json").string()));
    st.step = j["step"];
    st.epoch = j["epoch"];
    st.batch_in_epoch = j["batch_in_epoch"];
    st.best = j["best"];
    st.best_metrics = j["best_metrics"];
    if (j.value("total_steps", total) != total)
      fail("--resume: the run was planned for ", j["total_steps"], " steps, these settings give ",
           total, " (keep --epochs, --batch-size and the data the same)");
    set_rng_state(io::load_tensors((last / "rng.safetensors").string()).at("cpu"));
    std::cerr << "resuming at step " << st.step << " (epoch " << st.epoch + 1 << ", batch "
              << st.batch_in_epoch << ")\n";
  } else {
    torch::manual_seed(cfg.seed);
    std::ofstream(out / "metrics.jsonl", std::ios::trunc);
  }
  std::ofstream metrics(out / "metrics.jsonl", std::ios::app);

  auto save_last = [&]() {
    const std::string tmp = io::temp_sibling(last.string());
    fs::create_directories(tmp);
    obj.save(tmp);
    opt.save((fs::path(tmp) / "optimizer.safetensors").string());
    io::save_tensors((fs::path(tmp) / "rng.safetensors").string(), {{"cpu", rng_state()}});
    nlohmann::json j = {{"step", st.step},
                        {"epoch", st.epoch},
                        {"batch_in_epoch", st.batch_in_epoch},
                        {"best", st.best},
                        {"best_metrics", st.best_metrics},
                        {"total_steps", total}};
    io::write_file_atomic((fs::path(tmp) / "trainer_state.json").string(), j.dump(2) + "\n");
    io::replace_directory(tmp, last.string());
  };
  auto save_best = [&]() {
    const std::string tmp = io::temp_sibling(best.string());
    fs::create_directories(tmp);
    obj.save(tmp);
    io::replace_directory(tmp, best.string());
  };

  TrainSummary summary;
  Progress progress(total, cfg.log_every, "ex/s");
  auto evaluate = [&]() {
    auto m = obj.evaluate();
    obj.train_mode(true);
    if (m.empty()) return;
    summary.last_metrics = m;
    metrics << nlohmann::json{{"step", st.step}, {"epoch", st.epoch + 1}, {"eval", m}}.dump()
            << "\n"
            << std::flush;
    const double v = m.at(obj.main_metric());
    std::string line = cat("eval at step ", st.step, ": ", json_metrics(m));
    if (v > st.best) {
      st.best = v;
      st.best_metrics = m;
      save_best();
      line += cat("  (best ", obj.main_metric(), " so far: saved to ", best.string(), ")");
    }
    progress.message(line);
  };

  const int64_t start_step = st.step;
  const auto t0 = Clock::now();
  int64_t examples = 0;
  std::map<std::string, double> term_sums;
  double loss_sum = 0;
  int64_t loss_count = 0;
  while (st.epoch < cfg.epochs) {
    data.start_epoch(st.epoch);
    if (st.batch_in_epoch > 0) data.skip(st.batch_in_epoch);
    obj.train_mode(true);
    bool epoch_done = false;
    while (!epoch_done) {
      int64_t in_step = 0;
      for (; in_step < cfg.grad_accum; ++in_step) {
        auto batch = data.next();
        if (!batch) {
          epoch_done = true;
          break;
        }
        LossTerms l;
        {
          runtime::Autocast precision(cfg.device, cfg.autocast);
          l = obj.loss(*batch);
        }
        (l.total / static_cast<double>(cfg.grad_accum)).backward();
        loss_sum += l.total.item<double>();
        ++loss_count;
        for (const auto& [k, v] : l.terms) term_sums[k] += v;
        examples += batch->size();
        ++st.batch_in_epoch;
      }
      if (in_step == 0) break;
      const double lr = scheduled_lr(cfg.lr, st.step, total, cfg.warmup, cfg.schedule);
      const double grad_norm = opt.step(lr);
      opt.zero_grad();
      ++st.step;
      const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      const double ex_per_s = examples / std::max(1e-9, elapsed);
      progress.update(
          st.step,
          cat("epoch ", st.epoch + 1, "/", cfg.epochs, " loss ",
              loss_sum / static_cast<double>(std::max<int64_t>(1, loss_count)), " lr ", lr),
          ex_per_s);
      if (st.step % cfg.log_every == 0 || st.step == total) {
        nlohmann::json j = {{"step", st.step},
                            {"epoch", st.epoch + 1},
                            {"lr", lr},
                            {"loss", loss_sum / loss_count},
                            {"grad_norm", grad_norm},
                            {"examples_per_s", ex_per_s}};
        for (const auto& [k, v] : term_sums) j[k] = v / loss_count;
        metrics << j.dump() << "\n" << std::flush;
        term_sums.clear();
        loss_sum = 0;
        loss_count = 0;
      }
      if (has_metric && cfg.eval_every > 0 && st.step % cfg.eval_every == 0) evaluate();
      if (cfg.save_every > 0 && st.step % cfg.save_every == 0) save_last();  // survives a crash
      if (stop_requested() || (cfg.stop_after > 0 && st.step - start_step >= cfg.stop_after)) {
        save_last();
        progress.message(cat(stop_requested() ? "stopped" : "paused", " at step ", st.step,
                             "; continue with --resume (", last.string(), ")"));
        summary.interrupted = true;
        summary.steps = st.step;
        return summary;
      }
    }
    if (has_metric && (cfg.eval_every == 0 || st.step % cfg.eval_every != 0)) evaluate();
    st.batch_in_epoch = 0;
    ++st.epoch;
    save_last();  // resumes at the start of the next epoch
  }
  progress.finish();
  if (!has_metric) save_best();  // no task metric in this stage: best/ is the final model
  summary.steps = st.step;
  summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  summary.best = st.best;
  summary.best_metrics = st.best_metrics.get<std::map<std::string, double>>();
  nlohmann::json s = {
      {"steps", st.step},
      {"epochs", cfg.epochs},
      {"seconds", summary.seconds},
      {"examples_per_s", examples / std::max(1e-9, summary.seconds)},
      {"best", has_metric ? nlohmann::json(st.best_metrics) : nlohmann::json(nullptr)},
      {"last", summary.last_metrics},
      {"main_metric", obj.main_metric()}};
  io::write_file_atomic((out / "summary.json").string(), s.dump(2) + "\n");
  return summary;
}

}  // namespace tinybert::distill
