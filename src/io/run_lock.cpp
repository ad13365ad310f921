// Run locks (flock) and the clean-up of what an interrupted save left behind.
#include "tinybert/io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>

#include "tinybert/core/error.h"

namespace tinybert::io {

namespace fs = std::filesystem;

namespace {

struct Held {
  int fd = -1;
  int count = 0;
};
std::mutex g_mu;
std::map<std::string, Held> g_held;  // canonical lock path -> this process's hold

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  for (auto& c : s)
    if (c == '\0') c = ' ';
  return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

// "pid command" as a previous holder wrote it, or "" when unreadable.
std::string holder_of(int fd) {
  char buf[512] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool alive(const std::string& holder) {
  const long pid = std::atol(holder.c_str());
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

}  // namespace

RunLock::RunLock(const std::string& lock_path, const std::string& what) {
  fs::create_directories(fs::absolute(lock_path).parent_path());
  path_ = fs::weakly_canonical(fs::absolute(lock_path)).string();
  std::lock_guard lock(g_mu);
  Held& h = g_held[path_];
  if (h.count++ > 0) return;
  h.fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (h.fd < 0) {
    g_held.erase(path_);
    fail("cannot open the lock file ", path_, ": ", std::strerror(errno));
  }
  if (::flock(h.fd, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = holder_of(h.fd);
    ::close(h.fd);
    g_held.erase(path_);
    fail(what, " is in use by another run (process ", holder.empty() ? "unknown" : holder,
         ", lock ", path_, "); wait for it to finish, or choose another output");
  }
  const std::string previous = holder_of(h.fd);
  if (!previous.empty() && !alive(previous))
    std::cerr << "notice: " << what << ": taking over the lock of process " << previous
              << ", which is no longer running\n";
  const std::string me = cat(::getpid(), " ", command_line(), "\n");
  if (::ftruncate(h.fd, 0) != 0 || ::pwrite(h.fd, me.data(), me.size(), 0) < 0)
    std::cerr << "warning: cannot write " << path_ << ": " << std::strerror(errno) << "\n";
}

RunLock::~RunLock() {
  if (path_.empty()) return;  // moved from
  std::lock_guard lock(g_mu);
  auto it = g_held.find(path_);
  if (it == g_held.end() || --it->second.count > 0) return;
  [[maybe_unused]] int r = ::ftruncate(it->second.fd, 0);
  ::close(it->second.fd);  // releases the flock
  g_held.erase(it);
}

RunLock lock_run_directory(const std::string& dir) {
  fs::create_directories(dir);
  RunLock lock((fs::path(dir) / ".lock").string(), dir);
  // What a save killed half-way leaves in a run directory: temp_sibling's ".last.tmp123" and
  // ".best.tmp123", write_atomic's "run_config.json.tmp.PID.123" and "summary.json.tmp.PID.123".
  // Nothing else is touched, whatever else the directory holds.
  static const std::regex temp(
      R"(\.(last|best)\.tmp[0-9]+|(run_config\.json|summary\.json|metrics\.jsonl)\.tmp\.[0-9]+\.[0-9]+)");
  // Where a filesystem could not swap directories atomically, a kill between the two renames
  // leaves no last/ but a complete copy beside it (trainer_state.json is written last): kept.
  const fs::path last = fs::path(dir) / "last";
  if (!fs::exists(last)) {
    fs::path newest;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().filename().string().rfind(".last.tmp", 0) == 0 &&
          fs::exists(entry.path() / "trainer_state.json") &&
          (newest.empty() || fs::last_write_time(entry.path() / "trainer_state.json") >
                                 fs::last_write_time(newest / "trainer_state.json")))
        newest = entry.path();
    if (!newest.empty()) {
      fs::rename(newest, last);
      std::cerr << "notice: " << dir << ": restored last/ from " << newest.filename().string()
                << ", left by a save interrupted between two renames\n";
    }
  }
  size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    if (std::regex_match(entry.path().filename().string(), temp))
      removed += fs::remove_all(entry.path()) > 0;
  if (removed)
    std::cerr << "notice: " << dir << ": removed " << removed
              << " temporary file(s) left by an interrupted save\n";
  return lock;
}

}  // namespace tinybert::io
