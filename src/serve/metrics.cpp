// Metrics: thread-safe counters and histograms, and their Prometheus text rendering.
#include "tinybert/serve/metrics.h"

#include <cstdio>

namespace tinybert::serve {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::lock_guard lock(mu_);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  std::lock_guard lock(mu_);
  header(out, name, help, "histogram");
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      batch_size_({1, 2, 4, 8, 16, 32, 64, 128, 256}) {}

void Metrics::request(const std::string& path, int status, double seconds) {
  {
    std::lock_guard lock(mu_);
    ++requests_[{path, status}];
  }
  latency_.observe(seconds);
}

void Metrics::batch(size_t size) {
  batch_size_.observe(static_cast<double>(size));
}

std::string Metrics::prometheus() const {
  std::string out;
  header(out, "tinybert_requests_total", "HTTP requests answered, by route and status.", "counter");
  uint64_t errors = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_) {
      out += "tinybert_requests_total{path=\"" + key.first + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
      if (key.second >= 400) errors += n;
    }
  }
  header(out, "tinybert_request_errors_total", "HTTP requests answered with a 4xx or 5xx status.",
         "counter");
  out += "tinybert_request_errors_total " + std::to_string(errors) + "\n";
  latency_.render(out, "tinybert_request_duration_seconds",
                  "Time from request received to response ready.");
  batch_size_.render(out, "tinybert_batch_size", "Rows per forward pass of the model.");
  header(out, "tinybert_inputs_total", "Texts (or pairs) classified.", "counter");
  out += "tinybert_inputs_total " + std::to_string(inputs_.load()) + "\n";
  header(out, "tinybert_queue_depth", "Requests waiting for the model.", "gauge");
  out += "tinybert_queue_depth " + std::to_string(queue_depth_.load()) + "\n";
  header(out, "tinybert_running_requests", "Requests the model is working on now.", "gauge");
  out += "tinybert_running_requests " + std::to_string(running_.load()) + "\n";
  header(out, "tinybert_ready", "1 once the model is loaded and requests are served.", "gauge");
  out += std::string("tinybert_ready ") + (ready_ ? "1" : "0") + "\n";
  return out;
}

}  // namespace tinybert::serve
