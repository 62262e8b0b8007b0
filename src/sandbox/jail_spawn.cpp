// SPDX-License-Identifier: Apache-2.0
// Starting the jail's bwrap (or launch step) quietly: for the probe and for a session's jail.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sandbox/jail_internal.hpp"

namespace cppflue::detail {

// Starts `argv` (argv[0] an absolute path) with an empty environment, in a process group of its
// own with default signals, stdin and stdout on /dev/null, stderr on `err_fd` (-1: /dev/null),
// the descriptors of `child_fds` and no other. The pid, or -1 and the error number.
std::pair<pid_t, int> spawn_quiet(const std::vector<std::string>& argv,
                                  const std::vector<std::pair<int, int>>& child_fds, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  sigdelset(&defaults, SIGKILL);
  sigdelset(&defaults, SIGSTOP);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (err_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  int first_closed = 3;
  for (auto [ours, theirs] : child_fds) {
    posix_spawn_file_actions_adddup2(&actions, ours, theirs);
    first_closed = std::max(first_closed, theirs + 1);
  }
  // Descriptors opened without O_CLOEXEC by other threads must not leak into the jail.
  posix_spawn_file_actions_addclosefrom_np(&actions, first_closed);
  std::vector<std::string> copy = argv;
  std::vector<char*> ptrs;
  ptrs.reserve(copy.size() + 1);
  for (auto& s : copy) ptrs.push_back(s.data());
  ptrs.push_back(nullptr);
  char* env[] = {nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, ptrs[0], &actions, &attr, ptrs.data(), env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return {-1, rc};
  return {pid, 0};
}

// Runs a command synchronously (probe only): exit status and stderr.
std::pair<int, std::string> run_probe(const std::vector<std::string>& argv,
                                      const std::vector<std::pair<int, int>>& child_fds) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, "cannot create a pipe"};
  auto [pid, rc] = spawn_quiet(argv, child_fds, fds[1]);
  ::close(fds[1]);
  std::string err;
  if (pid > 0) {
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 && err.size() < 4096) {
      err.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fds[0]);
  if (pid < 0) return {-1, std::strerror(rc)};
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), err};
}

}  // namespace cppflue::detail
