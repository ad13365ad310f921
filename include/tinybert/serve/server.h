// tinybert serve: the HTTP inference service around an infer::Predictor and a Batcher.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <chrono>
#include <string>

#include "tinybert/serve/batcher.h"

namespace tinybert::serve {

// What one client may take of the HTTP front end. A request is read whole by one thread for all
// connections before a worker serves it, so slow or idle clients hold no worker.
struct ConnectionLimits {
  size_t workers = 128;          // requests processed at once (--http-threads)
  size_t max_connections = 256;  // open at once; more are answered 503 and closed
  size_t max_head = 16 << 10;    // request line + headers in bytes; more: 431
  size_t max_body = 1 << 20;     // body bytes, whatever the transfer encoding; more: 413
  size_t keep_alive_max = 1000;  // requests per connection
  std::chrono::milliseconds request_timeout{10000};  // first byte to last of a request: else 408
  std::chrono::milliseconds idle_timeout{5000};      // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{10000};    // a client this slow to read is dropped
};

struct ServerOptions {
  std::string model;               // HF-format BertForSequenceClassification directory
  std::string name;                // shown by /v1/models; default: the directory's name
  std::string host = "127.0.0.1";  // 0.0.0.0 to listen on every interface
  int port = 8080;                 // 0: any free port (printed at start)
  infer::PredictorOptions predictor;
  BatcherOptions batcher;
  ConnectionLimits connections;
  size_t max_inputs = 256;                   // texts per request; more get 413
  std::chrono::milliseconds timeout{30000};  // queue wait before 503
};

// Listens, loads the model (GET /health is 503 until then), serves until SIGINT/SIGTERM, then
// stops accepting, answers the requests in flight, and returns 0. Load failures throw.
int run_server(const ServerOptions& options);

}  // namespace tinybert::serve
