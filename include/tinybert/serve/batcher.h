// Dynamic batching: requests from many HTTP threads wait in a bounded queue; one worker groups
// them up to max_batch rows, runs one forward pass, and answers each. While the model runs, new
// requests queue up and form the next batch; an idle worker waits up to max_delay only for
// requests already announced (received, still being parsed), so a lone client pays no delay.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "tinybert/infer/predictor.h"
#include "tinybert/serve/metrics.h"

namespace tinybert::serve {

struct BatcherOptions {
  size_t max_batch = 32;                      // rows per forward pass
  std::chrono::microseconds max_delay{5000};  // longest wait for requests still being received
  size_t max_queue = 256;                     // requests waiting; more are refused
};

// submit() when the queue is full.
struct QueueFull : Error {
  QueueFull() : Error("the server is busy: request queue full, retry later") {}
};
// The future's error when a request waited past its deadline.
struct Timeout : Error {
  Timeout() : Error("the request timed out waiting for the model") {}
};

class Batcher {
 public:
  using Clock = std::chrono::steady_clock;
  Batcher(infer::Predictor& predictor, const BatcherOptions& options, Metrics& metrics);
  ~Batcher();  // stop()

  // Queues one request's rows; the future holds their predictions in order, or Timeout.
  std::future<std::vector<infer::Prediction>> submit(std::vector<text::Encoding> rows,
                                                     Clock::time_point deadline);
  // An HTTP thread has received a request (+1) and will submit it or give up (-1).
  void arriving(int delta);
  // Answers what is queued, then ends the worker.
  void stop();

 private:
  struct Job {
    std::vector<text::Encoding> rows;
    Clock::time_point deadline;
    std::promise<std::vector<infer::Prediction>> done;
  };
  void loop();
  void run(std::vector<Job>& jobs);  // times out late jobs, answers the rest
  // Predicts the jobs' rows together; when that fails, each job alone.
  void answer(const std::vector<Job*>& jobs);

  infer::Predictor& predictor_;
  BatcherOptions options_;
  Metrics& metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  size_t queued_rows_ = 0;
  int arriving_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace tinybert::serve
