// tinybert serve: the HTTP inference service with dynamic batching, metrics and a try-it page.
#include <iostream>

#include "commands.h"
#include "tinybert/runtime/runtime.h"
#include "tinybert/serve/server.h"

namespace tinybert::cli {

Runner add_serve(CLI::App& app) {
  struct Options {
    serve::ServerOptions s;
    std::string dtype = "fp32";
    size_t max_length = 128;
    double max_delay_ms = 5, timeout_s = 30;
    size_t max_body_kib = 1024;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "serve", "serve a sequence-classification model over HTTP (POST /v1/predict, GET / page)");
  cmd->add_option("--model", o->s.model, "HF-format BertForSequenceClassification directory")
      ->required();
  cmd->add_option("--name", o->s.name, "model name in /v1/models (default: directory name)");
  cmd->add_option("--host", o->s.host, "address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  cmd->add_option("--port", o->s.port, "port (0: any free port, printed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--max-batch", o->s.batcher.max_batch, "rows per forward pass")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--max-delay-ms", o->max_delay_ms,
                  "longest wait for requests being received to join a batch")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--max-queue", o->s.batcher.max_queue,
                  "requests waiting for the model; more get 429")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--max-inputs", o->s.max_inputs, "texts per request; more get 413")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--max-body-kib", o->max_body_kib, "request body limit; larger get 413")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--timeout", o->timeout_s, "seconds a request may wait for the model (503)")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--http-threads", o->s.http_threads, "connections served at once")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--max-length", o->max_length, "tokens per input (longer: truncated or 422)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--dtype", o->dtype, "fp32 | bf16 | fp16 (GPU)")->capture_default_str();
  add_workers_option(cmd, o->s.predictor.workers);
  add_common_options(cmd, o->common);
  return [o]() {
    auto& s = o->s;
    s.predictor.device = start_runtime(o->common);
    s.predictor.dtype = runtime::parse_dtype(o->dtype, s.predictor.device);
    s.predictor.max_length = o->max_length;
    s.batcher.max_delay = std::chrono::microseconds(static_cast<int64_t>(o->max_delay_ms * 1000));
    s.timeout = std::chrono::milliseconds(static_cast<int64_t>(o->timeout_s * 1000));
    s.max_body = o->max_body_kib * 1024;
    return serve::run_server(s);
  };
}

}  // namespace tinybert::cli
