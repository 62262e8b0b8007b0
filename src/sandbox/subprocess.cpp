// SPDX-License-Identifier: Apache-2.0
// Subprocess runner: posix_spawn + pipes + pidfd, all driven on one strand of the caller's
// executor. See include/cppflue/sandbox/subprocess.hpp for the contract.
//
// Life of a call (every step below runs on the strand):
//   start      → reads of stdout/stderr, stdin writer, timeout timer, wait for the exit (the
//                pidfd of a child of ours; see subprocess_internal.hpp for the other kind);
//   pidfd      → waitid(WNOWAIT) records the status but leaves the child a zombie, so its pid
//                (= the process group id) cannot be reused while we may still kill the group;
//                then the drain timer starts;
//   both EOF or drain timer → finish: kill(-pgid, SIGKILL), reap, close, complete;
//   timeout    → kill the group; the exit then arrives through the pidfd as usual;
//   cancel     → kill the group, close the pipes, finish as soon as the child is gone.
#include "cppflue/sandbox/subprocess.hpp"
#include "sandbox/subprocess_internal.hpp"
#include "sandbox/unique_fd.hpp"

#include "cppflue/core/unique_function.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

namespace asio = boost::asio;

namespace cppflue {

namespace {

using Clock = std::chrono::steady_clock;
using Strand = asio::strand<asio::any_io_executor>;

// ---- small POSIX helpers ----

using Fd = detail::UniqueFd;

struct Pipe {
  Fd read;
  Fd write;
};

std::optional<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

std::string errno_text(int err) {
  return std::strerror(err);
}

int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// execvp's search over the child's environment (PATH= entry of `env`).
std::optional<std::string> resolve_command(const std::string& name,
                                           const std::vector<std::string>& env,
                                           const std::string& cwd) {
  std::string_view path;
  for (const auto& kv : env) {
    if (kv.rfind("PATH=", 0) == 0) path = std::string_view(kv).substr(5);
  }
  return find_executable(name, path, cwd);
}

const char* prlimit_binary() {
  static const char* found = []() -> const char* {
    for (const char* p : {"/usr/bin/prlimit", "/bin/prlimit"}) {
      if (is_executable_file(p)) return p;
    }
    return nullptr;
  }();
  return found;
}

// RAII for posix_spawn's attribute and file-action objects.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// ---- output capture ----

struct Capture {
  std::size_t max_bytes = 0;
  std::size_t max_lines = 0;
  std::string text;
  std::size_t lines = 0;
  bool full = false;       // a cap has been reached: further bytes are discarded
  bool truncated = false;  // bytes were discarded
  bool eof = false;
  std::array<char, 64 * 1024> buf{};

  void init(std::size_t bytes, std::size_t line_cap) {
    max_bytes = bytes;
    max_lines = line_cap;
    full = max_bytes == 0 || max_lines == 0;
  }

  void append(const char* p, std::size_t n) {
    if (n == 0) return;
    if (full) {
      truncated = true;
      return;
    }
    std::size_t take = std::min(n, max_bytes - text.size());
    bool cut_at_line = false;
    const char* q = p;
    std::size_t left = take;
    while (left > 0) {
      const void* nl = std::memchr(q, '\n', left);
      if (nl == nullptr) break;
      std::size_t advance = static_cast<std::size_t>(static_cast<const char*>(nl) - q) + 1;
      q += advance;
      left -= advance;
      if (++lines >= max_lines) {
        take = static_cast<std::size_t>(q - p);
        full = true;
        cut_at_line = true;
        break;
      }
    }
    text.append(p, take);
    if (text.size() >= max_bytes) full = true;
    if (take < n) {
      truncated = true;
      if (!cut_at_line) trim_partial_utf8();
    }
  }

  // Drops an incomplete UTF-8 sequence left at the end by the byte cap.
  void trim_partial_utf8() {
    std::size_t i = text.size();
    std::size_t continuation = 0;
    while (i > 0 && continuation < 3 && (static_cast<unsigned char>(text[i - 1]) & 0xC0) == 0x80) {
      --i;
      ++continuation;
    }
    if (i == 0) return;
    auto lead = static_cast<unsigned char>(text[i - 1]);
    std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > 1 && continuation + 1 < need) text.resize(i - 1);
  }
};

// ---- the running call ----

using Completion = UniqueFunction<Result<SubprocessResult>>;

class Run : public std::enable_shared_from_this<Run> {
 public:
  Run(const Strand& strand, const SubprocessOptions& options,
      std::unique_ptr<detail::Watched> watched, detail::CallPipes pipes)
      : timeout_(options.timeout),
        drain_timeout_(options.drain_timeout),
        stdin_data_(options.stdin_data),
        watched_(std::move(watched)),
        exit_fd_(strand, watched_->wait_descriptor().release()),
        out_pipe_(strand, pipes.out.release()),
        err_pipe_(strand, pipes.err.release()),
        in_pipe_(strand),
        timeout_timer_(strand),
        drain_timer_(strand),
        started_at_(Clock::now()) {
    if (pipes.in.get() >= 0) in_pipe_.assign(pipes.in.release());
    out_.init(options.max_output_bytes, options.max_output_lines);
    err_.init(options.max_output_bytes, options.max_output_lines);
  }

