// One run per output: a lock file held with flock(2) while a command writes there, so that a
// second run into the same place is refused instead of interleaving checkpoints.
#pragma once

#include <string>

namespace tinybert::io {

// Holds `lock_path` (created if missing, the holder's pid and command written inside) for its
// lifetime. Another process holding it: fails, naming that process. A lock left by a killed run
// is free again (the kernel drops flock locks with their process) and is taken over with a
// notice. Locks are counted per process, so nested holders of one path share it.
class RunLock {
 public:
  RunLock(const std::string& lock_path, const std::string& what);
  ~RunLock();
  RunLock(RunLock&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  std::string path_;
};

// Locks DIR/.lock (creating DIR), then removes the temporary files and directories that a save
// interrupted by a kill left in DIR (see write_atomic and temp_sibling); says what it removed.
RunLock lock_run_directory(const std::string& dir);

}  // namespace tinybert::io
