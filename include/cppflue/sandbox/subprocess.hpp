// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/subprocess.hpp — running one command with pipes, limits and a deadline.
//
// `run_subprocess` is what the `bash` tool and its jailed variant (jail.hpp) build on:
// it starts a program with `posix_spawn` in a new process group, with an exact environment,
// feeds it `stdin_data`, reads stdout and stderr asynchronously on the caller's executor while
// keeping only a capped prefix of each (the rest is read and discarded so the child never
// blocks on a full pipe), observes the exit through a pidfd, and on timeout or cancellation
// kills the whole process group. After the child has exited it keeps reading for at most
// `drain_timeout` (background grandchildren can hold the pipes open), then kills whatever is
// left in the group and reaps the child: no zombie and no process of the group outlives a call.
//
// Resource limits (`max_processes`, `max_address_space`) cannot be set by posix_spawn and must
// not be applied after the program started (that leaves a window in which it runs unlimited),
// so when one is requested the command is spawned through util-linux `prlimit(1)`, which sets
// them on itself and execs the command: race-free, and the environment stays exact. A missing
// `prlimit` is an error, never a silent run without limits. As root (with CAP_SYS_ADMIN or
// CAP_SYS_RESOURCE) the kernel does not enforce RLIMIT_NPROC; counting processes is the job
// of the jail's user namespace.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"

namespace cppflue {

struct SubprocessOptions {
  // argv[0] without a '/' is looked up in the PATH of `env` (execvp's default "/bin:/usr/bin"
  // when `env` has no PATH) — never in our own environment. With a '/' it is used as given
  // (relative to `cwd`).
  std::vector<std::string> argv;
  // The child's exact environment, "K=V" entries; nothing is inherited.
  std::vector<std::string> env;
  // Working directory; empty = ours. A missing directory is an error.
  std::string cwd;
  // Written to the child's stdin, which is then closed (empty: stdin is /dev/null).
  std::string stdin_data;
  // Wall-clock limit; on expiry the group is killed and exit_code is 124. <= 0: none.
  std::chrono::milliseconds timeout{120000};
  // Retained output, per stream; more output sets `truncated` and is discarded.
  std::size_t max_output_bytes = 50 * 1024;
  std::size_t max_output_lines = 2000;
  // After the child exited (or was killed), how long to keep reading pipes that grandchildren
  // still hold open before killing the group.
  std::chrono::milliseconds drain_timeout{500};
  // RLIMIT_NPROC for the child (0 = unchanged); see the header comment about root.
  long max_processes = 0;
  // RLIMIT_AS in bytes (0 = unchanged).
  long max_address_space = 0;
  // Descriptors of ours given to the child: {our fd, the child's fd number (>= 3)}. Every
  // other descriptor is closed in the child. Ours stay open (the caller owns them).
  std::vector<std::pair<int, int>> child_fds;
  // Called with the child's pid right after it was spawned, before anything else happens
  // (e.g. to move it into a cgroup and then release it). An error kills the group and is
  // returned.
  std::function<Result<void>(int pid)> on_spawned;
};

struct SubprocessResult {
  // WEXITSTATUS, 128 + signal when killed by a signal, 124 on timeout.
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
  // A stream produced more than max_output_bytes / max_output_lines (the retained prefix is
  // cut at a line end or, for the byte cap, before an incomplete UTF-8 sequence).
  bool truncated = false;
  bool timed_out = false;
  // The signal that ended the child, 0 when it exited.
  int signal = 0;
  std::chrono::milliseconds duration{0};
};

// Runs a command to completion. Errors: invalid_input (empty argv, bad cwd, bad limits),
// not_found (command not found, naming it), permission (not executable), cancelled (`cancel`
// fired: the group is killed and the call returns promptly), internal (pipes, spawn failures).
// A non-zero exit, a signal or a timeout is not an error: see SubprocessResult.
// execvp's search for `name` over the PATH value `path` ("" = /bin:/usr/bin); a name with a '/'
// is returned as is; relative PATH entries are taken from `cwd`.
std::optional<std::string> find_executable(const std::string& name, std::string_view path,
                                           const std::string& cwd = {});

boost::asio::awaitable<Result<SubprocessResult>> run_subprocess(SubprocessOptions options,
                                                                CancelToken cancel);

}  // namespace cppflue
