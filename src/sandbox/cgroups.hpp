// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox: the per-command cgroups of the jail.
//
// Each controller is used where the host has it: cgroup v1 (`/sys/fs/cgroup/pids/cppflue/…`,
// `/sys/fs/cgroup/memory/cppflue/…`) or the unified cgroup v2 hierarchy (`<cgroup2>/cppflue/…`,
// one cgroup with pids.max and memory.max). A command's processes are moved in top-down right
// after bwrap starts and before the command is released (bwrap --block-fd), so nothing of it
// runs outside the limits. Afterwards every process left in them is killed and the cgroups
// removed; cgroups of processes that died without cleaning up (kill -9) are removed by
// `probe_cgroups` at the next start.
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
  bool pids_v2 = false;    // pids lives in the unified hierarchy (under v2_base)
  bool memory_v2 = false;  // memory lives in the unified hierarchy (under v2_base)
  std::filesystem::path v2_base;
  // A v2 cgroup under v2_base even without a v2 controller: containment and cgroup.kill only.
  // Off in the jail (tests use it to drive the unified hierarchy on hosts whose pids and
  // memory controllers are bound to cgroup v1).
  bool v2_group = false;
};

// Which controllers can hold per-command cgroups here, and where; removes leftovers of dead
// processes.
CgroupSupport probe_cgroups();

// Parsing helpers, exposed for tests.
// The unified hierarchy's mount point on this host ("" when none).
std::filesystem::path cgroup2_mount();
// The mount point of the cgroup2 hierarchy in a /proc/self/mountinfo text ("" when none).
std::filesystem::path cgroup2_mount(const std::string& mountinfo);
// Whether a /proc/<pid>/cgroup text puts the process at `name` ("/cppflue/1-2") for the v1
// controller `controller`, or in the unified hierarchy when `controller` is empty.
bool cgroup_line_matches(const std::string& proc_cgroup, const std::string& controller,
                         const std::string& name);
// "oom_kill N" from memory.oom_control (v1) or memory.events (v2); 0 when absent.
long long oom_kill_count(const std::string& text);

class CommandCgroups {
 public:
  // Creates the cgroups: pids.max = `max_processes` (when pids are supported), a memory limit of
  // `memory_max` (when memory is supported and memory_max > 0). Nothing created: an empty set.
  static Result<CommandCgroups> create(const CgroupSupport& support, long max_processes,
                                       long long memory_max);

  bool empty() const { return groups_.empty(); }
  // Moves `pid` and its descendants into every cgroup.
  Result<void> adopt(int pid) const;
  // The kernel's OOM killer killed a process of the command (the memory limit was reached).
  bool memory_exhausted() const;
  // Kills what is left and removes the cgroups; waits (bounded) only when `wait`, otherwise
  // the removal finishes in the background.
  boost::asio::awaitable<void> remove(bool wait) const;
  // The same, blocking (at most about 5 s), for callers off the I/O threads (a session's jail
  // discarded on the blocking pool or by the idle reaper); what is still left is logged and
  // removed when this process is gone (probe_cgroups of a later one).
  void remove_now() const;

  struct Group {
    std::filesystem::path dir;
    std::string controller;  // v1 controller name; empty: the unified hierarchy
    std::string name;        // as /proc/<pid>/cgroup shows it: "/cppflue/<pid>-<n>"
  };

 private:
  std::vector<Group> groups_;
  std::filesystem::path memory_dir_;
  bool memory_v2_ = false;
};

}  // namespace cppflue::detail
