// SPDX-License-Identifier: Apache-2.0
// One jail per session: see jail_session.hpp.
#include "sandbox/jail_session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "sandbox/jail_internal.hpp"
#include "sandbox/jail_protocol.hpp"
#include "sandbox/subprocess_internal.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace cppflue::detail {

using Clock = std::chrono::steady_clock;

// A started jail. Discarding it ends it: the helper sees its control socket close and exits,
// the jail's init follows and the kernel kills what is left in its PID namespace; the kill of
// bwrap and of its cgroups makes sure of it.
// The identity of a workspace entry the jail hides or binds read-only, as it was when the jail
// was set up. The binds are made once: when the host later replaces such an entry (an editor's
// atomic save of AGENTS.md, `git init`, a new .env), the jail would keep the old bind or none,
// so the jail is discarded instead.
struct EntryId {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t type = 0;
  bool operator==(const EntryId&) const = default;
};

std::vector<EntryId> bound_entries(const JailSpec& spec) {
  std::vector<EntryId> out;
  auto add = [&](const std::string& rel) {
    struct stat st {};
    EntryId id;
    int rc = spec.workspace_fd >= 0
                 ? ::fstatat(spec.workspace_fd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW)
                 : ::lstat((spec.workspace / rel).c_str(), &st);
    if (rc == 0) id = EntryId{true, st.st_dev, st.st_ino, static_cast<mode_t>(st.st_mode & S_IFMT)};
    out.push_back(id);
  };
  for (const auto& rel : spec.hidden) add(rel);
  for (const auto& rel : spec.read_only) add(rel);
  return out;
}

struct LiveJail {
  ServedJail jail;
  std::vector<EntryId> bound;  // recorded before the jail bound them
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
    if (!live_) return ExitStatus{128 + SIGKILL, SIGKILL};
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
    if (live_) live_->kill();
  }

  void finish(bool pipes_open) override {
    if (pipes_open) kill();  // something of the command still holds its output
    // The caller ends (or keeps) the jail, off the I/O threads: this reference must not be the
    // one that ends it here.
    live_.reset();
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

// Runs `work` on the runtime's blocking pool and resumes on the caller's executor: setting a
// jail up and tearing one down block for milliseconds (spawn, the helper's handshake, reaping,
// cgroup removal), which must not stall the I/O threads other sessions share.
asio::awaitable<void> off_the_loop(std::function<void()> work) {
  auto ex = co_await asio::this_coro::executor;
  auto initiation = [&work, ex](auto handler) {
    asio::post(Runtime::shared()->blocking(),
               [w = std::move(work), h = std::move(handler), ex]() mutable {
                 try {
                   w();
                 } catch (const std::exception& e) {
                   log::get()->error("session jail: {}", e.what());
                 }
                 asio::post(ex, std::move(h));
               });
  };
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(std::move(initiation),
                                                                       asio::use_awaitable);
}

// Ends a jail off the I/O threads (when this is the last reference to it).
asio::awaitable<void> discard(std::shared_ptr<LiveJail> live) {
  if (!live) co_return;
  std::function<void()> end = [l = std::move(live)]() mutable { l.reset(); };
  co_await off_the_loop(std::move(end));
}

bool holds_or_is(const std::string& outer, const std::string& inner) {
  return outer == "/" || outer == inner || inner.rfind(outer + "/", 0) == 0;
}

}  // namespace

std::string shared_jail_refusal(const JailSpec& spec) {
  const JailStatus& st = jail_status();
  if (st.landlock_abi <= 0 || st.helper.empty()) return "no Landlock here";
  std::error_code ec;
  const std::string ws = fs::weakly_canonical(spec.workspace, ec).string();
  for (const char* tmp : {"/tmp", "/var/tmp"}) {
    std::string real = fs::weakly_canonical(tmp, ec).string();
    if (holds_or_is(ws, tmp) || (!real.empty() && holds_or_is(ws, real))) {
      return "the workspace " + ws + " is or holds " + tmp;
    }
  }
  return {};
}

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

// The session's jail for one command, started when there is none (or it ended, or the entries
// it binds changed); nullptr when another command of the session holds it or none can be used.
asio::awaitable<std::shared_ptr<LiveJail>> SessionJail::acquire() {
  std::shared_ptr<LiveJail> live;
  {
    std::lock_guard lock(mu_);
    if (busy_ || broken_) co_return nullptr;
    busy_ = true;
    live = std::move(live_);
  }
  // Recorded before a new jail binds anything: a change after this is seen next time.
  std::vector<EntryId> entries = bound_entries(spec_);
  if (live && (live->ended() || live->bound != entries)) co_await discard(std::move(live));
  if (live) co_return live;
  std::string refusal = shared_jail_refusal(spec_);
  Result<ServedJail> started = fail(ErrorType::permission, refusal);
  if (refusal.empty()) {
    std::function<void()> start = [&] { started = start_served_jail(spec_); };
    co_await off_the_loop(std::move(start));
  }
  std::lock_guard lock(mu_);
  if (!started) {
    busy_ = false;
    broken_ = true;
    if (refusal.empty()) {
      log::get()->warn("{}; every command of this session gets a jail of its own",
                       started.error().message);
    } else {
      log::get()->debug("a fresh jail for every command of this session: {}", refusal);
    }
    co_return nullptr;
  }
  ++started_;
  live = std::make_shared<LiveJail>();
  live->jail = std::move(*started);
  live->bound = std::move(entries);
  co_return live;
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
  auto self = shared_from_this();  // alive until the call ends, whatever its caller does
  if (options.argv.empty()) co_return fail(ErrorType::invalid_input, "empty argv");
  if (cancel.cancelled()) co_return fail(ErrorType::cancelled, "command cancelled");
  auto cwd = jailed_cwd(spec_, options);
  if (!cwd) co_return fail(std::move(cwd.error()));
  auto call = prepare_call(options);
  if (!call) co_return fail(std::move(call.error()));
  std::shared_ptr<LiveJail> live = co_await acquire();
  if (!live) {
    auto own = co_await run_jailed(spec_, std::move(options), std::move(cancel));
    co_return own;
  }

  std::vector<int> fds = {call->memfd.get()};
  for (const auto& fd : call->theirs) fds.push_back(fd.get());
  bool sent = send_request(live->jail.control.get(), *cwd, fds);
  if (!sent) {
    // The jail ended while idle (its init was killed, its thread ended): start a new one.
    co_await discard(std::move(live));
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    live = co_await acquire();
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
    co_await discard(std::move(live));
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
  if (!keep) co_await discard(std::move(live));
  release(std::move(live));
  co_return result;
}

}  // namespace cppflue::detail
