// Batcher: the bounded queue and the one worker thread that owns the model.
#include "tinybert/serve/batcher.h"

namespace tinybert::serve {

Batcher::Batcher(infer::Predictor& predictor, const BatcherOptions& options, Metrics& metrics)
    : predictor_(predictor), options_(options), metrics_(metrics) {
  worker_ = std::thread([this] { loop(); });
}

Batcher::~Batcher() {
  stop();
}

std::future<std::vector<infer::Prediction>> Batcher::submit(std::vector<text::Encoding> rows,
                                                            Clock::time_point deadline) {
  Job job{std::move(rows), deadline, {}};
  auto future = job.done.get_future();
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue || stopping_) throw QueueFull();
    queued_rows_ += job.rows.size();
    queue_.push_back(std::move(job));
    metrics_.queue_depth(queue_.size());
  }
  cv_.notify_one();
  return future;
}

void Batcher::arriving(int delta) {
  {
    std::lock_guard lock(mu_);
    arriving_ += delta;
  }
  if (delta < 0) cv_.notify_one();
}

void Batcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (worker_.joinable()) worker_.join();
}

void Batcher::loop() {
  for (;;) {
    std::vector<Job> jobs;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      // Wait (at most max_delay) for requests that are being received to join this batch.
      const auto until = Clock::now() + options_.max_delay;
      cv_.wait_until(lock, until, [&] {
        return stopping_ || arriving_ <= 0 || queued_rows_ >= options_.max_batch;
      });
      size_t rows = 0;
      while (!queue_.empty() &&
             (jobs.empty() || rows + queue_.front().rows.size() <= options_.max_batch)) {
        rows += queue_.front().rows.size();
        queued_rows_ -= queue_.front().rows.size();
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      metrics_.queue_depth(queue_.size());
    }
    run(jobs);
  }
}

void Batcher::run(std::vector<Job>& jobs) {
  const auto now = Clock::now();
  std::vector<Job*> live;
  for (auto& job : jobs) {
    if (now > job.deadline)
      job.done.set_exception(std::make_exception_ptr(Timeout()));
    else
      live.push_back(&job);
  }
  if (live.empty()) return;
  metrics_.running(live.size());
  answer(live);
}

void Batcher::answer(const std::vector<Job*>& jobs) {
  std::vector<const text::Encoding*> rows;
  for (const Job* job : jobs)
    for (const auto& r : job->rows) rows.push_back(&r);
  std::vector<infer::Prediction> predictions;
  try {
    predictions = predictor_.predict(rows, options_.max_batch);
  } catch (...) {
    metrics_.running(0);
    // One request's bad input must not fail the others batched with it: each is run alone,
    // and only the ones that fail alone get the error.
    if (jobs.size() == 1) {
      jobs[0]->done.set_exception(std::current_exception());
      return;
    }
    for (Job* job : jobs) answer({job});
    return;
  }
  metrics_.running(0);  // before any client hears back
  for (size_t start = 0; start < rows.size(); start += options_.max_batch)
    metrics_.batch(std::min(options_.max_batch, rows.size() - start));
  metrics_.inputs(rows.size());
  size_t at = 0;
  for (Job* job : jobs) {
    const size_t n = job->rows.size();
    job->done.set_value({predictions.begin() + at, predictions.begin() + at + n});
    at += n;
  }
}

}  // namespace tinybert::serve