  ~Run() {
    // Only reached with a completed call, except when the io_context is torn down with the
    // call still pending: never leave the command running.
    if (!finished_) {
      watched_->kill();
      watched_->finish(true);
    }
  }

  // On the strand.
  void start(Completion completion) {
    completion_ = std::move(completion);
    wait_exit();
    if (cancelled_) return;  // on_cancel ran first and closed the pipes
    read(out_pipe_, out_);
    read(err_pipe_, err_);
    if (in_pipe_.is_open()) write_stdin();
    if (timeout_.count() > 0) {
      timeout_timer_.expires_after(timeout_);
      auto self = shared_from_this();
      timeout_timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec) self->on_timeout();
      });
    }
  }

  // On the strand.
  void on_cancel() {
    if (finished_ || cancelled_) return;
    cancelled_ = true;
    watched_->kill();
    close_pipes();
    timeout_timer_.cancel();
    drain_timer_.cancel();
    if (exited_) finish();
  }

 private:
  void close_pipes() {
    boost::system::error_code ignored;
    out_pipe_.close(ignored);
    err_pipe_.close(ignored);
    in_pipe_.close(ignored);
    out_.eof = true;
    err_.eof = true;
  }

  void wait_exit() {
    auto self = shared_from_this();
    exit_fd_.async_wait(asio::posix::stream_descriptor::wait_read,
                        [self](boost::system::error_code ec) {
                          if (ec == asio::error::operation_aborted) return;
                          self->on_exit_signalled();
                        });
  }

  void on_exit_signalled() {
    if (finished_ || exited_) return;
    auto status = watched_->poll_exit();
    if (!status) {  // spurious wake-up: not ended yet
      wait_exit();
      return;
    }
    exited_ = true;
    exit_code_ = status->code;
    signal_ = status->signal;
    timeout_timer_.cancel();
    if (cancelled_ || (out_.eof && err_.eof)) {
      finish();
      return;
    }
    drain_timer_.expires_after(drain_timeout_);
    auto self = shared_from_this();
    drain_timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->finish();
    });
  }

  void on_timeout() {
    if (finished_ || exited_) return;
    timed_out_ = true;
    watched_->kill();
  }

  void read(asio::posix::stream_descriptor& pipe, Capture& cap) {
    auto self = shared_from_this();
    pipe.async_read_some(asio::buffer(cap.buf),
                         [self, &pipe, &cap](boost::system::error_code ec, std::size_t n) {
                           if (self->finished_ || self->cancelled_) return;
                           cap.append(cap.buf.data(), n);
                           if (ec) {
                             cap.eof = true;
                             boost::system::error_code ignored;
                             pipe.close(ignored);
                             if (self->exited_ && self->out_.eof && self->err_.eof) self->finish();
                             return;
                           }
                           self->read(pipe, cap);
                         });
  }

  // Writes stdin with non-blocking write(2) calls while SIGPIPE is blocked in this thread (and
  // a SIGPIPE we caused is consumed), so a child that exits without reading its input cannot
  // kill us through SIGPIPE and we change no process-wide signal disposition.
  void write_stdin() {
    auto self = shared_from_this();
    in_pipe_.async_wait(asio::posix::stream_descriptor::wait_write,
                        [self](boost::system::error_code ec) {
                          if (ec || self->finished_ || self->cancelled_) return;
                          self->write_some_stdin();
                        });
  }

  void write_some_stdin() {
    sigset_t pipe_set, old_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    bool done = false;
    while (stdin_offset_ < stdin_data_.size()) {
      ssize_t n = ::write(in_pipe_.native_handle(), stdin_data_.data() + stdin_offset_,
                          stdin_data_.size() - stdin_offset_);
      if (n > 0) {
        stdin_offset_ += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EPIPE && !was_pending) {
        struct timespec zero {};
        while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
      done = true;  // EPIPE or another error: the child does not want more input
      break;
    }
    pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
    if (done || stdin_offset_ >= stdin_data_.size()) {
      boost::system::error_code ignored;
      in_pipe_.close(ignored);
      stdin_data_.clear();
      stdin_data_.shrink_to_fit();
      return;
    }
    write_stdin();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    // Whatever the drain left behind (or a daemonised grandchild) goes.
    watched_->finish(!(out_.eof && err_.eof));
    boost::system::error_code ignored;
    close_pipes();
    exit_fd_.close(ignored);
    timeout_timer_.cancel();
    drain_timer_.cancel();
    if (!completion_) return;
    if (cancelled_) {
      completion_(fail(ErrorType::cancelled, "command cancelled"));
      return;
    }
    SubprocessResult r;
    r.exit_code = timed_out_ ? 124 : exit_code_;
    r.signal = signal_;
    r.timed_out = timed_out_;
    r.truncated = out_.truncated || err_.truncated;
    r.stdout_text = std::move(out_.text);
    r.stderr_text = std::move(err_.text);
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_);
    completion_(std::move(r));
  }

  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds drain_timeout_;
  std::string stdin_data_;
  std::size_t stdin_offset_ = 0;
  std::unique_ptr<detail::Watched> watched_;
  asio::posix::stream_descriptor exit_fd_;
  asio::posix::stream_descriptor out_pipe_;
  asio::posix::stream_descriptor err_pipe_;
  asio::posix::stream_descriptor in_pipe_;
  asio::steady_timer timeout_timer_;
  asio::steady_timer drain_timer_;
  Clock::time_point started_at_;
  Capture out_;
  Capture err_;
  Completion completion_;
  bool exited_ = false;
  bool timed_out_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
  int signal_ = 0;
};

