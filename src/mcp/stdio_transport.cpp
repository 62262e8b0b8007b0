// SPDX-License-Identifier: Apache-2.0
// The MCP stdio transport: one long-lived child in its own process group.
//
// run_subprocess (sandbox) runs a command to completion; an MCP server is long-lived and
// talks over its stdin/stdout, so this file has its own small spawner. Everything happens on
// one strand of the shared Runtime:
//   stdout  → split into lines; each line is parsed and handed to on_message; a line longer
//             than max_message_bytes ends the connection ("message too large");
//   stderr  → lines logged at info level, prefixed with the server name;
//   stdin   → a socketpair (not a pipe): Asio sends with MSG_NOSIGNAL, so a server that died
//             cannot kill us with SIGPIPE and no process-wide signal disposition changes;
//   pidfd   → the exit. The connection is then reported closed, naming the exit status, once
//             stdout reached EOF or after a short drain (grandchildren may hold it open);
//   EOF     → if the server does not exit within a grace period it is killed.
// finish() reports on_closed once, kills the whole group (while the zombie still holds the
// group id) and reaps the child.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>

#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/mcp/client.hpp"
#include "cppflue/sandbox/subprocess.hpp"

namespace cppflue::mcp {

namespace asio = boost::asio;
using Strand = asio::strand<asio::any_io_executor>;

namespace {

constexpr std::chrono::milliseconds kExitDrain{200};
constexpr std::chrono::milliseconds kEofGrace{500};

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string describe_status(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return "exited with status " + std::to_string(info.si_status);
  return "was killed by signal " + std::to_string(info.si_status);
}

struct Spawned {
  pid_t pid = -1;
  int pidfd = -1;
  int in = -1;   // our end of the stdin socketpair
  int out = -1;  // read end of stdout
  int err = -1;  // read end of stderr
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// A null-terminated char* array over owned strings, as posix_spawn takes argv and envp.
// Neither copied nor moved: the pointers point into `strings`.
struct CStringArray {
  explicit CStringArray(std::vector<std::string> s) : strings(std::move(s)) {
    for (auto& str : strings) pointers.push_back(str.data());
    pointers.push_back(nullptr);
  }
  CStringArray(const CStringArray&) = delete;
  CStringArray& operator=(const CStringArray&) = delete;

  std::vector<std::string> strings;
  std::vector<char*> pointers;
};

// The child's stdin socketpair and stdout/stderr pipes; [0] is our end, [1] the child's.
struct ChildPipes {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};

  bool open() {
    return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) == 0 &&
           ::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0;
  }
  void close_all() {
    for (int* fds : {in, out, err}) {
      close_fd(fds[0]);
      close_fd(fds[1]);
    }
  }
};

// An empty command or a missing working directory.
Result<void> check_server_options(const std::string& server_name,
                                  const StdioServerOptions& server) {
  if (server.command.empty()) {
    return fail(ErrorType::config_error, "MCP server '" + server_name + "': empty command");
  }
  if (!server.cwd.empty()) {
    struct stat st {};
    if (::stat(server.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return fail(
          ErrorType::invalid_input,
          "MCP server '" + server_name + "': working directory does not exist: " + server.cwd);
    }
  }
  return {};
}

// The server's own variables, plus PATH, HOME and LANG from ours when it does not set them.
std::map<std::string, std::string> server_environment(const StdioServerOptions& server) {
  std::map<std::string, std::string> env = server.env;
  for (const char* key : {"PATH", "HOME", "LANG"}) {
    if (env.count(key) != 0) continue;
    if (const char* v = std::getenv(key)) env[key] = v;
  }
  return env;
}

std::vector<std::string> command_line(const StdioServerOptions& server) {
  std::vector<std::string> args;
  args.push_back(server.command);
  args.insert(args.end(), server.args.begin(), server.args.end());
  return args;
}

std::vector<std::string> environment_strings(const std::map<std::string, std::string>& env) {
  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  return env_strings;
}

// posix_spawn in a new process group, with an empty signal mask, default signal dispositions,
// the pipes as stdin/stdout/stderr and nothing else open. Returns 0 or an errno value.
int spawn_child(const std::string& program, const std::string& cwd, const ChildPipes& pipes,
                const CStringArray& argv, const CStringArray& envp, pid_t& pid) {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&actions);
  sigset_t empty_mask, default_signals;
  sigemptyset(&empty_mask);
  sigemptyset(&default_signals);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2,
                  SIGTSTP, SIGTTIN, SIGTTOU}) {
    sigaddset(&default_signals, sig);
  }
  int rc = posix_spawnattr_setflags(
      &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &empty_mask);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &default_signals);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, pipes.in[1], 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, pipes.out[1], 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, pipes.err[1], 2);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (rc == 0 && !cwd.empty()) {
    rc = posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  }
  if (rc == 0) {
    rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.pointers.data(),
                       envp.pointers.data());
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// posix_spawn's error code as an Error naming the server and its command.
Error spawn_error(int rc, const std::string& server_name, const StdioServerOptions& server) {
  ErrorType type = rc == ENOENT                      ? ErrorType::not_found
                   : (rc == EACCES || rc == ENOEXEC) ? ErrorType::permission
                                                     : ErrorType::internal;
  return make_error(type, "MCP server '" + server_name + "': cannot run '" + server.command +
                              "': " + errno_text(rc));
}

