// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox: the running-call machinery behind run_subprocess (pipes, output caps,
// stdin, deadline, drain, cancellation), for commands that are not children of this process as
// well — a command started inside a session's jail (jail_session.cpp) is waited for and killed
// differently, and everything else is the same.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/subprocess.hpp"
#include "sandbox/unique_fd.hpp"

namespace cppflue::detail {

struct ExitStatus {
  int code = 0;    // WEXITSTATUS, or 128 + signal
  int signal = 0;  // the signal that ended it, 0 when it exited
};

// What a running call waits for and kills. Called on the call's strand only.
class Watched {
 public:
  virtual ~Watched() = default;
  // A descriptor that becomes readable when the command may have ended (ownership passes).
  virtual UniqueFd wait_descriptor() = 0;
  // After that descriptor became readable: how the command ended, or nothing when it has not
  // ended yet (a spurious wake-up).
  virtual std::optional<ExitStatus> poll_exit() = 0;
  // Kills the whole command now (deadline, cancellation).
  virtual void kill() = 0;
  // The call completes: afterwards nothing of the command may be left. `pipes_open`: its
  // output pipes were still held open when the drain ended.
  virtual void finish(bool pipes_open) = 0;
};

// Our ends of the command's pipes (`in` is -1 without input).
struct CallPipes {
  UniqueFd out;
  UniqueFd err;
  UniqueFd in;
};

// Runs the call to completion on a strand of the caller's executor: the contract of
// run_subprocess from the moment the command runs (options: stdin_data, timeout, output caps,
// drain_timeout).
boost::asio::awaitable<Result<SubprocessResult>> run_watched(const SubprocessOptions& options,
                                                             std::unique_ptr<Watched> watched,
                                                             CallPipes pipes, CancelToken cancel);

}  // namespace cppflue::detail
