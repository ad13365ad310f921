// Starting, watching, stopping and restarting the workers of a data-parallel run on one node.
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

void check(const LaunchConfig& c) {
  if (c.nproc_per_node < 1 || c.nproc_per_node > 1024)
    fail("--nproc-per-node must be in [1, 1024], found ", c.nproc_per_node);
  if (c.nnodes < 1 || c.nnodes > 65536) fail("--nnodes must be in [1, 65536], found ", c.nnodes);
  if (c.node_rank < 0 || c.node_rank >= c.nnodes)
    fail("--node-rank must be in [0, ", c.nnodes - 1, "] for --nnodes ", c.nnodes, ", found ",
         c.node_rank);
  if (c.master_port < 0 || c.master_port > 65535)
    fail("--master-port must be in [1, 65535] (0: automatic), found ", c.master_port);
  if (int64_t{c.nnodes} * c.nproc_per_node > 65536)
    fail("--nnodes x --nproc-per-node must be at most 65536 ranks, found ",
         int64_t{c.nnodes} * c.nproc_per_node);
  if (c.max_restarts < 0 || c.max_restarts > 1000)
    fail("--max-restarts must be in [0, 1000], found ", c.max_restarts);
}

namespace {

// Starts the node's workers; their pids in local rank order.
std::vector<pid_t> start_workers(const LaunchConfig& c, int port,
                                 const std::vector<std::string>& args,
                                 const struct sigaction& old_int,
                                 const struct sigaction& old_term) {
  const int world = c.nnodes * c.nproc_per_node;
  std::vector<pid_t> pids(static_cast<size_t>(c.nproc_per_node), -1);
  for (int r = 0; r < c.nproc_per_node; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t started : pids)  // no orphans: stop the workers already running
        if (started > 0) ::kill(started, SIGKILL), ::waitpid(started, nullptr, 0);
      fail("cannot start worker ", r, ": fork failed");
    }
    if (pid == 0) {
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      const std::string vars[][2] = {{"RANK", std::to_string(c.node_rank * c.nproc_per_node + r)},
                                     {"LOCAL_RANK", std::to_string(r)},
                                     {"WORLD_SIZE", std::to_string(world)},
                                     {"LOCAL_WORLD_SIZE", std::to_string(c.nproc_per_node)},
                                     {"GROUP_RANK", std::to_string(c.node_rank)},
                                     {"MASTER_ADDR", c.master_addr},
                                     {"MASTER_PORT", std::to_string(port)}};
      for (const auto& v : vars) ::setenv(v[0].c_str(), v[1].c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::cerr << "worker " << r << ": cannot run /proc/self/exe\n";
      std::_Exit(127);
    }
    pids[static_cast<size_t>(r)] = pid;
  }
  return pids;
}

// What one start of the group ended with.
struct Outcome {
  int failed_rank = -1;  // the first worker that failed (also while stopping after a signal)
  std::string failure;
  bool signalled = false;
};

// Waits for every worker; signals are passed on, a failure stops the rest.
Outcome supervise(const LaunchConfig& c, std::vector<pid_t>& pids) {
  Outcome o;
  int running = static_cast<int>(pids.size());
  auto stop_all = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) ::kill(p, sig);
  };
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    if (const int sig = g_signal.exchange(0); sig) {
      o.signalled = true;
      stop_all(sig);  // the workers save and stop (a second signal makes them leave at once)
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (size_t r = 0; r < pids.size(); ++r) {
        if (pids[r] != pid) continue;
        pids[r] = -1;
        --running;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (ok || o.failed_rank >= 0) continue;
        o.failed_rank = c.node_rank * c.nproc_per_node + static_cast<int>(r);
        o.failure = exit_text(status);
        if (o.signalled) continue;  // failed while stopping: reported, the others stop anyway
        std::cerr << "launcher: rank " << o.failed_rank << " failed (" << o.failure
                  << "); stopping the other " << running << " worker(s)\n";
        stop_all(SIGTERM);
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(c.grace_s);
      }
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop_all(SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return o;
}

}  // namespace

int launch(const LaunchConfig& c, const std::vector<std::string>& args) {
  check(c);
  // SIGINT/SIGTERM go to the workers while the launcher runs; the old handlers come back at
  // return or throw.
  struct Handlers {
    struct sigaction old_int {
    }, old_term{};
    Handlers() {
      struct sigaction sa {};
      sa.sa_handler = on_launcher_signal;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, &old_int);
      sigaction(SIGTERM, &sa, &old_term);
    }
    ~Handlers() {
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
    }
  } handlers;
  Outcome o;
  for (int attempt = 0;; ++attempt) {
    const int port = c.master_port ? c.master_port : c.nnodes > 1 ? 29500 : free_port();
    auto pids = start_workers(c, port, args, handlers.old_int, handlers.old_term);
    std::cerr << "launcher: " << c.nproc_per_node << " workers (node " << c.node_rank << " of "
              << c.nnodes << ") on " << c.master_addr << ":" << port << "\n";
    o = supervise(c, pids);
    if (o.failed_rank < 0 || o.signalled || attempt >= c.max_restarts) break;
    std::cerr << "launcher: restarting the workers (restart " << attempt + 1 << " of "
              << c.max_restarts << ")\n";
  }
  if (o.failed_rank >= 0)
    fail("rank ", o.failed_rank, " of ", c.nnodes * c.nproc_per_node, " failed with ", o.failure,
         c.max_restarts ? cat(" (after ", c.max_restarts, " restart(s))") : std::string());
  return 0;
}

}  // namespace tinybert::runtime
