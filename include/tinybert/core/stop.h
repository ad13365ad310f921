// Stop signals: while a StopSignals guard lives, SIGINT/SIGTERM ask long work to stop at its next
// safe point (a second signal exits at once); loops poll stop_requested().
#pragma once

#include "tinybert/core/error.h"

namespace tinybert {

// Installs the SIGINT/SIGTERM handlers for its lifetime and restores the previous ones after.
// A stop asked for under one guard stays asked for under the next one of the same process
// (distill --stage task runs two loops).
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

// True once a stop signal arrived under a StopSignals guard.
bool stop_requested();

// Thrown by loops that poll stop_requested() and cannot stop at a point of their own.
struct Interrupted : Error {
  Interrupted() : Error("interrupted by a stop signal") {}
};

}  // namespace tinybert
