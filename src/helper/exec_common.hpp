// SPDX-License-Identifier: Apache-2.0
// Private to cppflue-exec: what its modes share (see cppflue_exec.cpp and serve.cpp).
#pragma once

#include <sys/resource.h>

#include <string>
#include <utility>
#include <vector>

namespace cppflue::exec {

// The options of a run inside the jail; `command` is the index of the first word after "--".
struct ExecOptions {
  std::vector<const char*> rw, dev;
  int exec_fd = -1;
  int serve_fd = -1;  // --serve: the session jail's control socket
  bool allow_abstract_unix = false;
  std::vector<std::pair<int, rlim_t>> limits;  // applied last, after every allocation
  int command = 0;
};

// Prints "cppflue-exec: what" on stderr and exits with `code` (without running atexit handlers).
[[noreturn]] void die(int code, const std::string& what);

// Reads a command from `fd` (environment entries, "", argv; NUL-terminated) and closes it.
void read_command(int fd, std::vector<std::string>& env, std::vector<std::string>& args);

// Sets the resource limits, then execs the command with exactly its environment.
[[noreturn]] void exec_command(const ExecOptions& o, std::vector<std::string>& env_items,
                               std::vector<std::string>& args);

// --serve: runs the commands the host sends over the control socket, one at a time, until the
// host closes it (serve.cpp).
[[noreturn]] void serve(const ExecOptions& o);

}  // namespace cppflue::exec