Result<Spawned> spawn_server(const std::string& server_name, const StdioServerOptions& server) {
  if (auto ok = check_server_options(server_name, server); !ok) return fail(ok.error());
  std::map<std::string, std::string> env = server_environment(server);
  auto program = find_executable(server.command, env.count("PATH") ? env["PATH"] : "", server.cwd);
  if (!program) {
    return fail(ErrorType::not_found,
                "MCP server '" + server_name + "': command not found: " + server.command);
  }
  CStringArray argv(command_line(server));
  CStringArray envp(environment_strings(env));

  ChildPipes pipes;
  if (!pipes.open()) {
    int e = errno;
    pipes.close_all();
    return fail(ErrorType::internal, "cannot create pipes: " + errno_text(e));
  }
  // The child only reads its stdin: shut down the other direction.
  ::shutdown(pipes.in[1], SHUT_WR);

  pid_t pid = -1;
  if (int rc = spawn_child(*program, server.cwd, pipes, argv, envp, pid); rc != 0) {
    pipes.close_all();
    return fail(spawn_error(rc, server_name, server));
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int e = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pipes.close_all();
    return fail(ErrorType::internal, "pidfd_open failed: " + errno_text(e));
  }
  Spawned s;
  s.pid = pid;
  s.pidfd = pidfd;
  s.in = pipes.in[0];
  s.out = pipes.out[0];
  s.err = pipes.err[0];
  pipes.in[0] = pipes.out[0] = pipes.err[0] = -1;
  pipes.close_all();  // the child's ends
  return s;
}

class State : public std::enable_shared_from_this<State> {
 public:
  State(const Strand& strand, std::string name, std::size_t max_bytes, Spawned s)
      : strand_(strand),
        name_(std::move(name)),
        max_bytes_(max_bytes),
        pid_(s.pid),
        pidfd_(strand, s.pidfd),
        in_(strand),
        out_(strand, s.out),
        err_(strand, s.err),
        timer_(strand) {
    boost::system::error_code ec;
    in_.assign(asio::local::stream_protocol(), s.in, ec);
    if (ec) ::close(s.in);
  }

