// Progress of long work: a bar with rate and ETA on a terminal, plain periodic lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tinybert {

class Progress {
 public:
  // `unit` names what is counted ("ex/s", "rows/s"); plain lines every `log_every` updates.
  Progress(int64_t total, int64_t log_every, std::string unit);
  // `done` of total, with a free-form status ("epoch 1/3 loss 0.41") and the work rate.
  void update(int64_t done, const std::string& status, double rate);
  // A line of its own (after the bar, on a terminal).
  void message(const std::string& line);
  void finish();
  // Seconds since construction.
  double elapsed() const;

 private:
  int64_t total_, log_every_, start_done_ = -1;
  std::string unit_;
  bool tty_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

std::string format_duration(double seconds);  // "3m12s", "1h05m"

}  // namespace tinybert
