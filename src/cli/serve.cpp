// SPDX-License-Identifier: Apache-2.0
// `cppflue serve`: the HTTP server until SIGINT/SIGTERM, then a graceful stop.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "cli.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/server/server.hpp"

namespace cppflue::cli {

namespace {

server::ServeOptions serve_options(const CommonOptions& common, const ServeCommandOptions& opts) {
  server::ServeOptions o;
  o.config_path = common.config;
  o.host = opts.host;
  o.port = opts.port;
  o.model = opts.model;
  o.heartbeat = std::chrono::milliseconds(static_cast<long>(opts.heartbeat_seconds * 1000));
  o.header_timeout =
      std::chrono::milliseconds(static_cast<long>(opts.header_timeout_seconds * 1000));
  o.body_timeout = std::chrono::milliseconds(static_cast<long>(opts.body_timeout_seconds * 1000));
  return o;
}

// A fingerprint of what `dev` watches: path, size and mtime of every file under .agents/ and of
// AGENTS.md, CLAUDE.md and the config file.
std::string watch_fingerprint(const std::filesystem::path& root, const std::string& config_path) {
  namespace fs = std::filesystem;
  std::string out;
  auto add = [&out](const fs::path& p) {
    std::error_code ec;
    auto status = fs::status(p, ec);
    if (ec || !fs::is_regular_file(status)) return;
    auto size = fs::file_size(p, ec);
    auto time = fs::last_write_time(p, ec);
    out += p.string() + '\0' + std::to_string(size) + '\0' +
           std::to_string(time.time_since_epoch().count()) + '\n';
  };
  std::error_code ec;
  for (fs::recursive_directory_iterator
           it(root / ".agents", fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    add(it->path());
  }
  add(root / "AGENTS.md");
  add(root / "CLAUDE.md");
  add(config_path.empty() ? root / "cppflue.toml" : fs::path(config_path));
  return out;
}

// The files of a compiled application's sources: CMakeLists.txt at the root and everything
// under src/ and include/ (not the build directory).
std::string source_fingerprint(const std::filesystem::path& root,
                               const std::filesystem::path& build_dir) {
  namespace fs = std::filesystem;
  std::string out;
  auto add = [&out](const fs::path& p) {
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (ec) return;
    auto time = fs::last_write_time(p, ec);
    out += p.string() + '\0' + std::to_string(size) + '\0' +
           std::to_string(time.time_since_epoch().count()) + '\n';
  };
  add(root / "CMakeLists.txt");
  for (const char* sub : {"src", "include"}) {
    std::error_code ec;
    for (fs::recursive_directory_iterator
             it(root / sub, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      if (!build_dir.empty() && it->path() == build_dir) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) add(it->path());
    }
  }
  return out;
}

// The CMake build directory holding the running executable (CMakeCache.txt in its directory
// or up to two levels above), or empty.
std::filesystem::path own_build_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  fs::path dir = exe.parent_path();
  for (int i = 0; i < 3 && !dir.empty(); ++i, dir = dir.parent_path()) {
    if (fs::exists(dir / "CMakeCache.txt", ec)) return dir;
    if (dir == dir.root_path()) break;
  }
  return {};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// This process's own command line (for re-executing after a rebuild).
std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}

// Set by the interrupt handler (SIGINT/SIGTERM); waited for by the serving thread.
class StopSignal {
 public:
  void set() {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_; });
  }
  // True when set, else false after `timeout`.
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return stop_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

// How `dev` rebuilds a compiled application (this binary registers agents or workflows) when
// its sources change; an empty command: never.
struct RebuildPlan {
  bool compiled = false;
  std::string command;
  std::filesystem::path build_dir;  // left out of the source fingerprint
};

RebuildPlan plan_rebuild(const DevOptions& opts) {
  RebuildPlan plan;
  plan.compiled = !registered_agents().empty() || !registered_workflows().empty();
  plan.command = opts.build_command;
  if (plan.compiled && plan.command.empty()) {
    plan.build_dir = own_build_dir();
    if (!plan.build_dir.empty()) {
      plan.command = "cmake --build " + shell_quote(plan.build_dir.string());
    }
  }
  if (plan.command == "none") plan.command.clear();
  return plan;
}

// Whether `dev` acts on changes to the sources and to the configuration. What the agents can
// write (project mode: the workspace holds the project) is not acted on without the user's
// consent: an agent must not get its own edits built or loaded on the host.
struct DevTrust {
  bool sources = true;
  bool config = true;
};

DevTrust dev_trust(const Config& config, const DevOptions& opts) {
  const bool project_mode = workspace_holds_project(config);
  return DevTrust{
      .sources = !project_mode || opts.allow_agent_edits,
      .config = !project_mode || config.sandbox.protect_config || opts.allow_agent_edits,
  };
}

// The broken project files, one line each on stderr: those agents answer their problem, the
// others run.
void print_problems(const std::vector<std::string>& problems, std::string_view who) {
  for (const auto& p : problems) {
    std::cerr << who << ": problem: " << for_terminal(STDERR_FILENO, p) << '\n';
  }
  if (!problems.empty()) {
    std::cerr << who << ": the agents named there answer their problem; the others run"
              << std::endl;
  }
}

// What `dev` serves and watches, how it rebuilds, and what it only reports.
void print_dev_banner(const server::Server& server, const Config& config) {
  std::string base = "http://" + server.host() + ":" + std::to_string(server.port());
  std::cout << "cppflue: listening on " << base << std::endl;
  std::cout << "cppflue dev: dashboard " << base << "/__cppflue, status " << base
            << "/__cppflue/status" << std::endl;
  std::cout << "cppflue dev: watching " << (config.root / ".agents").string() << "/, AGENTS.md, "
            << "CLAUDE.md and "
            << (config.config_path.empty() ? (config.root / "cppflue.toml").string()
                                           : config.config_path.string())
            << std::endl;
}

void print_rebuild_plan(const RebuildPlan& plan, const Config& config) {
  if (!plan.compiled) return;
  if (plan.command.empty()) {
    std::cout << "cppflue dev: compiled application: no build directory found next to the "
                 "executable, so source changes are not rebuilt (pass --build-command)"
              << std::endl;
  } else {
    std::cout << "cppflue dev: watching " << (config.root / "src").string()
              << "/ and CMakeLists.txt; rebuilds with: " << plan.command << std::endl;
  }
}

void print_trust_note(const DevTrust& trust) {
  if (trust.sources && trust.config) return;
  std::cout << "cppflue dev: the agents' workspace holds the project, so changes to "
            << (!trust.config ? "the configuration and sources" : "the sources")
            << " may be an agent's edits: they are reported, not acted on (restart cppflue dev "
               "to pick them up, or pass --allow-agent-edits)"
            << std::endl;
}

// The polling of `dev`: rebuilds a compiled application when its sources change and reloads
// the agents when what they are made of changes.
class DevWatcher {
 public:
  DevWatcher(const Config& config, server::Server& server, RebuildPlan plan, DevTrust trust)
      : config_(config), server_(server), plan_(std::move(plan)), trust_(trust) {
    sources_ =
        plan_.command.empty() ? std::string() : source_fingerprint(config_.root, plan_.build_dir);
    seen_ = watch_fingerprint(config_.root, config_.config_path.string());
  }

