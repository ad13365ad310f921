// Starting, watching and stopping the workers of a one-machine data-parallel run.
#include "tinybert/runtime/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include "tinybert/core/error.h"

namespace tinybert::runtime {

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_launcher_signal(int sig) {
  g_signal = sig;
}

// A TCP port free on the loopback interface now (the store binds it a moment later).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("cannot create a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  if (!ok) fail("cannot find a free port on 127.0.0.1");
  return ntohs(a.sin_port);
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return cat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return cat("signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  return "an unknown status";
}

}  // namespace

int launch_local(int nproc, const std::vector<std::string>& args, int grace_s) {
  if (nproc < 1 || nproc > 1024) fail("--nproc-per-node must be in [1, 1024], found ", nproc);
  const int port = free_port();
  const std::string self = "/proc/self/exe";
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_launcher_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  std::vector<pid_t> pids(static_cast<size_t>(nproc), -1);
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) fail("cannot start worker ", r, ": fork failed");
    if (pid == 0) {
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      const std::string vars[][2] = {{"RANK", std::to_string(r)},
                                     {"LOCAL_RANK", std::to_string(r)},
                                     {"WORLD_SIZE", std::to_string(nproc)},
                                     {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
                                     {"GROUP_RANK", "0"},
                                     {"MASTER_ADDR", "127.0.0.1"},
                                     {"MASTER_PORT", std::to_string(port)}};
      for (const auto& v : vars) ::setenv(v[0].c_str(), v[1].c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(self.c_str(), argv.data());
      std::cerr << "worker " << r << ": cannot run " << self << "\n";
      std::_Exit(127);
    }
    pids[static_cast<size_t>(r)] = pid;
  }
  std::cerr << "launcher: " << nproc << " workers on 127.0.0.1:" << port << "\n";
  int running = nproc, failed_rank = -1, forwarded = 0;
  std::string failure;
  auto stop_all = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) ::kill(p, sig);
  };
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    if (const int sig = g_signal.exchange(0); sig) {
      forwarded = sig;
      stop_all(sig);  // the workers save and stop (a second signal makes them leave at once)
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r) {
        if (pids[static_cast<size_t>(r)] != pid) continue;
        pids[static_cast<size_t>(r)] = -1;
        --running;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && failed_rank < 0 && !forwarded) {
          failed_rank = r;
          failure = exit_text(status);
          std::cerr << "launcher: rank " << r << " failed (" << failure << "); stopping the other "
                    << running << " worker(s)\n";
          stop_all(SIGTERM);
          deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_s);
        }
      }
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop_all(SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (failed_rank >= 0) fail("rank ", failed_rank, " of ", nproc, " failed with ", failure);
  return 0;
}

}  // namespace tinybert::runtime
