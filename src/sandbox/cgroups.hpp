// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox: the per-command cgroups of the jail (cgroup v1 `pids` and `memory`
// controllers, under <controller>/cppflue/<our pid>-<n>).
//
// A command's processes are moved in top-down right after bwrap starts and before the command
// is released (bwrap --block-fd), so nothing of it runs outside the limits. Afterwards every
// process left in them is killed and the cgroups removed; cgroups of processes that died
// without cleaning up (kill -9) are removed by `probe_cgroups` at the next start.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "cppflue/core/error.hpp"

namespace cppflue::detail {

struct CgroupSupport {
  bool pids = false;
  bool memory = false;
};

// Which controllers can hold per-command cgroups here; removes leftovers of dead processes.
CgroupSupport probe_cgroups();

class CommandCgroups {
 public:
  // Creates the cgroups: pids.max = `max_processes` (when `pids`), memory.limit_in_bytes =
  // `memory_max` (when `memory` and memory_max > 0). Nothing created: an empty set.
  static Result<CommandCgroups> create(bool pids, long max_processes, bool memory,
                                       long long memory_max);

  bool empty() const { return dirs_.empty(); }
  // Moves `pid` and its descendants into every cgroup.
  Result<void> adopt(int pid) const;
  // The kernel's OOM killer killed a process of the command (the memory limit was reached).
  bool memory_exhausted() const;
  // Kills what is left and removes the cgroups; waits (bounded) only when `wait`, otherwise
  // the removal finishes in the background.
  boost::asio::awaitable<void> remove(bool wait) const;

 private:
  std::vector<std::filesystem::path> dirs_;
  std::filesystem::path memory_dir_;
};

}  // namespace cppflue::detail