  // Polls every `poll` until `stop` is set (false) or a rebuild succeeded (true: restart).
  bool run(StopSignal& stop, std::chrono::milliseconds poll) {
    for (;;) {
      if (stop.wait_for(poll)) return false;
      if (!plan_.command.empty() && check_sources()) return true;
      check_agents();
    }
  }

 private:
  // True when the sources changed and were rebuilt.
  bool check_sources() {
    std::string now_sources = source_fingerprint(config_.root, plan_.build_dir);
    if (now_sources == sources_) return false;
    sources_ = std::move(now_sources);
    if (!trust_.sources) {
      std::cout << "cppflue dev: sources changed inside the agents' workspace; not rebuilt "
                   "(restart cppflue dev, or pass --allow-agent-edits)"
                << std::endl;
      return false;
    }
    std::cout << "cppflue dev: sources changed; rebuilding: " << plan_.command << std::endl;
    // The server keeps answering with the running build meanwhile.
    int rc =
        std::system(("cd " + shell_quote(config_.root.string()) + " && " + plan_.command).c_str());
    if (rc == 0) {
      std::cout << "cppflue dev: rebuilt; restarting" << std::endl;
      return true;
    }
    std::cerr << "cppflue dev: the build failed (status " << rc
              << "); still serving the previous build" << std::endl;
    sources_ = source_fingerprint(config_.root, plan_.build_dir);  // the build may touch files
    return false;
  }

