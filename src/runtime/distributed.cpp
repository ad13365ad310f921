// The launch environment, the c10d rendezvous (TCPStore) and the Gloo collectives.
#include "tinybert/runtime/distributed.h"

#include <ATen/ATen.h>

#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "tinybert/core/error.h"

namespace tinybert::runtime {

namespace {

// An integer environment variable in [lo, hi], or `fallback` when unset.
int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno || *end || x < lo || x > hi)
    fail("environment variable ", name, "=\"", v, "\" is not an integer in [", lo, ", ", hi, "]");
  return static_cast<int>(x);
}

}  // namespace

LaunchEnv launch_env() {
  LaunchEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 16);
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", e.world_size, 1, e.world_size);
  e.local_rank = env_int("LOCAL_RANK", e.rank % e.local_world_size, 0, e.local_world_size - 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", e.master_port, 1, 65535);
  if (e.world_size > 1 && !std::getenv("RANK"))
    fail("WORLD_SIZE is ", e.world_size,
         " but RANK is not set (launch with torchrun, or set "
         "RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT for every worker)");
  return e;
}

// Every rank adds to its own counter in the store twice a second; when a collective fails, the
// ranks whose counter stopped are the lost ones.
class Heartbeat {
 public:
  static constexpr std::chrono::milliseconds kPeriod{500};

  Heartbeat(const LaunchEnv& env, std::chrono::milliseconds timeout) {
    c10d::TCPStoreOptions so;  // a connection of its own: the main thread's may be waiting
    so.port = static_cast<uint16_t>(env.master_port);
    so.waitWorkers = false;
    so.timeout = timeout;
    store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    thread_ = std::thread([this, key = key(env.rank)] {
      for (;;) {
        try {
          store_->add(key, 1);
        } catch (...) {
          // a blip, or the store (rank 0) is gone: keep trying; a collective says which
        }
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, kPeriod, [this] { return stop_; })) return;
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  static std::string key(int rank) { return "tinybert/heartbeat/" + std::to_string(rank); }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::unique_ptr<Heartbeat> heartbeat;
  std::chrono::seconds timeout{60};
  int size = 1;

  // Issues a collective and waits for it; a lost rank or a timeout (Gloo's IoException, or a
  // c10::Error) becomes an Error naming what was running and the rank that was lost.
  template <typename F>
  void run(const char* what, int rank, F&& collective) const {
    try {
      collective()->wait();
    } catch (const c10::Error& e) {
      lost(what, rank, e.what_without_backtrace());
    } catch (const std::exception& e) {
      lost(what, rank, e.what());
    }
  }
  [[noreturn]] void lost(const char* what, int rank, const std::string& why) const {
    fail("rank ", rank, ": the ", what, " across ranks failed: ", lost_ranks(rank),
         " (a rank waits ", timeout.count(), " s for the others, --dist-timeout): ", why);
  }
  std::vector<int64_t> heartbeats() const {
    std::vector<int64_t> c;
    for (int r = 0; r < size; ++r) c.push_back(store->add(Heartbeat::key(r), 0));
    return c;
  }
  // The ranks among `ranks` whose heartbeat did not move between two counts, as "1, 3".
  static std::string stopped(const std::vector<int>& ranks, const std::vector<int64_t>& before,
                             const std::vector<int64_t>& after) {
    std::string out;
    for (int r : ranks)
      if (after[r] == before[r]) out += (out.empty() ? "" : ", ") + cat(r);
    return out;
  }
  // Which ranks stopped beating over a few periods, in words.
  std::string lost_ranks(int self) const {
    std::vector<int64_t> before, after;
    try {
      before = heartbeats();
    } catch (...) {
      return "lost rank 0 (the rendezvous store it serves no longer answers)";
    }
    try {
      std::this_thread::sleep_for(Heartbeat::kPeriod * 5);
      after = heartbeats();
    } catch (...) {
      return "rank 0's rendezvous store stopped answering while the ranks were checked (rank 0 "
             "was lost, or stopped after another rank was)";
    }
    std::vector<int> others;
    for (int r = 0; r < size; ++r)
      if (r != self) others.push_back(r);
    const std::string ranks = stopped(others, before, after);
    if (ranks.empty())
      return "every rank is still alive (one is stuck, or slower than the timeout)";
    return "lost rank " + ranks + " (its heartbeat stopped: it died or its machine is unreachable)";
  }
};

namespace {

Group& the_group() {
  static Group g;
  return g;
}

}  // namespace

const Group& group() {
  return the_group();
}

void init_distributed(const LaunchEnv& env, c10::Device device, std::chrono::seconds timeout) {
  Group& g = the_group();
  if (g.impl_) fail("the process group is already initialised");
  if (env.world_size == 1) return;
  if (!device.is_cpu())
    fail(
        "distributed training runs on the CPU with Gloo in this build; NCCL (--device cuda with "
        "WORLD_SIZE > 1) is not supported yet");
  auto impl = std::make_shared<Group::Impl>();
  impl->timeout = timeout;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<size_t>(env.world_size);
    so.waitWorkers = true;
    so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost")
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    impl->pg =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, opts);
    impl->size = env.world_size;
    impl->heartbeat = std::make_unique<Heartbeat>(env, so.timeout);
  } catch (const c10::Error& e) {
    fail("rank ", env.rank, " of ", env.world_size, ": cannot join the process group at ",
         env.master_addr, ":", env.master_port, " within ", timeout.count(),
         " s: ", e.what_without_backtrace());
  } catch (const std::exception& e) {
    fail("rank ", env.rank, " of ", env.world_size, ": cannot join the process group at ",
         env.master_addr, ":", env.master_port, ": ", e.what());
  }
  g.impl_ = impl;
  g.rank_ = env.rank;
  g.size_ = env.world_size;
  if (env.rank == 0)
    std::cerr << "distributed: " << env.world_size << " ranks (Gloo), rendezvous at "
              << env.master_addr << ":" << env.master_port << "\n";
}

