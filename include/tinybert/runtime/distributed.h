// Data-parallel training across processes on LibTorch's distributed engine (c10d): the launch
// environment torchrun sets, a TCPStore rendezvous, and a Gloo process group for the collectives.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tinybert::runtime {

// What torchrun (or a Slurm/Kubernetes launcher setting the same variables) tells a worker.
struct LaunchEnv {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; world size 1 when
// WORLD_SIZE is unset. Fails naming the variable for a malformed or inconsistent value.
LaunchEnv launch_env();

// The process group of a run: collectives over all ranks (one rank: no-ops).
class Group {
 public:
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }

  // Averages the tensors over the ranks, in place: flattened into buckets of up to 25 MiB, one
  // all-reduce per bucket (gradients before the optimizer step).
  void average(const std::vector<at::Tensor>& tensors) const;
  // Copies rank 0's tensors to every rank, in place (identical start).
  void broadcast(const std::vector<at::Tensor>& tensors) const;
  // Element-wise sums over the ranks (loss values, flags).
  std::vector<double> sum(const std::vector<double>& values) const;
  bool any(bool flag) const;
  // Every rank's copy of `t` (same shape and type on each), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& t) const;
  // Marks this rank as having reached `point` (in the rendezvous store).
  void arrive(const std::string& point) const;
  // Waits, without a time limit, until every rank has reached `point`; fails naming a rank that
  // has not and whose heartbeat stopped (long work of uneven length, where a collective's
  // --dist-timeout would be too short).
  void wait_arrivals(const std::string& point) const;

  struct Impl;
  std::shared_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1;
};

// Joins the process group `env` describes, once per process (world size 1: nothing to join):
// rank 0 serves the TCPStore at MASTER_ADDR:MASTER_PORT, every rank connects to it, and a Gloo
// group is formed. A collective waits at most `timeout` for a lost rank, then fails.
void init_distributed(const LaunchEnv& env, c10::Device device, std::chrono::seconds timeout);

// The process's group (one rank until init_distributed joined a larger one).
const Group& group();

}  // namespace tinybert::runtime