  void begin(McpTransport::Handlers handlers) {
    handlers_ = std::move(handlers);
    read_out();
    read_err();
    auto self = shared_from_this();
    auto on_exit = [self](boost::system::error_code) { self->on_exit(); };
    pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      asio::bind_executor(strand_, on_exit));
  }

  void send(std::string line) {
    if (finished_) return;
    queue_.push_back(std::move(line));
    if (!writing_) write_next();
  }

  void close_by_client() {
    finish(make_error(ErrorType::connection_error,
                      "MCP server '" + name_ + "': connection closed by client"));
  }

  // Called from any thread: stop the group right away.
  void kill_now() {
    std::lock_guard lock(kill_mu_);
    if (!reaped_) ::kill(-pid_, SIGKILL);
  }

 private:
  void write_next() {
    if (queue_.empty() || finished_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    auto on_written = [self](boost::system::error_code ec, std::size_t) {
      if (self->finished_) return;
      self->queue_.pop_front();
      if (ec) {
        self->writing_ = false;
        // The exit (with its status) usually follows; report it if it comes soon.
        self->finish_later(make_error(ErrorType::connection_error,
                                      "MCP server '" + self->name_ +
                                          "': cannot write to its stdin: " + ec.message()),
                           kExitDrain);
        return;
      }
      self->write_next();
    };
    asio::async_write(in_, asio::buffer(queue_.front()), asio::bind_executor(strand_, on_written));
  }

  void read_out() {
    auto self = shared_from_this();
    auto on_read = [self](boost::system::error_code ec, std::size_t n) {
      if (self->finished_) return;
      if (ec) {
        self->on_eof();
        return;
      }
      self->out_buf_.append(self->out_chunk_.data(), n);
      std::size_t start = 0;
      for (;;) {
        std::size_t nl = self->out_buf_.find('\n', start);
        if (nl == std::string::npos) break;
        std::string_view line(self->out_buf_.data() + start, nl - start);
        start = nl + 1;
        if (line.size() > self->max_bytes_) {
          self->too_large(line.size());
          return;
        }
        self->on_line(line);
        if (self->finished_) return;
      }
      self->out_buf_.erase(0, start);
      if (self->out_buf_.size() > self->max_bytes_) {
        self->too_large(self->out_buf_.size());
        return;
      }
      self->read_out();
    };
    out_.async_read_some(asio::buffer(out_chunk_), asio::bind_executor(strand_, on_read));
  }

  void read_err() {
    auto self = shared_from_this();
    auto on_read = [self](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        if (!self->err_buf_.empty()) self->log_stderr(self->err_buf_);
        self->err_buf_.clear();
        return;
      }
      self->err_buf_.append(self->err_chunk_.data(), n);
      std::size_t start = 0;
      for (;;) {
        std::size_t nl = self->err_buf_.find('\n', start);
        if (nl == std::string::npos) break;
        self->log_stderr(std::string_view(self->err_buf_.data() + start, nl - start));
        start = nl + 1;
      }
      self->err_buf_.erase(0, start);
      if (self->err_buf_.size() > 64 * 1024) {  // a huge line without newline: log a prefix
        self->log_stderr(self->err_buf_.substr(0, 4096) + "...");
        self->err_buf_.clear();
      }
      if (self->finished_) return;
      self->read_err();
    };
    err_.async_read_some(asio::buffer(err_chunk_), asio::bind_executor(strand_, on_read));
  }

  void log_stderr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    log::get()->info("mcp[{}] stderr: {}", name_, line);
  }

  void on_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;
    auto value = parse_json(line, "MCP message");
    if (!value) {
      log::get()->warn("mcp[{}]: skipping a line that is not JSON ({}): {}", name_,
                       value.error().message, line.substr(0, 200));
      return;
    }
    if (handlers_.on_message) handlers_.on_message(std::move(*value));
  }

  void too_large(std::size_t size) {
    finish(make_error(ErrorType::connection_error,
                      "MCP server '" + name_ + "': message too large (" + std::to_string(size) +
                          " bytes > limit " + std::to_string(max_bytes_) + "); connection closed"));
  }

  void on_exit() {
    if (finished_ || exited_) return;
    exited_ = true;
    siginfo_t info{};
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid != 0) {
      exit_text_ = describe_status(info);
    } else {
      exit_text_ = "exited";
    }
    Error e = make_error(ErrorType::connection_error, "MCP server '" + name_ + "' " + exit_text_);
    if (eof_) {
      finish(std::move(e));
    } else {
      finish_later(std::move(e), kExitDrain);
    }
  }

  void on_eof() {
    if (finished_ || eof_) return;
    eof_ = true;
    if (exited_) {
      finish(make_error(ErrorType::connection_error, "MCP server '" + name_ + "' " + exit_text_));
      return;
    }
    finish_later(
        make_error(ErrorType::connection_error, "MCP server '" + name_ + "' closed its stdout"),
        kEofGrace);
  }

  // Reports `e` after `delay` unless something finishes first; an exit arriving during an
  // EOF grace replaces the error (via on_exit → finish).
  void finish_later(Error e, std::chrono::milliseconds delay) {
    if (finished_) return;
    later_ = std::move(e);
    timer_.expires_after(delay);
    auto self = shared_from_this();
    auto on_timer = [self](boost::system::error_code ec) {
      if (ec || self->finished_ || !self->later_) return;
      self->finish(std::move(*self->later_));
    };
    timer_.async_wait(asio::bind_executor(strand_, on_timer));
  }

  void finish(Error e) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    {
      std::lock_guard lock(kill_mu_);
      ::kill(-pid_, SIGKILL);  // the zombie still holds the group id
      ::waitpid(pid_, nullptr, 0);
      reaped_ = true;
    }
    boost::system::error_code ignored;
    pidfd_.close(ignored);
    in_.close(ignored);
    out_.close(ignored);
    err_.close(ignored);
    queue_.clear();
    log::get()->debug("mcp[{}]: connection closed: {}", name_, e.message);
    auto on_closed = std::move(handlers_.on_closed);
    handlers_ = {};
    if (on_closed) on_closed(std::move(e));
  }

  Strand strand_;
  std::string name_;
  std::size_t max_bytes_;
  pid_t pid_;
  asio::posix::stream_descriptor pidfd_;
  asio::local::stream_protocol::socket in_;
  asio::posix::stream_descriptor out_;
  asio::posix::stream_descriptor err_;
  asio::steady_timer timer_;
  McpTransport::Handlers handlers_;
  std::array<char, 65536> out_chunk_{};
  std::array<char, 8192> err_chunk_{};
  std::string out_buf_;
  std::string err_buf_;
  std::deque<std::string> queue_;
  std::optional<Error> later_;
  std::string exit_text_;
  std::mutex kill_mu_;
  bool writing_ = false;
  bool exited_ = false;
  bool eof_ = false;
  bool finished_ = false;
  bool reaped_ = false;
};