struct Spawned {
  pid_t pid = -1;
  Fd pidfd;
  Fd out;
  Fd err;
  Fd in;  // our end of the child's stdin, or -1
};

// Checks the options and finds the program (execvp's search in the child's PATH).
Result<std::string> find_program(const SubprocessOptions& options) {
  const std::string& name = options.argv.front();
  if (name.empty()) return fail(ErrorType::invalid_input, "empty command name");
  if (!options.cwd.empty()) {
    struct stat st {};
    if (::stat(options.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return fail(ErrorType::invalid_input, "working directory does not exist: " + options.cwd);
    }
  }
  if (options.max_processes < 0 || options.max_address_space < 0) {
    return fail(ErrorType::invalid_input, "resource limits must not be negative");
  }
  auto program = resolve_command(name, options.env, options.cwd);
  if (!program) return fail(ErrorType::not_found, "command not found: " + name);
  return std::move(*program);
}

struct CommandLine {
  std::string exec_path;
  std::vector<std::string> args;
};

// argv of the spawned process: the command, or prlimit(1) wrapping it.
Result<CommandLine> command_line(const SubprocessOptions& options, const std::string& program) {
  CommandLine c;
  c.exec_path = program;
  if (options.max_processes > 0 || options.max_address_space > 0) {
    const char* prlimit = prlimit_binary();
    if (prlimit == nullptr) {
      return fail(ErrorType::internal,
                  "resource limits need util-linux prlimit(1), which is not installed");
    }
    c.exec_path = prlimit;
    c.args.emplace_back("prlimit");
    if (options.max_processes > 0) {
      c.args.push_back("--nproc=" + std::to_string(options.max_processes));
    }
    if (options.max_address_space > 0) {
      c.args.push_back("--as=" + std::to_string(options.max_address_space));
    }
    c.args.emplace_back("--");
    c.args.push_back(program);
    c.args.insert(c.args.end(), options.argv.begin() + 1, options.argv.end());
  } else {
    c.args = options.argv;
  }
  return c;
}

// The pipes of the child's stdout, stderr and, when there is input, stdin.
struct ChildPipes {
  std::optional<Pipe> out;
  std::optional<Pipe> err;
  std::optional<Pipe> in;
};

Result<ChildPipes> make_child_pipes(const SubprocessOptions& options) {
  ChildPipes p;
  p.out = make_pipe();
  p.err = make_pipe();
  if (!options.stdin_data.empty()) p.in = make_pipe();
  if (!p.out || !p.err || (!options.stdin_data.empty() && !p.in)) {
    return fail(ErrorType::internal, "cannot create pipes: " + errno_text(errno));
  }
  if (p.in && ::fcntl(p.in->write.get(), F_SETFL, O_NONBLOCK) != 0) {
    return fail(ErrorType::internal, "cannot configure stdin pipe: " + errno_text(errno));
  }
  return p;
}

// The child gets a process group of its own (killed as a whole), no blocked signals and the
// default disposition of the signals a shell cares about. 0 or the error number.
int set_spawn_attributes(posix_spawnattr_t* attr) {
  sigset_t empty_mask, default_signals;
  sigemptyset(&empty_mask);
  sigemptyset(&default_signals);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2,
                  SIGTSTP, SIGTTIN, SIGTTOU}) {
    sigaddset(&default_signals, sig);
  }
  int rc = posix_spawnattr_setflags(
      attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawnattr_setpgroup(attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigmask(attr, &empty_mask);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(attr, &default_signals);
  return rc;
}

// The child's stdin, stdout, stderr, the descriptors of `child_fds` and no other, and its
// working directory: 0 or the error number of posix_spawn_file_actions_*.
Result<int> add_file_actions(posix_spawn_file_actions_t* actions, const SubprocessOptions& options,
                             const ChildPipes& pipes) {
  int rc = pipes.in
               ? posix_spawn_file_actions_adddup2(actions, pipes.in->read.get(), STDIN_FILENO)
               : posix_spawn_file_actions_addopen(actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(actions, pipes.out->write.get(), 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(actions, pipes.err->write.get(), 2);
  int first_closed = 3;
  for (const auto& [ours, theirs] : options.child_fds) {
    if (rc != 0) break;
    if (ours < 0 || theirs < 3 || ours == theirs) {
      return fail(ErrorType::invalid_input, "child_fds: bad descriptor pair");
    }
    rc = posix_spawn_file_actions_adddup2(actions, ours, theirs);
    first_closed = std::max(first_closed, theirs + 1);
  }
  // Descriptors opened without O_CLOEXEC by other threads must not leak into the child.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(actions, first_closed);
  if (rc == 0 && !options.cwd.empty()) {
    rc = posix_spawn_file_actions_addchdir_np(actions, options.cwd.c_str());
  }
  return rc;
}

Result<void> configure_spawn(SpawnSetup& setup, const SubprocessOptions& options,
                             const ChildPipes& pipes) {
  int rc = set_spawn_attributes(&setup.attr);
  if (rc == 0) {
    auto actions = add_file_actions(&setup.actions, options, pipes);
    if (!actions) return fail(std::move(actions.error()));
    rc = *actions;
  }
  if (rc != 0) return fail(ErrorType::internal, "cannot set up spawn: " + errno_text(rc));
  return {};
}

// A child that cannot be handed over: kill its group and reap it.
void kill_and_reap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  siginfo_t info{};
  ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
}

// The running child's pidfd, then the caller's on_spawned; our ends of the pipes.
Result<Spawned> adopt_child(const SubprocessOptions& options, pid_t pid, ChildPipes& pipes) {
  Spawned s;
  s.pid = pid;
  int pidfd = pidfd_open(pid);
  if (pidfd < 0) {
    int e = errno;
    kill_and_reap(pid);
    return fail(ErrorType::internal, "pidfd_open failed: " + errno_text(e));
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);  // pidfd_open sets it too; be explicit
  s.pidfd = Fd(pidfd);
  if (options.on_spawned) {
    if (auto r = options.on_spawned(pid); !r) {
      kill_and_reap(pid);
      return fail(std::move(r.error()));
    }
  }
  s.out = std::move(pipes.out->read);
  s.err = std::move(pipes.err->read);
  if (pipes.in) s.in = std::move(pipes.in->write);
  return s;
}

Result<Spawned> spawn(const SubprocessOptions& options) {
  auto program = find_program(options);
  if (!program) return fail(std::move(program.error()));
  auto command = command_line(options, *program);
  if (!command) return fail(std::move(command.error()));
  std::vector<char*> argv_ptrs;
  argv_ptrs.reserve(command->args.size() + 1);
  for (auto& a : command->args) argv_ptrs.push_back(a.data());
  argv_ptrs.push_back(nullptr);
  std::vector<std::string> env_copy = options.env;
  std::vector<char*> env_ptrs;
  env_ptrs.reserve(env_copy.size() + 1);
  for (auto& e : env_copy) env_ptrs.push_back(e.data());
  env_ptrs.push_back(nullptr);

  auto pipes = make_child_pipes(options);
  if (!pipes) return fail(std::move(pipes.error()));
  SpawnSetup setup;
  if (auto r = configure_spawn(setup, options, *pipes); !r) return fail(std::move(r.error()));

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, command->exec_path.c_str(), &setup.actions, &setup.attr,
                         argv_ptrs.data(), env_ptrs.data());
  if (rc != 0) {
    ErrorType type = rc == ENOENT    ? ErrorType::not_found
                     : rc == EACCES  ? ErrorType::permission
                     : rc == ENOEXEC ? ErrorType::permission
                                     : ErrorType::internal;
    return fail(type, "cannot run '" + options.argv.front() + "': " + errno_text(rc));
  }
  // The child's ends close when `pipes` goes out of scope, after adopt_child.
  return adopt_child(options, pid, *pipes);
}

// A child of ours in its own process group, observed through its pidfd. The status is read
// with WNOWAIT, which leaves the child a zombie, so its pid (= the process group id) cannot be
// reused while we may still kill the group; finish() kills the group and reaps it.
class ChildWatched final : public detail::Watched {
 public:
  ChildWatched(pid_t pid, Fd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}

  Fd wait_descriptor() override { return std::move(pidfd_); }

  std::optional<detail::ExitStatus> poll_exit() override {
    siginfo_t info{};
    info.si_pid = 0;
    int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && info.si_pid == 0) return std::nullopt;
    if (rc != 0) {
      // ECHILD: someone else reaped it (SIGCHLD ignored, or a waitpid(-1) elsewhere).
      reaped_ = true;
      return detail::ExitStatus{-1, 0};
    }
    if (info.si_code == CLD_EXITED) return detail::ExitStatus{info.si_status, 0};
    return detail::ExitStatus{128 + info.si_status, info.si_status};
  }

  void kill() override {
    // The leader is never reaped before finish(), so pid_ still names our process group.
    if (!reaped_) ::kill(-pid_, SIGKILL);
  }

  void finish(bool /*pipes_open*/) override {
    kill();
    if (reaped_) return;
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }

 private:
  pid_t pid_;
  Fd pidfd_;
  bool reaped_ = false;
};

}  // namespace

