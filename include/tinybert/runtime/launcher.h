// The one-machine launcher of a data-parallel run (`--nproc-per-node N`): starts N workers with
// torchrun's environment and supervises them.
#pragma once

#include <string>
#include <vector>

namespace tinybert::runtime {

// Starts `nproc` copies of this program with `args` (its argv without the launcher's option) as
// the ranks of a one-machine run: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR
// (127.0.0.1) and a free MASTER_PORT set as torchrun sets them. SIGINT/SIGTERM are passed on to
// every worker. When a worker fails the others get SIGTERM (SIGKILL after `grace_s`), and the
// launcher fails naming the rank. Returns 0 when every worker succeeded.
int launch_local(int nproc, const std::vector<std::string>& args, int grace_s = 30);

}  // namespace tinybert::runtime
