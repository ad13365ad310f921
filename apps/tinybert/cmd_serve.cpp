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
    double max_delay_ms = 5, timeout_s = 30, request_timeout_s = 10, idle_timeout_s = 5;
    size_t max_body_kib = 1024;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto& s = o->s;
  auto* cmd = app.add_subcommand(
      "serve", "serve a sequence-classification model over HTTP (POST /v1/predict, GET / page)");
  cmd->add_option("--model", s.model, "HF-format BertForSequenceClassification directory")
      ->required();
  cmd->add_option("--name", s.name, "model name in /v1/models (default: directory name)");
  cmd->add_option("--host", s.host, "address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  cmd->add_option("--port", s.port, "port (0: any free port, printed)")
      ->capture_default_str()
      ->check(in_range(0, 65535));
  cmd->add_option("--max-batch", s.batcher.max_batch, "rows per forward pass")
      ->capture_default_str()
      ->check(positive(4096));
  cmd->add_option("--max-delay-ms", o->max_delay_ms,
                  "longest wait for requests being received to join a batch")
      ->capture_default_str()
      ->check(non_negative(10000));
  cmd->add_option("--max-queue", s.batcher.max_queue,
                  "requests waiting for the model; more get 429")
      ->capture_default_str()
      ->check(positive(1 << 20));
  cmd->add_option("--max-inputs", s.max_inputs, "texts per request; more get 413")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--max-body-kib", o->max_body_kib,
                  "request body limit, whatever the transfer encoding; larger get 413")
      ->capture_default_str()
      ->check(positive(1 << 20));
  cmd->add_option("--timeout", o->timeout_s, "seconds a request may wait for the model (503)")
      ->capture_default_str()
      ->check(in_range(0.001, 86400));
  cmd->add_option("--request-timeout", o->request_timeout_s,
                  "seconds from a request's first byte to its last (else 408)")
      ->capture_default_str()
      ->check(in_range(0.1, 3600));
  cmd->add_option("--idle-timeout", o->idle_timeout_s,
                  "seconds a kept-alive connection may wait for its next request")
      ->capture_default_str()
      ->check(in_range(0.1, 3600));
  cmd->add_option("--http-threads", s.connections.workers,
                  "requests processed at once (a request takes one only once it has arrived)")
      ->capture_default_str()
      ->check(positive(4096));
  cmd->add_option("--max-connections", s.connections.max_connections,
                  "open connections; more are answered 503")
      ->capture_default_str()
      ->check(positive(900));  // below select()'s 1024 descriptors, which httplib may use
  cmd->add_option("--max-length", o->max_length, "tokens per input (longer: truncated or 422)")
      ->capture_default_str()
      ->check(in_range(2, 1 << 20));
  cmd->add_option("--dtype", o->dtype, "fp32 | bf16 | fp16 (GPU)")->capture_default_str();
  cmd->add_flag("--allow-untrained-head", s.predictor.allow_untrained_head,
                "serve a classifier whose checkpoint lacks its head (random predictions)");
  add_workers_option(cmd, s.predictor.workers);
  add_answer_options(cmd, s.predictor.qa);
  add_common_options(cmd, o->common);
  return [o]() {
    auto& s = o->s;
    using std::chrono::milliseconds;
    auto ms = [](double seconds) { return milliseconds(static_cast<int64_t>(seconds * 1000)); };
    s.predictor.device = start_runtime(o->common);
    s.predictor.dtype = runtime::parse_dtype(o->dtype, s.predictor.device);
    s.predictor.max_length = o->max_length;
    s.batcher.max_delay = std::chrono::microseconds(static_cast<int64_t>(o->max_delay_ms * 1000));
    s.timeout = ms(o->timeout_s);
    s.connections.request_timeout = ms(o->request_timeout_s);
    s.connections.idle_timeout = ms(o->idle_timeout_s);
    s.connections.max_body = o->max_body_kib * 1024;
    return serve::run_server(s);
  };
}

}  // namespace tinybert::cli
