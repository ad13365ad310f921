// The process-wide stop flag and the signal handlers that set it.
#include "tinybert/core/stop.h"

#include <atomic>
#include <csignal>
#include <cstdlib>

namespace tinybert {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int sig) {
  if (g_stop.exchange(true)) std::_Exit(128 + sig);  // second signal: leave now
}

}  // namespace

StopSignals::StopSignals()
    : old_int_(std::signal(SIGINT, on_stop_signal)),
      old_term_(std::signal(SIGTERM, on_stop_signal)) {}

StopSignals::~StopSignals() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

bool stop_requested() {
  return g_stop.load();
}

}  // namespace tinybert