namespace detail {

asio::awaitable<Result<SubprocessResult>> run_watched(const SubprocessOptions& options,
                                                      std::unique_ptr<Watched> watched,
                                                      CallPipes pipes, CancelToken cancel) {
  auto ex = co_await asio::this_coro::executor;
  Strand strand = asio::make_strand(ex);
  auto run = std::make_shared<Run>(strand, options, std::move(watched), std::move(pipes));
  // Named lambdas: GCC 12 destroys lambda temporaries inside a co_await expression twice.
  auto on_cancel = [run, strand] { asio::post(strand, [run] { run->on_cancel(); }); };
  CancelRegistration registration(cancel, on_cancel);
  auto initiation = [run, strand](auto handler) {
    // Resume the caller on its own executor, never inline on the strand.
    auto hex = asio::get_associated_executor(handler, strand);
    Completion completion([h = std::move(handler), hex](Result<SubprocessResult> r) mutable {
      asio::post(hex,
                 [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
    });
    asio::dispatch(strand,
                   [run, c = std::move(completion)]() mutable { run->start(std::move(c)); });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(Result<SubprocessResult>)>(std::move(initiation),
                                                                          asio::use_awaitable);
}

}  // namespace detail

asio::awaitable<Result<SubprocessResult>> run_subprocess(SubprocessOptions options,
                                                         CancelToken cancel) {
  if (options.argv.empty()) co_return fail(ErrorType::invalid_input, "empty argv");
  if (cancel.cancelled()) co_return fail(ErrorType::cancelled, "command cancelled");
  auto spawned = spawn(options);
  if (!spawned) co_return fail(std::move(spawned.error()));
  auto watched = std::make_unique<ChildWatched>(spawned->pid, std::move(spawned->pidfd));
  detail::CallPipes pipes{std::move(spawned->out), std::move(spawned->err), std::move(spawned->in)};
  co_return co_await detail::run_watched(options, std::move(watched), std::move(pipes),
                                         std::move(cancel));
}

std::optional<std::string> find_executable(const std::string& name, std::string_view path,
                                           const std::string& cwd) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) return name;
  if (path.empty()) path = "/bin:/usr/bin";  // confstr(_CS_PATH), execvp's default
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t end = path.find(':', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(pos, end - pos));
    pos = end + 1;
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    // Relative PATH entries are relative to the child's working directory.
    std::string probe = (dir[0] != '/' && !cwd.empty()) ? cwd + "/" + candidate : candidate;
    if (is_executable_file(probe)) return probe;
  }
  return std::nullopt;
}

}  // namespace cppflue
