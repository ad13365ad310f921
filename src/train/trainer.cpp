// The training loop: steps, evaluation, checkpoints, resumption, logging, stop signals.
#include "tinybert/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/core/progress.h"
#include "tinybert/core/stop.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/io/run_lock.h"
#include "tinybert/io/tensor_file.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/runtime/distributed.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::train {

namespace fs = std::filesystem;

// ---- the loop

namespace {

using Clock = std::chrono::steady_clock;

// The default random generator of a device (the CPU's, or a GPU's).
at::Generator generator(c10::Device device) {
  return device.is_cpu() ? at::detail::getDefaultCPUGenerator()
                         : at::globalContext().defaultGenerator(device);
}

at::Tensor rng_state(c10::Device device) {
  auto gen = generator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(c10::Device device, const at::Tensor& t) {
  auto gen = generator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(t);
}

// Where the loop is; saved in last/trainer_state.json.
struct State {
  int64_t step = 0, epoch = 0, batch_in_epoch = 0;
  double best = -1e300;
  nlohmann::json best_metrics = nlohmann::json::object();
  bool eval_pending = false;  // a stop cut this step's evaluation short: run it at resume
};

// The key of a rank's CPU random state in rng.safetensors.
std::string rng_key(int rank) {
  return rank == 0 ? "cpu" : cat("cpu.rank", rank);
}

// Loss sums between two metrics.jsonl lines.
struct Window {
  double loss = 0;
  int64_t batches = 0;
  std::map<std::string, double> terms;
};

class Loop {
 public:
  Loop(const TrainConfig& cfg, Objective& obj, data::BatchSource& data)
      : cfg_(cfg),
        obj_(obj),
        data_(data),
        out_(cfg.output),
        last_(out_ / "last"),
        best_(out_ / "best"),
        params_(obj.trainable()),
        opt_(params_, cfg.optim),
        steps_per_epoch_((data.batches_per_epoch() + cfg.grad_accum - 1) / cfg.grad_accum),
        total_(steps_per_epoch_ * cfg.epochs),
        has_metric_(!obj.main_metric().empty()),
        progress_(total_, cfg.log_every, "ex/s") {}

  TrainSummary run(const nlohmann::json& resolved) {
    agree("start the run", [&] { start(resolved); });
    same_start();
    const int64_t start_step = st_.step;
    if (st_.eval_pending) evaluate();
    while (st_.epoch < cfg_.epochs) {
      data_.start_epoch(st_.epoch);
      if (st_.batch_in_epoch > 0) data_.skip(st_.batch_in_epoch);
      obj_.train_mode(true);
      while (st_.batch_in_epoch < data_.batches_per_epoch()) {
        step();
        if (has_metric_ && cfg_.eval_every > 0 && st_.step % cfg_.eval_every == 0) evaluate();
        if (cfg_.save_every > 0 && st_.step % cfg_.save_every == 0) save_last();
        if (stop_ || (cfg_.stop_after > 0 && st_.step - start_step >= cfg_.stop_after))
          return pause();
      }
      if (has_metric_ && last_eval_step_ != st_.step) evaluate();
      if (stop_ || g_.any(stop_requested())) return pause();  // before the epoch end is recorded
      st_.batch_in_epoch = 0;
      ++st_.epoch;
      save_last();  // resumes at the start of the next epoch
    }
    return finish();
  }

 private:
  // Runs `f` on every rank; when it fails on any, every rank fails (the one that failed with its
  // own message), instead of the others waiting for it in a collective.
  void agree(const char* what, const std::function<void()>& f) {
    std::exception_ptr error;
    try {
      f();
    } catch (const Error&) {
      error = std::current_exception();
    }
    if (!g_.any(static_cast<bool>(error))) return;
    if (error) std::rethrow_exception(error);
    fail("rank ", g_.rank(), ": another rank could not ", what, " (its message says why)");
  }

  // Every rank starts from rank 0's trainable weights.
  void same_start() {
    if (!g_.distributed()) return;
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> t;
    for (const auto& [name, p] : params_) t.push_back(p);
    g_.broadcast(t);
  }

  // Refuses a used directory (unless resuming), saves the settings, restores a checkpoint. Only
  // rank 0 writes in the run directory.
  void start(const nlohmann::json& resolved) {
    if (writer_) lock_.emplace(io::lock_run_directory(cfg_.output));
    bool resuming = cfg_.resume;
    if (cfg_.resume_auto) {  // rank 0's directory decides for every rank
      resuming = g_.any(writer_ && fs::exists(last_ / "trainer_state.json"));
      if (writer_ && !resuming)
        std::cerr << "--resume auto: no checkpoint in " << cfg_.output << "; starting\n";
    }
    if (!resuming && fs::exists(last_))
      fail(cfg_.output, " already holds a run (", last_.string(),
           "); add --resume to continue it, or choose a new --output");
    if (resuming && !fs::exists(last_ / "trainer_state.json"))
      fail("--resume: ", cfg_.output, " has no resumable checkpoint (",
           (last_ / "trainer_state.json").string(), ")");
    if (writer_)
      io::write_file_atomic((out_ / "run_config.json").string(), resolved.dump(2) + "\n");
    if (resuming) {
      resume();
      if (writer_) keep_metrics_until(st_.step);
    } else {
      torch::manual_seed(cfg_.seed + static_cast<uint64_t>(g_.rank()));  // own dropout per rank
      if (writer_) std::ofstream(out_ / "metrics.jsonl", std::ios::trunc);
    }
    if (writer_) metrics_.open(out_ / "metrics.jsonl", std::ios::app);
    t0_ = Clock::now();
  }

  void resume() {
    const std::string state_path = (last_ / "trainer_state.json").string();
    obj_.load_trainable(last_.string());
    opt_.load((last_ / "optimizer.safetensors").string());
    try {
      auto j = parse_json(read_file(state_path));
      st_.step = j.at("step");
      st_.epoch = j.at("epoch");
      st_.batch_in_epoch = j.at("batch_in_epoch");
      st_.best = j.at("best");
      st_.best_metrics = j.at("best_metrics");
      st_.eval_pending = j.value("eval_pending", false);
      if (j.value("world_size", 1) != g_.size())
        fail("--resume: the run was trained on ", j.value("world_size", 1),
             " rank(s), this one has ", g_.size(),
             ": each rank's data shard and random state belong to its world size "
             "(resume with the same number of processes)");
      if (j.value("total_steps", total_) != total_)
        fail("--resume: the run was planned for ", j["total_steps"], " steps, these settings give ",
             total_, " (keep --epochs, --batch-size and the data the same)");
    } catch (const nlohmann::json::exception& e) {
      fail(state_path, ": ", e.what());
    } catch (const JsonError& e) {
      fail(state_path, ": invalid JSON: ", e.what());
    }
    auto rng = io::load_tensors((last_ / "rng.safetensors").string());
    if (!rng.count(rng_key(g_.rank())))
      fail((last_ / "rng.safetensors").string(), " has no random state for rank ", g_.rank());
    set_rng_state(c10::kCPU, rng.at(rng_key(g_.rank())));
    if (!cfg_.device.is_cpu()) {
      if (rng.count("cuda"))
        set_rng_state(cfg_.device, rng.at("cuda"));
      else
        std::cerr << "warning: " << last_.string() << " has no GPU random state (saved on the "
                  << "CPU?): dropout draws will differ from an uninterrupted run\n";
    }
    last_saved_ = st_.step;
    if (writer_)
      std::cerr << "resuming at step " << st_.step << " (epoch " << st_.epoch + 1 << ", batch "
                << st_.batch_in_epoch << ")\n";
  }

  // Drops the metrics.jsonl lines of steps after the checkpoint (they run again) and a line cut
  // short by a kill.
  void keep_metrics_until(int64_t step) {
    const std::string path = (out_ / "metrics.jsonl").string();
    if (!fs::exists(path)) return;
    std::istringstream in(read_file(path));
    std::string kept;
    for (std::string line; std::getline(in, line);) {
      try {
        if (parse_json(line).at("step").get<int64_t>() <= step) kept += line + "\n";
      } catch (const std::exception&) {
      }
    }
    io::write_file_atomic(path, kept);
  }

  // One optimizer step over up to grad_accum batches (fewer at the end of an epoch); across ranks,
  // the losses, the stop request and any non-finite loss are agreed on and the gradients averaged
  // before the step (the clipping norm is then the global gradient's).
  void step() {
    const int64_t group = std::min(cfg_.grad_accum, data_.batches_per_epoch() - st_.batch_in_epoch);
    double loss_sum = 0, bad = 0;
    std::map<std::string, double> terms;
    for (int64_t i = 0; i < group; ++i) {
      auto batch = data_.next();
      if (!batch) fail("the data ended ", group - i, " batches early in epoch ", st_.epoch + 1);
      LossTerms l;
      {
        runtime::Autocast precision(cfg_.device, cfg_.autocast);
        l = obj_.loss(*batch);
      }
      const double loss = l.total.item<double>();
      if (!std::isfinite(loss)) {
        const std::string what = cat("the loss is ", loss, " at step ", st_.step + 1, " (epoch ",
                                     st_.epoch + 1, ", batch ", st_.batch_in_epoch + 1, ")");
        if (!g_.distributed()) non_finite(what);
        std::cerr << "rank " << g_.rank() << ": " << what << "\n";
        bad = 1;
      } else {
        (l.total / static_cast<double>(group)).backward();
        loss_sum += loss;
      }
      for (const auto& [k, v] : l.terms) terms[k] += v;
      examples_ += batch->size() * g_.size();
      ++st_.batch_in_epoch;
    }
    stop_ = stop_requested();
    if (g_.distributed()) {
      std::vector<double> v{stop_ ? 1.0 : 0.0, bad, loss_sum};
      for (const auto& [k, x] : terms) v.push_back(x);
      v = g_.sum(v);
      stop_ = v[0] > 0;
      if (v[1] > 0)
        non_finite(cat("the loss is not finite on ", v[1], " of ", g_.size(), " ranks at step ",
                       st_.step + 1, " (epoch ", st_.epoch + 1, ")"));
      loss_sum = v[2] / g_.size();
      size_t i = 3;
      for (auto& [k, x] : terms) x = v[i++] / g_.size();
      average_gradients();
    }
    window_.loss += loss_sum;
    window_.batches += group;
    for (const auto& [k, x] : terms) window_.terms[k] += x;
    const double lr = scheduled_lr(cfg_.lr, st_.step, total_, cfg_.warmup, cfg_.schedule);
    double grad_norm = 0;
    try {
      grad_norm = opt_.step(lr);
    } catch (const NonFiniteGradient& e) {
      non_finite(cat("the gradient norm is ", e.norm, " at step ", st_.step + 1, " (epoch ",
                     st_.epoch + 1, ", batches ", st_.batch_in_epoch - group + 1, "-",
                     st_.batch_in_epoch, ")"));
    }
    opt_.zero_grad();
    ++st_.step;
    log(lr, grad_norm);
  }

  void average_gradients() {
    std::vector<at::Tensor> grads;
    for (const auto& [name, p] : params_)  // the same on every rank: one objective, one graph
      if (p.grad().defined()) grads.push_back(p.grad());
    g_.average(grads);
  }

  // Stops the run on a NaN/inf before it reaches the weights; last/ keeps the last good state.
  [[noreturn]] void non_finite(const std::string& what) {
    fail(what, "; stopped without saving it. ",
         last_saved_ >= 0 ? cat(last_.string(), " holds the last good state (step ", last_saved_,
                                "): continue from it with --resume after lowering --lr (now ",
                                cfg_.lr, ") or fixing the data")
                          : cat("No checkpoint was saved yet: lower --lr (now ", cfg_.lr,
                                "), or check the data for extreme values"));
  }

  void log(double lr, double grad_norm) {
    if (!writer_) {
      window_ = {};
      return;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
    const double ex_per_s = examples_ / std::max(1e-9, elapsed);
    const double loss = window_.loss / static_cast<double>(std::max<int64_t>(1, window_.batches));
    progress_.update(st_.step,
                     cat("epoch ", st_.epoch + 1, "/", cfg_.epochs, " loss ", loss, " lr ", lr),
                     ex_per_s);
    if (st_.step % cfg_.log_every != 0 && st_.step != total_) return;
    nlohmann::json j = {{"step", st_.step}, {"epoch", st_.epoch + 1}, {"lr", lr},
                        {"loss", loss},     {"grad_norm", grad_norm}, {"examples_per_s", ex_per_s}};
    for (const auto& [k, v] : window_.terms) j[k] = v / static_cast<double>(window_.batches);
    metrics_ << j.dump() << "\n" << std::flush;
    window_ = {};
  }

  void evaluate() {
    std::map<std::string, double> m;
    st_.eval_pending = true;
    bool interrupted = false;
    try {
      m = obj_.evaluate();  // the same on every rank: same weights, whole dev set
    } catch (const Interrupted&) {
      interrupted = true;
    }
    if (g_.any(interrupted)) {  // a stop mid-evaluation: saved as pending, run at resume
      obj_.train_mode(true);
      stop_ = true;
      return;
    }
    st_.eval_pending = false;
    last_eval_step_ = st_.step;
    obj_.train_mode(true);
    if (m.empty()) return;
    summary_.last_metrics = m;
    const double v = m.at(obj_.main_metric());
    const bool improved = v > st_.best;  // the same on every rank: the same metrics
    if (improved) {
      st_.best = v;
      st_.best_metrics = m;
    }
    if (!writer_) return;
    metrics_ << nlohmann::json{{"step", st_.step}, {"epoch", st_.epoch + 1}, {"eval", m}}.dump()
             << "\n"
             << std::flush;
    std::string line = cat("eval at step ", st_.step, ": ", nlohmann::json(m).dump());
    if (improved) {
      save_best();
      line += cat("  (best ", obj_.main_metric(), " so far: saved to ", best_.string(), ")");
    }
    progress_.message(line);
  }

  void save_last() {
    const auto rngs = g_.all_gather(rng_state(c10::kCPU));  // every rank's, in rank order
    last_saved_ = st_.step;
    if (!writer_) return;
    const std::string tmp = io::temp_sibling(last_.string());
    fs::create_directories(tmp);
    obj_.save(tmp);
    opt_.save((fs::path(tmp) / "optimizer.safetensors").string());
    std::vector<std::pair<std::string, at::Tensor>> rng;
    for (int r = 0; r < g_.size(); ++r) rng.emplace_back(rng_key(r), rngs[static_cast<size_t>(r)]);
    if (!cfg_.device.is_cpu()) rng.emplace_back("cuda", rng_state(cfg_.device));
    io::save_tensors((fs::path(tmp) / "rng.safetensors").string(), rng);
    nlohmann::json j = {{"step", st_.step},
                        {"epoch", st_.epoch},
                        {"batch_in_epoch", st_.batch_in_epoch},
                        {"best", st_.best},
                        {"best_metrics", st_.best_metrics},
                        {"eval_pending", st_.eval_pending},
                        {"total_steps", total_},
                        {"world_size", g_.size()}};
    io::write_file_atomic((fs::path(tmp) / "trainer_state.json").string(), j.dump(2) + "\n");
    io::replace_directory(tmp, last_.string());
  }

  void save_best() {
    const std::string tmp = io::temp_sibling(best_.string());
    fs::create_directories(tmp);
    obj_.save(tmp);
    io::replace_directory(tmp, best_.string());
  }

  TrainSummary pause() {
    save_last();
    if (writer_)
      progress_.message(cat(stop_requested() ? "stopped" : "paused", " at step ", st_.step,
                            "; continue with --resume (", last_.string(), ")"));
    summary_.interrupted = true;
    summary_.steps = st_.step;
    return summary_;
  }

  TrainSummary finish() {
    summary_.steps = st_.step;
    summary_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    summary_.best = st_.best;
    summary_.best_metrics = st_.best_metrics.get<std::map<std::string, double>>();
    if (!writer_) return summary_;
    progress_.finish();
    if (!has_metric_) save_best();  // no task metric in this stage: best/ is the final model
    nlohmann::json s = {
        {"steps", st_.step},
        {"epochs", cfg_.epochs},
        {"seconds", summary_.seconds},
        {"examples_per_s", examples_ / std::max(1e-9, summary_.seconds)},
        {"best", has_metric_ ? nlohmann::json(st_.best_metrics) : nlohmann::json(nullptr)},
        {"last", summary_.last_metrics},
        {"main_metric", obj_.main_metric()}};
    io::write_file_atomic((out_ / "summary.json").string(), s.dump(2) + "\n");
    return summary_;
  }

  const runtime::Group& g_ = runtime::group();
  const bool writer_ = g_.rank() == 0;
  const TrainConfig& cfg_;
  Objective& obj_;
  data::BatchSource& data_;
  const fs::path out_, last_, best_;
  NamedParams params_;
  Optimizer opt_;
  const int64_t steps_per_epoch_, total_;
  const bool has_metric_;
  Progress progress_;
  std::ofstream metrics_;
  State st_;
  Window window_;
  TrainSummary summary_;
  int64_t examples_ = 0, last_saved_ = -1, last_eval_step_ = -1;
  bool stop_ = false;  // agreed by all ranks
  std::optional<io::RunLock> lock_;
  Clock::time_point t0_;
};

}  // namespace

int64_t source_batch_size(const TrainConfig& cfg) {
  return cfg.batch_size * runtime::group().size();
}

TrainSummary train(const TrainConfig& cfg, Objective& obj, data::BatchSource& data,
                   const nlohmann::json& resolved) {
  if (cfg.output.empty()) fail("no --output directory");
  if (cfg.epochs <= 0) fail("--epochs must be positive");
  if (cfg.grad_accum <= 0) fail("--grad-accum must be positive");
  if (cfg.log_every <= 0) fail("--log-every must be positive");
  if (!(std::isfinite(cfg.lr) && cfg.lr > 0))
    fail("--lr must be a positive number, found ", cfg.lr);
  if (!(cfg.warmup >= 0 && cfg.warmup <= 1)) fail("--warmup must be in [0, 1], found ", cfg.warmup);
  const auto& g = runtime::group();
  std::optional<data::ShardedSource> shard;
  if (g.distributed()) shard.emplace(data, cfg.batch_size, g.rank(), g.size());
  data::BatchSource& mine = shard ? static_cast<data::BatchSource&>(*shard) : data;
  if (mine.batches_per_epoch() <= 0) fail("no training batches: the training data is empty");
  auto settings = resolved;
  const int64_t effective = cfg.batch_size * g.size() * cfg.grad_accum;
  settings["world_size"] = g.size();
  settings["effective_batch"] = effective;
  if (g.rank() == 0 && g.distributed())
    std::cerr << "effective batch " << effective << " = " << cfg.batch_size << " per rank x "
              << g.size() << " ranks x " << cfg.grad_accum << " accumulated\n";
  const StopSignals signals;
  return Loop(cfg, obj, mine).run(settings);
}

// ---- helpers of the objectives

NamedParams named_params(torch::nn::Module& m, const std::string& prefix) {
  NamedParams out;
  for (const auto& p : m.named_parameters(true))
    if (p.value().requires_grad()) out.emplace_back(prefix + p.key(), p.value());
  return out;
}

void reload_weights(model::AutoBertImpl& m, const std::string& dir) {
  auto report = model::load_state(
      m, io::SafetensorsFile::load((fs::path(dir) / "model.safetensors").string()));
  if (!report.initialized.empty())
    fail(dir, ": checkpoint lacks ", report.initialized.front(), "; cannot resume");
}

}  // namespace tinybert::train
