// The launcher of a data-parallel run (`--nproc-per-node N [--nnodes M --node-rank R ...]`):
// starts this node's workers with torchrun's environment and supervises them.
#pragma once

#include <string>
#include <vector>

namespace tinybert::runtime {

// torchrun's options, with its defaults.
struct LaunchConfig {
  int nproc_per_node = 1, nnodes = 1, node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;   // 0: a free port (one node), 29500 for several nodes
  int max_restarts = 0;  // restarts of the whole node's group after a worker failed
  int grace_s = 30;      // seconds the others get after SIGTERM, then SIGKILL
};

// Fails naming the option when the settings are inconsistent (a node rank out of range, more than
// 65536 ranks, ...).
void check(const LaunchConfig& c);

// Starts c.nproc_per_node copies of this program with `args` (its argv without the launcher's
// options) as the ranks node_rank * nproc_per_node + [0, nproc_per_node) of nnodes *
// nproc_per_node: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR and
// MASTER_PORT set as torchrun sets them. SIGINT/SIGTERM are passed on to every worker. When a
// worker fails the others get SIGTERM (SIGKILL after grace_s); the group is started again up to
// max_restarts times (the workers continue with `--resume auto`), then the launcher fails naming
// the rank. Returns 0 when every worker succeeded.
int launch(const LaunchConfig& c, const std::vector<std::string>& args);

}  // namespace tinybert::runtime
