// SPDX-License-Identifier: Apache-2.0
// One jail per session: see jail_session.hpp.
#include "sandbox/jail_session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <condition_variable>
#include <cstring>
#include <thread>
#include <vector>

#include "cppflue/core/log.hpp"
#include "sandbox/jail_internal.hpp"
#include "sandbox/jail_protocol.hpp"
#include "sandbox/subprocess_internal.hpp"

namespace asio = boost::asio;

namespace cppflue::detail {

using Clock = std::chrono::steady_clock;

// A started jail. Discarding it ends it: the helper sees its control socket close and exits,
// the jail's init follows and the kernel kills what is left in its PID namespace; the kill of
// bwrap and of its cgroups makes sure of it.
struct LiveJail {
  ServedJail jail;
  ~LiveJail() {
    jail.control.reset();
    ::syscall(SYS_pidfd_send_signal, jail.pidfd.get(), SIGKILL, nullptr, 0);
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(jail.pid), &info, WEXITED) < 0 && errno == EINTR) {
    }
    if (jail.cgroups) jail.cgroups->remove_now();
  }
  void kill() const { ::syscall(SYS_pidfd_send_signal, jail.pidfd.get(), SIGKILL, nullptr, 0); }
  // The jail ended by itself (its init exited): bwrap is a zombie by now.
  bool ended() const {
    pollfd p{jail.pidfd.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
  }
};

namespace {

namespace proto = jail_protocol;

// How a command in the jail ended, beyond its status.
struct Outcome {
  bool dirty = false;   // the helper could not clean up after it
  bool ended = false;   // the jail went away (or answered nonsense) during the command
  bool killed = false;  // we killed the jail (deadline, cancellation, leftovers)
};

// A command inside the session's jail: its end arrives on the control socket as a Done.
class JailedWatched final : public Watched {
 public:
  JailedWatched(std::shared_ptr<LiveJail> live, UniqueFd wait_fd, std::shared_ptr<Outcome> out)
      : live_(std::move(live)), wait_fd_(std::move(wait_fd)), outcome_(std::move(out)) {}

  UniqueFd wait_descriptor() override { return std::move(wait_fd_); }

  std::optional<ExitStatus> poll_exit() override {
    proto::Done done;
    ssize_t n = ::recv(live_->jail.control.get(), &done, sizeof done, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return std::nullopt;
    if (n == static_cast<ssize_t>(sizeof done) && done.tag == proto::kDone && done.code >= 0 &&
        done.code < 256 + 128 && done.signal >= 0 && done.signal < 128) {
      outcome_->dirty = done.dirty != 0;
      return ExitStatus{done.code, done.signal};
    }
    outcome_->ended = true;
    kill();
    return ExitStatus{128 + SIGKILL, SIGKILL};
  }

  void kill() override {
    outcome_->killed = true;
    live_->kill();
  }

  void finish(bool pipes_open) override {
    if (pipes_open) kill();  // something of the command still holds its output
  }

 private:
  std::shared_ptr<LiveJail> live_;
  UniqueFd wait_fd_;
  std::shared_ptr<Outcome> outcome_;
};

// The background thread that reaps idle jails (one per process, started on first use; never
// destroyed, so nothing of it runs during static destruction).
class Reaper {
 public:
  static Reaper& get() {
    static Reaper* reaper = new Reaper;
    return *reaper;
  }

  void watch(const std::shared_ptr<SessionJail>& jail) {
    std::lock_guard lock(mu_);
    jails_.push_back(jail);
    if (!started_) {
      started_ = true;
      std::thread([this] { loop(); }).detach();
    }
  }

