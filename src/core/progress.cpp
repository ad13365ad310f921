// Progress bar / periodic log lines.
#include "tinybert/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tinybert {

std::string format_duration(double s) {
  if (s < 0 || s > 1e7) return "?";
  auto t = static_cast<long>(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

Progress::Progress(int64_t total, int64_t log_every, std::string unit)
    : total_(total),
      log_every_(log_every > 0 ? log_every : 1),
      unit_(std::move(unit)),
      tty_(::isatty(2)) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

void Progress::update(int64_t done, const std::string& status, double rate) {
  if (start_done_ < 0) start_done_ = done - 1;
  const double per = elapsed() / static_cast<double>(std::max<int64_t>(1, done - start_done_));
  const std::string eta = format_duration(per * static_cast<double>(total_ - done));
  if (tty_) {
    const int width = 24;
    int filled = total_ > 0 ? static_cast<int>(width * std::min(done, total_) / total_) : 0;
    std::fprintf(stderr, "\r%ld/%ld [%s%s] %s  %.1f %s  ETA %s   ", long(done), long(total_),
                 std::string(filled, '=').c_str(), std::string(width - filled, ' ').c_str(),
                 status.c_str(), rate, unit_.c_str(), eta.c_str());
    std::fflush(stderr);
  } else if (done % log_every_ == 0 || done == total_) {
    std::fprintf(stderr, "%ld/%ld %s %.1f %s ETA %s\n", long(done), long(total_), status.c_str(),
                 rate, unit_.c_str(), eta.c_str());
  }
}

void Progress::message(const std::string& line) {
  if (tty_) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "%s\n", line.c_str());
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace tinybert
