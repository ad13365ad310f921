// The CPU worker pool: single-threaded LibTorch workers fed task indices under one mutex.
#include "tinybert/runtime/workers.h"

#include <ATen/Parallel.h>

#include <latch>
#include <utility>

namespace tinybert::runtime {

Workers::Workers(int n) {
  const int saved = at::get_num_threads();
  if (n <= 0) n = saved;
  std::latch started(n);
  for (int i = 0; i < n; ++i)
    threads_.emplace_back([this, &started] {
      // LibTorch reads its process-wide thread count into a thread at the thread's first
      // parallel operator; doing that now keeps the one below from being overwritten then.
      at::internal::lazy_init_num_threads();
      at::set_num_threads(1);  // this thread's OpenMP count, and (for now) the process default
      started.count_down();
      loop();
    });
  started.wait();
  at::set_num_threads(saved);  // the caller's count and the process default, as they were
}

Workers::~Workers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

void Workers::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stop_ || next_ < tasks_; });
    if (stop_) return;
    const size_t task = next_++;
    std::exception_ptr error;
    if (!error_) {
      const auto* fn = fn_;
      lock.unlock();
      try {
        (*fn)(task);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
    }
    if (error && !error_) error_ = error;
    if (++finished_ == tasks_) done_.notify_all();
  }
}

void Workers::run(size_t tasks, const std::function<void(size_t)>& fn) {
  if (tasks == 0) return;
  std::lock_guard one_run(run_mutex_);
  std::unique_lock lock(mutex_);
  fn_ = &fn, tasks_ = tasks, next_ = 0, finished_ = 0, error_ = nullptr;
  work_.notify_all();
  done_.wait(lock, [&] { return finished_ == tasks; });
  tasks_ = 0, next_ = 0, fn_ = nullptr;
  if (auto error = std::exchange(error_, nullptr)) std::rethrow_exception(error);
}

}  // namespace tinybert::runtime