  // A jail is kept from now on: look again when the next one falls idle.
  void poke() {
    std::lock_guard lock(mu_);
    ++pokes_;
    cv_.notify_one();
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      auto now = Clock::now();
      auto next = Clock::time_point::max();
      const unsigned long seen = pokes_;
      std::vector<std::weak_ptr<SessionJail>> jails;
      jails.swap(jails_);
      lock.unlock();
      std::vector<std::weak_ptr<SessionJail>> kept;
      for (auto& weak : jails) {
        // The last reference may be this one: the session's jail then ends here.
        if (auto jail = weak.lock()) {
          next = std::min(next, jail->reap_if_idle(now));
          kept.push_back(std::move(weak));
        }
      }
      jails.clear();
      lock.lock();
      jails_.insert(jails_.end(), kept.begin(), kept.end());
      auto poked = [this, seen] { return pokes_ != seen; };
      if (next == Clock::time_point::max()) {
        cv_.wait_for(lock, std::chrono::seconds(60), poked);
      } else {
        cv_.wait_until(lock, next, poked);
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::weak_ptr<SessionJail>> jails_;
  unsigned long pokes_ = 0;
  bool started_ = false;
};

// Sends the command to the helper: the working directory, and the memfd and pipes as SCM_RIGHTS.
bool send_request(int control, const std::string& cwd, const std::vector<int>& fds) {
  std::string payload(1, proto::kRun);
  payload += cwd;
  iovec iov{payload.data(), payload.size()};
  alignas(cmsghdr) char control_buf[CMSG_SPACE(sizeof(int) * proto::kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control_buf;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ssize_t n;
  do {
    n = ::sendmsg(control, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(payload.size());
}

struct Call {
  UniqueFd memfd;
  CallPipes ours;
  std::vector<UniqueFd> theirs;  // stdout, stderr[, stdin]: handed to the helper
};

Result<Call> prepare_call(const SubprocessOptions& options) {
  auto memfd = jailed_command_memfd(options);
  if (!memfd) return fail(std::move(memfd.error()));
  Call call;
  call.memfd = std::move(*memfd);
  int p[2];
  auto pipe_error = [] {
    return fail(ErrorType::internal, std::string("cannot create pipes: ") + std::strerror(errno));
  };
  for (UniqueFd* ours : {&call.ours.out, &call.ours.err}) {
    if (::pipe2(p, O_CLOEXEC) != 0) return pipe_error();
    *ours = UniqueFd(p[0]);
    call.theirs.emplace_back(p[1]);
  }
  if (!options.stdin_data.empty()) {
    if (::pipe2(p, O_CLOEXEC) != 0) return pipe_error();
    call.theirs.emplace_back(p[0]);
    call.ours.in = UniqueFd(p[1]);
    if (::fcntl(call.ours.in.get(), F_SETFL, O_NONBLOCK) != 0) return pipe_error();
  }
  return call;
}

void note(SubprocessResult& result, const std::string& text) {
  std::string& err = result.stderr_text;
  if (!err.empty() && err.back() != '\n') err += '\n';
  err += text;
}

}  // namespace

std::shared_ptr<SessionJail> SessionJail::create(JailSpec spec, std::chrono::milliseconds idle) {
  auto jail = std::make_shared<SessionJail>(std::move(spec), idle);
  Reaper::get().watch(jail);
  return jail;
}

SessionJail::SessionJail(JailSpec spec, std::chrono::milliseconds idle)
    : spec_(std::move(spec)), idle_(idle) {}

SessionJail::~SessionJail() = default;

int SessionJail::jails_started() const {
  std::lock_guard lock(mu_);
  return started_;
}

bool SessionJail::holds_jail() const {
  std::lock_guard lock(mu_);
  return live_ != nullptr;
}

Clock::time_point SessionJail::reap_if_idle(Clock::time_point now) {
  std::shared_ptr<LiveJail> discarded;
  {
    std::lock_guard lock(mu_);
    if (busy_ || !live_) return Clock::time_point::max();
    if (now - last_used_ < idle_) return last_used_ + idle_;
    discarded = std::move(live_);
  }
  log::get()->debug("a session's jail was idle for {} s: reaped",
                    std::chrono::duration_cast<std::chrono::seconds>(idle_).count());
  return Clock::time_point::max();  // `discarded` ends the jail here, outside the lock
}

// The session's jail for one command, started when there is none (or it ended); nullptr when
// another command of the session holds it or none can be started.
std::shared_ptr<LiveJail> SessionJail::acquire() {
  std::shared_ptr<LiveJail> live;
  {
    std::lock_guard lock(mu_);
    if (busy_ || broken_) return nullptr;
    busy_ = true;
    live = std::move(live_);
  }
  if (live && live->ended()) live.reset();
  if (live) return live;
  auto started = start_served_jail(spec_);
  std::lock_guard lock(mu_);
  if (!started) {
    busy_ = false;
    broken_ = true;
    log::get()->warn("{}; every command of this session gets a jail of its own",
                     started.error().message);
    return nullptr;
  }
  ++started_;
  live = std::make_shared<LiveJail>();
  live->jail = std::move(*started);
  return live;
}

void SessionJail::release(std::shared_ptr<LiveJail> live) {
  std::lock_guard lock(mu_);
  busy_ = false;
  last_used_ = Clock::now();
  live_ = std::move(live);
  if (live_) Reaper::get().poke();
}

asio::awaitable<Result<SubprocessResult>> SessionJail::run(SubprocessOptions options,
                                                           CancelToken cancel) {
  if (options.argv.empty()) co_return fail(ErrorType::invalid_input, "empty argv");
  if (cancel.cancelled()) co_return fail(ErrorType::cancelled, "command cancelled");
  auto cwd = jailed_cwd(spec_, options);
  if (!cwd) co_return fail(std::move(cwd.error()));
  auto call = prepare_call(options);
  if (!call) co_return fail(std::move(call.error()));
  std::shared_ptr<LiveJail> live = acquire();
  if (!live) {
    auto own = co_await run_jailed(spec_, std::move(options), std::move(cancel));
    co_return own;
  }

  std::vector<int> fds = {call->memfd.get()};
  for (const auto& fd : call->theirs) fds.push_back(fd.get());
  bool sent = send_request(live->jail.control.get(), *cwd, fds);
  if (!sent) {
    // The jail ended while idle (its init was killed, its thread ended): start a new one.
    live.reset();
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    live = acquire();
    if (!live) {
      auto own = co_await run_jailed(spec_, std::move(options), std::move(cancel));
      co_return own;
    }
    sent = send_request(live->jail.control.get(), *cwd, fds);
  }
  call->theirs.clear();
  call->memfd.reset();
  UniqueFd wait_fd(::fcntl(live->jail.control.get(), F_DUPFD_CLOEXEC, 3));
  if (!sent || wait_fd.get() < 0) {
    release(nullptr);
    co_return fail(ErrorType::internal, "cannot hand the command to the session's jail");
  }
  auto outcome = std::make_shared<Outcome>();
  auto watched = std::make_unique<JailedWatched>(live, std::move(wait_fd), outcome);
  auto result =
      co_await run_watched(options, std::move(watched), std::move(call->ours), std::move(cancel));
  bool keep = !outcome->dirty && !outcome->ended && !outcome->killed;
  if (live->jail.cgroups && live->jail.cgroups->memory_exhausted()) {
    keep = false;
    if (result && !result->timed_out) note_memory_kill(*result, spec_);
  } else if (result && outcome->ended) {
    note(*result,
         "[cppflue: the session's jail ended during the command (one of its processes killed "
         "it); the next command starts a new one]");
  }
  release(keep ? std::move(live) : nullptr);
  co_return result;
}

}  // namespace cppflue::detail
