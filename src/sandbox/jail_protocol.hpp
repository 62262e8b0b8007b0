// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox and cppflue-exec: the messages of a session's jail on its control socket
// (a SOCK_SEQPACKET socketpair; one end is the host's, the other `cppflue-exec --serve FD`'s).
//
//   server → host, once:  kReady
//   host → server:        kRun, then the command's working directory (absolute, no NUL), with
//                         SCM_RIGHTS: the command memfd (environment, "", argv), stdout, stderr
//                         and, when there is input, stdin
//   server → host:        Done, when the command and every process it left are gone
//
// The host never trusts a Done beyond its numbers: it keeps its own deadline and kills the whole
// jail when the server does not answer in time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cppflue::detail::jail_protocol {

constexpr char kReady = 'R';
constexpr char kRun = 'C';
constexpr char kDone = 'X';
constexpr std::size_t kMaxRequest = 4097;  // kRun + a working directory up to PATH_MAX - 1
constexpr std::size_t kMaxFds = 4;

struct Done {
  char tag = kDone;
  // Something of the command may be left (a /tmp that could not be emptied, System V IPC
  // objects): the host must not run another command in this jail.
  std::uint8_t dirty = 0;
  std::uint8_t reserved[2] = {};
  std::int32_t code = 0;    // WEXITSTATUS, or 128 + signal
  std::int32_t signal = 0;  // the signal that ended the command, 0 when it exited
};

}  // namespace cppflue::detail::jail_protocol