class StdioTransport : public McpTransport {
 public:
  explicit StdioTransport(std::shared_ptr<State> state, Strand strand)
      : state_(std::move(state)), strand_(std::move(strand)) {}
  ~StdioTransport() override { close(); }

  Result<void> start(Handlers handlers) override {
    auto state = state_;
    auto begin = [state, h = std::move(handlers)]() mutable { state->begin(std::move(h)); };
    asio::post(strand_, std::move(begin));
    return {};
  }

  void send(json message) override {
    std::string line = dump(message);
    line.push_back('\n');
    auto state = state_;
    auto task = [state, l = std::move(line)]() mutable { state->send(std::move(l)); };
    asio::post(strand_, std::move(task));
  }

  void close() override {
    if (closed_.exchange(true)) return;
    state_->kill_now();
    auto state = state_;
    auto task = [state] { state->close_by_client(); };
    asio::post(strand_, std::move(task));
  }

 private:
  std::shared_ptr<State> state_;
  Strand strand_;
  std::atomic<bool> closed_{false};
};

}  // namespace

Result<std::unique_ptr<McpTransport>> make_stdio_transport(std::string server_name,
                                                           const StdioServerOptions& server,
                                                           const McpOptions& options) {
  auto spawned = spawn_server(server_name, server);
  if (!spawned) return tl::unexpected(spawned.error());
  Strand strand = asio::make_strand(Runtime::shared()->executor());
  auto state =
      std::make_shared<State>(strand, std::move(server_name), options.max_message_bytes, *spawned);
  return std::unique_ptr<McpTransport>(new StdioTransport(std::move(state), std::move(strand)));
}

}  // namespace cppflue::mcp
