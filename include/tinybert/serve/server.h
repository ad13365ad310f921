// tinybert serve: the HTTP inference service (cpp-httplib) around a Predictor and a Batcher.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <chrono>
#include <string>

#include "tinybert/serve/batcher.h"

namespace tinybert::serve {

struct ServerOptions {
  std::string model;               // HF-format BertForSequenceClassification directory
  std::string name;                // shown by /v1/models; default: the directory's name
  std::string host = "127.0.0.1";  // 0.0.0.0 to listen on every interface
  int port = 8080;                 // 0: any free port (printed at start)
  PredictorOptions predictor;
  BatcherOptions batcher;
  size_t http_threads = 128;                 // connections served at once
  size_t max_body = 1 << 20;                 // bytes; larger bodies get 413
  size_t max_inputs = 256;                   // texts per request; more get 413
  std::chrono::milliseconds timeout{30000};  // queue wait before 503
  std::chrono::seconds read_timeout{10};     // a client this slow to send is cut off
};

// Listens, loads the model (GET /health is 503 until then), serves until SIGINT/SIGTERM, then
// stops accepting, answers the requests in flight, and returns 0. Load failures throw.
int run_server(const ServerOptions& options);

}  // namespace tinybert::serve