void Group::average(const std::vector<at::Tensor>& tensors) const {
  if (!distributed() || tensors.empty()) return;
  constexpr int64_t kBucketBytes = 25 << 20;
  size_t first = 0;
  while (first < tensors.size()) {
    // One bucket: consecutive tensors of one dtype, up to kBucketBytes (at least one tensor).
    size_t last = first + 1;
    int64_t bytes = tensors[first].numel() * tensors[first].element_size();
    while (last < tensors.size() && tensors[last].scalar_type() == tensors[first].scalar_type() &&
           bytes + tensors[last].numel() * tensors[last].element_size() <= kBucketBytes) {
      bytes += tensors[last].numel() * tensors[last].element_size();
      ++last;
    }
    std::vector<at::Tensor> parts;
    for (size_t i = first; i < last; ++i) parts.push_back(tensors[i].reshape(-1));
    std::vector<at::Tensor> flat{at::cat(parts)};  // (sum of numel)
    impl_->run("gradient all-reduce", rank_, [&] { return impl_->pg->allreduce(flat); });
    flat[0].div_(size_);
    int64_t offset = 0;
    for (size_t i = first; i < last; ++i) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(flat[0].narrow(0, offset, n).view_as(tensors[i]));
      offset += n;
    }
    first = last;
  }
}

void Group::broadcast(const std::vector<at::Tensor>& tensors) const {
  if (!distributed()) return;
  for (const auto& t : tensors) {
    std::vector<at::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
    impl_->run("broadcast of rank 0's weights", rank_, [&] { return impl_->pg->broadcast(one); });
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

std::vector<double> Group::sum(const std::vector<double>& values) const {
  if (!distributed() || values.empty()) return values;
  std::vector<at::Tensor> t{at::tensor(values, at::kDouble)};
  impl_->run("all-reduce of losses and flags", rank_, [&] { return impl_->pg->allreduce(t); });
  const double* p = t[0].data_ptr<double>();
  return {p, p + values.size()};
}

bool Group::any(bool flag) const {
  return sum({flag ? 1.0 : 0.0})[0] > 0;
}

std::vector<at::Tensor> Group::all_gather(const at::Tensor& t) const {
  if (!distributed()) return {t};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size_; ++r) out[0].push_back(at::empty_like(t));
  std::vector<at::Tensor> in{t.contiguous()};
  impl_->run("all-gather", rank_, [&] { return impl_->pg->allgather(out, in); });
  return out[0];
}

namespace {

std::string arrival_key(const std::string& point, int rank) {
  return "tinybert/arrived/" + point + "/" + std::to_string(rank);
}

}  // namespace

void Group::arrive(const std::string& point) const {
  if (distributed()) impl_->store->set(arrival_key(point, rank_), std::vector<uint8_t>{1});
}

void Group::wait_arrivals(const std::string& point) const {
  if (!distributed()) return;
  std::vector<int64_t> beats = impl_->heartbeats();
  for (int tick = 1;; ++tick) {
    std::vector<int> missing;
    for (int r = 0; r < size_; ++r)
      if (!impl_->store->check({arrival_key(point, r)})) missing.push_back(r);
    if (missing.empty()) return;
    std::this_thread::sleep_for(Heartbeat::kPeriod);
    if (tick % 10) continue;  // every 5 s: has a rank still working stopped beating?
    auto now = impl_->heartbeats();
    if (auto lost = Impl::stopped(missing, beats, now); !lost.empty())
      fail("rank ", rank_, ": lost rank ", lost, " before it finished ", point,
           " (its heartbeat stopped: it died or its machine is unreachable)");
    beats = std::move(now);
  }
}

}  // namespace tinybert::runtime
