// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox: what the session jail (jail_session.cpp) takes from the jail's set-up
// (jail.cpp).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "sandbox/cgroups.hpp"
#include "sandbox/unique_fd.hpp"

namespace cppflue::detail {

// A jail whose helper runs `cppflue-exec --serve` (jail_protocol.hpp), ready for commands.
struct ServedJail {
  pid_t pid = -1;  // bwrap (as root: the launch step, which became bwrap), a child of ours
  UniqueFd pidfd;
  UniqueFd control;                               // our end of the control socket
  std::shared_ptr<const CommandCgroups> cgroups;  // the jail's cgroups (may be empty)
};

// Starts a jail for `spec` and waits (bounded) until its helper is ready. Errors: those of
// run_jailed (jail unavailable, root without an unprivileged uid), internal (it did not start).
Result<ServedJail> start_served_jail(const JailSpec& spec);

// What run_jailed checks and prepares for every command: the working directory (host path,
// inside the workspace) and the memfd that carries the command to the helper.
Result<std::string> jailed_cwd(const JailSpec& spec, const SubprocessOptions& options);
Result<UniqueFd> jailed_command_memfd(const SubprocessOptions& options);

// Starts `argv` (argv[0] an absolute path) with an empty environment, in a process group of its
// own with default signals, stdin and stdout on /dev/null, stderr on `err_fd` (-1: /dev/null),
// the descriptors of `child_fds` and no other. The pid, or -1 and the error number
// (jail_spawn.cpp).
std::pair<pid_t, int> spawn_quiet(const std::vector<std::string>& argv,
                                  const std::vector<std::pair<int, int>>& child_fds, int err_fd);

// Runs a command synchronously (the probe): its exit status and stderr.
std::pair<int, std::string> run_probe(const std::vector<std::string>& argv,
                                      const std::vector<std::pair<int, int>>& child_fds);

// Appends to the command's stderr that the memory cgroup killed it.
void note_memory_kill(SubprocessResult& result, const JailSpec& spec);

}  // namespace cppflue::detail