  void check_agents() {
    std::string now = watch_fingerprint(config_.root, config_.config_path.string());
    if (now == seen_) return;
    seen_ = std::move(now);
    if (!trust_.config) {
      std::cout << "cppflue dev: agents or configuration changed inside the agents' workspace "
                   "(protect_config = false); not reloaded (restart cppflue dev, or pass "
                   "--allow-agent-edits)"
                << std::endl;
      return;
    }
    auto reloaded = server_.reload();
    if (reloaded) {
      auto problems = server_.problems();
      std::cout << "cppflue dev: reloaded (" << *reloaded << " agent(s)"
                << (problems.empty() ? "" : fmt::format(", {} problem(s)", problems.size())) << ")"
                << std::endl;
      print_problems(problems, "cppflue dev");
    } else {
      std::cerr << "cppflue dev: not reloaded: "
                << for_terminal(STDERR_FILENO, reloaded.error().message)
                << " (still serving the previous agents)" << std::endl;
    }
  }

  const Config& config_;
  server::Server& server_;
  const RebuildPlan plan_;
  const DevTrust trust_;
  std::string sources_;  // fingerprint of the sources (when rebuilding)
  std::string seen_;     // fingerprint of the agents and configuration
};

// Re-executes `exe` with this process's command line; returns only on failure.
int restart_self(const std::string& exe) {
  std::vector<std::string> args = own_argv();
  if (args.empty()) return report_error("cannot read this process's command line to restart");
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Signals were blocked for the watcher thread; the new image starts with a clean mask.
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  std::cout.flush();
  ::execv(exe.c_str(), argv.data());
  return report_error(std::string("cannot restart: ") + std::strerror(errno));
}

}  // namespace

bool workspace_holds_project(const Config& config) {
  if (config.sandbox.workspace.empty()) return false;
  std::error_code ec;
  std::filesystem::path ws = config.sandbox.workspace;
  if (ws.is_relative()) ws = config.root / ws;
  auto w = std::filesystem::weakly_canonical(ws, ec);
  auto r = std::filesystem::weakly_canonical(config.root, ec);
  auto rel = r.lexically_relative(w);
  return !ec && !rel.empty() && *rel.begin() != "..";
}

int serve_command(const CommonOptions& common, const ServeCommandOptions& opts) {
  install_interrupt_watcher();  // before the server's threads exist, so they inherit the mask
  // The configuration is read first: the project's .env may set CPPFLUE_LOG (the server reports
  // a bad configuration itself).
  (void)discover_config(common.config, std::filesystem::current_path());
  server::configure_server_log(opts.log_format);  // --log-format was checked when parsed
  auto server = server::Server::start(serve_options(common, opts));
  if (!server) return report_error(server.error().message);
  // The port line is what scripts and tests wait for (with --port 0 it is the only way to
  // learn the port).
  std::cout << "cppflue: listening on http://" << (*server)->host() << ":" << (*server)->port()
            << std::endl;
  print_problems((*server)->problems(), "cppflue");
  StopSignal stop;
  set_interrupt_handler([&] { stop.set(); });
  stop.wait();
  set_interrupt_handler(nullptr);
  std::cout << "cppflue: stopping (requests in flight get up to " << opts.grace_seconds << " s)"
            << std::endl;
  (*server)->stop(std::chrono::seconds(opts.grace_seconds));
  return 0;
}

int dev_command(const CommonOptions& common, const DevOptions& opts) {
  install_interrupt_watcher();
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return report_error(config.error().message);
  server::configure_server_log(opts.serve.log_format);
  auto server = server::Server::start(serve_options(common, opts.serve));
  if (!server) return report_error(server.error().message);
  print_dev_banner(**server, *config);
  print_problems((*server)->problems(), "cppflue dev");
  StopSignal stop;
  set_interrupt_handler([&] { stop.set(); });
  const auto poll = std::chrono::milliseconds(static_cast<long>(opts.poll_seconds * 1000));
  // Read now: once a rebuild replaces the file, /proc/self/exe names the old, deleted one.
  std::error_code exe_ec;
  std::string exe = std::filesystem::read_symlink("/proc/self/exe", exe_ec).string();
  RebuildPlan rebuild = plan_rebuild(opts);
  print_rebuild_plan(rebuild, *config);
  DevTrust trust = dev_trust(*config, opts);
  print_trust_note(trust);
  DevWatcher watcher(*config, **server, std::move(rebuild), trust);
  const bool restart = watcher.run(stop, poll);
  set_interrupt_handler(nullptr);
  std::cout << "cppflue: stopping" << std::endl;
  (*server)->stop(std::chrono::seconds(opts.serve.grace_seconds));
  if (restart) return restart_self(exe);
  return 0;
}

}  // namespace cppflue::cli
