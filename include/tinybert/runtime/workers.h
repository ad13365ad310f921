// A persistent pool of CPU workers, each running LibTorch on one thread: a small model's operators
// are too small to split well across cores, so whole forwards run side by side instead.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tinybert::runtime {

class Workers {
 public:
  // n workers (0: one per LibTorch intra-op thread of the calling thread). The calling thread's
  // thread count, and the one threads started later take, are left as they were.
  explicit Workers(int n = 0);
  ~Workers();  // joins the workers
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }
  // Runs fn(0), ..., fn(tasks - 1) on the workers and returns when all are done; the first
  // exception a task throws is rethrown here (tasks not yet started are then skipped). One run
  // at a time: a concurrent call waits for the running one.
  void run(size_t tasks, const std::function<void(size_t)>& fn);

 private:
  void loop();

  std::vector<std::thread> threads_;
  std::mutex run_mutex_;  // one run at a time
  std::mutex mutex_;      // guards what follows
  std::condition_variable work_, done_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t tasks_ = 0, next_ = 0, finished_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace tinybert::runtime
