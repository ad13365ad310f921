// The server's counters and histograms, rendered in the Prometheus text exposition format.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tinybert::serve {

// A cumulative histogram with fixed upper bounds (+Inf implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // `name`_bucket{le=...}, `name`_sum and `name`_count lines, under a HELP/TYPE header.
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // one per bound, plus +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
  mutable std::mutex mu_;
};

class Metrics {
 public:
  Metrics();
  // One answered HTTP request: path (the route, not the raw URL), status and latency.
  void request(const std::string& path, int status, double seconds);
  // One forward pass over `size` rows.
  void batch(size_t size);
  void queue_depth(size_t depth) { queue_depth_ = depth; }
  void running(size_t requests) { running_ = requests; }
  void inputs(size_t n) { inputs_ += n; }
  void ready(bool r) { ready_ = r; }

  std::string prometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (path, status) -> count
  Histogram latency_, batch_size_;
  std::atomic<size_t> queue_depth_{0}, running_{0}, inputs_{0};
  std::atomic<bool> ready_{false};
};

}  // namespace tinybert::serve
