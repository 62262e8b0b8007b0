// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox: one jail per session (docs/security.md, "One jail per session").
//
// The jail's namespaces, mounts, seccomp filter, Landlock domain and cgroups are set up once;
// each command of the session then starts inside it through the resident `cppflue-exec --serve`
// (jail_protocol.hpp), which gives it a new session, exactly its descriptors, environment,
// working directory and limits, and after it kills every process it left, empties /tmp and
// checks System V IPC — so a command finds the jail as a fresh one would be. The host keeps the
// deadline and the cancellation: on either, and when the jail misbehaves, the whole jail is
// killed and the next command starts a new one. A second command while one runs (parallel tool
// calls) gets a jail of its own (run_jailed). A jail idle for `idle` is reaped by a background
// thread; a jail that died between commands is replaced transparently.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/jail.hpp"

namespace cppflue::detail {

struct LiveJail;

// Why a session's commands cannot share a jail here ("" when they can): the helper empties /tmp
// between commands, which must never be the workspace or hold it (a workspace at /tmp,
// /var/tmp or above them); without Landlock a command could leave state in /dev or reach the
// jail's init. They then get a fresh jail each.
std::string shared_jail_refusal(const JailSpec& spec);

class SessionJail : public std::enable_shared_from_this<SessionJail> {
 public:
  // `idle` > 0.
  static std::shared_ptr<SessionJail> create(JailSpec spec, std::chrono::milliseconds idle);
  SessionJail(JailSpec spec, std::chrono::milliseconds idle);
  ~SessionJail();
  SessionJail(const SessionJail&) = delete;
  SessionJail& operator=(const SessionJail&) = delete;

  // run_jailed's contract, in the session's jail.
  boost::asio::awaitable<Result<SubprocessResult>> run(SubprocessOptions options,
                                                       CancelToken cancel);

  // How many jails this session started (tests, benchmarks).
  int jails_started() const;
  // Whether a jail is kept now (tests).
  bool holds_jail() const;

  // The reaper's call: discards the jail when idle for `idle` at `now`; the time of the next
  // check, or max() when there is nothing to watch.
  std::chrono::steady_clock::time_point reap_if_idle(std::chrono::steady_clock::time_point now);

 private:
  boost::asio::awaitable<std::shared_ptr<LiveJail>> acquire();
  void release(std::shared_ptr<LiveJail> live);

  const JailSpec spec_;
  const std::chrono::milliseconds idle_;
  mutable std::mutex mu_;
  bool busy_ = false;
  bool broken_ = false;  // a jail failed to start: every command gets a jail of its own
  int started_ = 0;
  std::shared_ptr<LiveJail> live_;
  std::chrono::steady_clock::time_point last_used_;
};

}  // namespace cppflue::detail
